"""Procurement pages through HTTP: request → approval → PO → receipt, access by role, query counts."""

import datetime as dt
import re
from decimal import Decimal
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.payments import Payment
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.matching import run_matching
from payables.services.payments import payment_run_approve, payment_run_propose
from payables.services.settlement import payment_run_mark_paid
from procurement.models import ApprovalStep, PurchaseOrder, PurchaseRequest, Receipt
from procurement.services.approvals import approval_decide
from procurement.services.requests import LineInput, request_create, request_submit
from tests import factories
from tests.flow import invoice, issued_po, receive

pytestmark = pytest.mark.django_db

CREATE_URL = reverse("procurement:request_create")


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def request_post(
    setup_org, lines: list[tuple[str, str, str]], *, action: str = "submit", blank_rows: int = 1
) -> dict:
    """The new-request form as the browser sends it, with trailing blank rows like the page has."""
    rows = [*lines, *[("", "", "")] * blank_rows]
    data = {
        "title": "Chairs for the meeting room",
        "cost_center": setup_org["cost_center"].pk,
        "gl_account": setup_org["gl_account"].pk,
        "category": "goods",
        "currency": "EUR",
        "needed_by": "",
        "preferred_vendor": "",
        "justification": "The old chairs are broken.",
        "action": action,
        "lines-TOTAL_FORMS": str(len(rows)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for n, (description, quantity, unit_price) in enumerate(rows):
        data.update(
            {
                f"lines-{n}-description": description,
                f"lines-{n}-quantity": quantity,
                f"lines-{n}-uom": "EA",
                f"lines-{n}-unit_price": unit_price,
            }
        )
    return data


def submitted_request(people, setup_org, *, by=None, amount: str = "149.50") -> PurchaseRequest:
    requester = by or people["requester"]
    request = request_create(
        by=requester,
        title="Meeting chairs",
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        lines=[LineInput("Meeting chair, grey", Decimal("6"), Decimal(amount))],
    )
    return request_submit(request=request, by=requester)


def receipt_post(po: PurchaseOrder, quantities: dict[int, tuple[str, str]]) -> dict:
    """The receipt form: {line_no: (received, returned)}; lines not named are left blank."""
    lines = list(po.lines.order_by("line_no"))
    data = {
        "received_on": "2026-11-01",
        "note": "Delivery note 4471",
        "receipt-TOTAL_FORMS": str(len(lines)),
        "receipt-INITIAL_FORMS": str(len(lines)),
        "receipt-MIN_NUM_FORMS": "0",
        "receipt-MAX_NUM_FORMS": "1000",
    }
    for n, line in enumerate(lines):
        received, returned = quantities.get(line.line_no, ("", ""))
        data.update(
            {
                f"receipt-{n}-po_line_id": line.pk,
                f"receipt-{n}-received_qty": received,
                f"receipt-{n}-returned_qty": returned,
            }
        )
    return data


# ---------- requests ----------


def test_requester_creates_a_two_line_request_and_submits_it(people, setup_org):
    rita = client_for(people["requester"])
    assert rita.get(CREATE_URL).status_code == 200

    response = rita.post(
        CREATE_URL,
        request_post(
            setup_org,
            [
                ("Meeting chair, grey", "6", "149.50"),
                ("Meeting table 240×100", "1", "899.00"),
            ],
        ),
        follow=True,
    )

    request = PurchaseRequest.objects.get()
    assert response.redirect_chain[-1][0] == reverse(
        "procurement:request_detail", args=[request.pk]
    )
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert request.requester == people["requester"]
    assert [(line.description, line.amount) for line in request.lines.all()] == [
        ("Meeting chair, grey", Decimal("897.00")),
        ("Meeting table 240×100", Decimal("899.00")),
    ]
    assert request.total_amount == Decimal("1796.00")
    assert request.approvals.get().status == ApprovalStep.Status.PENDING
    assert f"{request.number} sent for approval." in response.content.decode()

    listing = rita.get(reverse("procurement:request_list")).content.decode()
    assert request.number in listing and "Any approver" in listing  # who must act


def test_save_draft_does_not_submit(people, setup_org):
    rita = client_for(people["requester"])
    rita.post(
        CREATE_URL,
        request_post(setup_org, [("Meeting chair, grey", "6", "149.50")], action="draft"),
    )
    request = PurchaseRequest.objects.get()
    assert request.status == PurchaseRequest.Status.DRAFT
    assert not request.approvals.exists()


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        ([("Meeting chair, grey", "-2", "149.50")], "Quantity must be greater than zero."),
        ([("Meeting chair, grey", "6", "abc")], "Enter a number, e.g. 12 or 12.50."),
        ([], "Add at least one line to the request."),
    ],
)
def test_invalid_request_explains_the_error_and_keeps_what_was_typed(
    people, setup_org, lines, message
):
    rita = client_for(people["requester"])
    response = rita.post(CREATE_URL, request_post(setup_org, lines))
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page
    assert 'value="Chairs for the meeting room"' in page
    for description, quantity, _ in lines:
        assert f'value="{description}"' in page and f'value="{quantity}"' in page
    assert not PurchaseRequest.objects.exists()


def test_add_line_returns_the_next_row_and_bumps_the_form_count(people, setup_org):
    rita = client_for(people["requester"])
    response = rita.get(
        reverse("procurement:request_line_row"), {"lines-TOTAL_FORMS": "2"}, HTTP_HX_REQUEST="true"
    )
    page = response.content.decode()
    assert 'name="lines-2-description"' in page and 'name="lines-2-DELETE"' in page
    assert 'id="id_lines-TOTAL_FORMS" value="3" hx-swap-oob="true"' in page


def test_removed_line_is_not_saved(people, setup_org):
    rita = client_for(people["requester"])
    data = request_post(
        setup_org, [("Meeting chair, grey", "6", "149.50"), ("Wrong item", "1", "10")]
    )
    data["lines-1-DELETE"] = "on"
    rita.post(CREATE_URL, data)
    assert list(PurchaseRequest.objects.get().lines.values_list("description", flat=True)) == [
        "Meeting chair, grey"
    ]


def test_requester_withdraws_a_pending_request(people, setup_org):
    request = submitted_request(people, setup_org)
    response = client_for(people["requester"]).post(
        reverse("procurement:request_withdraw", args=[request.pk]), follow=True
    )
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.WITHDRAWN
    assert f"{request.number} withdrawn." in response.content.decode()


def test_request_detail_shows_lines_approvals_and_trail(people, setup_org):
    request = submitted_request(people, setup_org)
    page = client_for(people["approver"]).get(
        reverse("procurement:request_detail", args=[request.pk])
    )
    text = page.content.decode()
    assert "Meeting chair, grey" in text and "897.00 EUR" in text
    assert "Any approver" in text and "Your decision" in text
    assert "Draft" in text and "Pending approval" in text  # the audit timeline


def test_request_trail_names_people_and_formats_the_total(people, setup_org):
    rita = people["requester"]
    rita.last_name = "Jansen"
    rita.save(update_fields=["last_name"])
    request = submitted_request(people, setup_org, amount="298.00")  # 6 x 298.00

    page = client_for(rita).get(reverse("procurement:request_detail", args=[request.pk]))

    text = page.content.decode()
    assert '<span class="timeline-actor">Rita Jansen</span>' in text
    assert "Total: <span>1,788.00 EUR</span>" in text


def test_another_requester_cannot_open_someone_elses_request(people, setup_org):
    request = submitted_request(people, setup_org)
    rene = client_for(factories.make_user("rene", "requester"))
    assert rene.get(reverse("procurement:request_detail", args=[request.pk])).status_code == 404
    assert rene.post(reverse("procurement:request_withdraw", args=[request.pk])).status_code == 404
    assert request.number not in rene.get(reverse("procurement:request_list")).content.decode()


# ---------- approvals ----------


def test_requester_gets_403_on_the_approval_inbox(people, setup_org):
    rita = client_for(people["requester"])
    assert rita.get(reverse("procurement:approval_inbox")).status_code == 403


def test_requester_cannot_approve_own_request_even_as_approver(people, setup_org):
    people["requester"].groups.add(Group.objects.get(name="approver"))
    request = submitted_request(people, setup_org)
    step = request.approvals.get()
    rita = client_for(people["requester"])

    assert request.number not in rita.get(reverse("procurement:approval_inbox")).content.decode()
    response = rita.post(
        reverse("procurement:approval_decide", args=[step.pk]), {"decision": "approve"}, follow=True
    )

    assert "You cannot approve a request you raised." in response.content.decode()
    step.refresh_from_db()
    request.refresh_from_db()
    assert step.status == ApprovalStep.Status.PENDING
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL


def test_approver_approves_from_the_inbox(people, setup_org):
    request = submitted_request(people, setup_org)
    step = request.approvals.get()
    alex = client_for(people["approver"])
    inbox = alex.get(reverse("procurement:approval_inbox")).content.decode()
    assert request.number in inbox and "897.00 EUR" in inbox and "Rita" in inbox

    response = alex.post(
        reverse("procurement:approval_decide", args=[step.pk]), {"decision": "approve"}, follow=True
    )

    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.APPROVED
    assert f"{request.number} approved" in response.content.decode()


def test_htmx_decision_returns_the_row_with_the_result(people, setup_org):
    request = submitted_request(people, setup_org)
    step = request.approvals.get()
    alex = client_for(people["approver"])
    url = reverse("procurement:approval_decide", args=[step.pk])

    refused = alex.post(url, {"decision": "reject", "comment": ""}, HTTP_HX_REQUEST="true")
    assert refused.content.decode().lstrip().startswith("<tr")
    assert "Say why in a comment" in refused.content.decode()
    step.refresh_from_db()
    assert step.status == ApprovalStep.Status.PENDING

    returned = alex.post(
        url, {"decision": "return", "comment": "Quote for 4 chairs, not 6"}, HTTP_HX_REQUEST="true"
    )
    assert "returned to the requester" in returned.content.decode()
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.RETURNED


def test_finance_leader_sees_the_second_step_above_10000(people, setup_org):
    request = submitted_request(people, setup_org, amount="2000")  # 6 × 2,000 = 12,000
    approval_decide(step=request.approvals.get(step=1), by=people["approver"], decision="approve")
    fiona = client_for(people["finance_leader"])
    assert request.number in fiona.get(reverse("procurement:approval_inbox")).content.decode()
    fiona.post(
        reverse("procurement:approval_decide", args=[request.approvals.get(step=2).pk]),
        {"decision": "approve"},
    )
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.APPROVED


# ---------- purchase orders and receipts ----------


def test_buyer_creates_a_po_from_an_approved_request_and_issues_it(people, setup_org):
    vendor = factories.make_vendor()
    request = submitted_request(people, setup_org)
    approval_decide(step=request.approvals.get(), by=people["approver"], decision="approve")
    bob = client_for(people["buyer"])

    listing = bob.get(reverse("procurement:po_list")).content.decode()
    assert "Approved requests waiting for a PO" in listing and request.number in listing

    form = bob.get(reverse("procurement:po_create", args=[request.pk]))
    assert vendor.name in form.content.decode()
    response = bob.post(
        reverse("procurement:po_create", args=[request.pk]),
        {"vendor": vendor.pk, "payment_terms": "", "ship_to": "Reception, 1st floor"},
    )
    po = PurchaseOrder.objects.get()
    assert response.url == reverse("procurement:po_detail", args=[po.pk])
    assert po.status == PurchaseOrder.Status.DRAFT and po.payment_terms == vendor.payment_terms
    assert "Issue PO" in bob.get(response.url).content.decode()

    bob.post(reverse("procurement:po_issue", args=[po.pk]))
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.ISSUED


def test_po_create_offers_only_active_vendors_in_the_request_currency(people, setup_org):
    factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    usd = factories.make_vendor("Acme Supplies Inc.")
    usd.currency = "USD"
    usd.save(update_fields=["currency"])
    factories.make_vendor("Blocked Supplies B.V.", status="blocked")
    request = submitted_request(people, setup_org)
    approval_decide(step=request.approvals.get(), by=people["approver"], decision="approve")
    page = (
        client_for(people["buyer"])
        .get(reverse("procurement:po_create", args=[request.pk]))
        .content.decode()
    )
    assert "Kantoorhuis Van Dijk B.V." in page
    assert "Acme Supplies Inc." not in page and "Blocked Supplies B.V." not in page


def test_requester_cannot_create_or_issue_a_po(people, setup_org):
    po = issued_po(people, setup_org)
    rita = client_for(people["requester"])
    assert rita.get(reverse("procurement:po_create", args=[po.request_id])).status_code == 403
    assert rita.post(reverse("procurement:po_issue", args=[po.pk])).status_code == 403


def test_requester_records_a_partial_receipt(people, setup_org):
    po = issued_po(people, setup_org)  # 40 boxes of paper
    rita = client_for(people["requester"])
    form = rita.get(reverse("procurement:receipt_create", args=[po.pk])).content.decode()
    assert "A4 copy paper" in form and "40" in form

    response = rita.post(
        reverse("procurement:receipt_create", args=[po.pk]),
        receipt_post(po, {1: ("25", "")}),
        follow=True,
    )

    receipt = Receipt.objects.get()
    assert receipt.received_by == people["requester"] and receipt.received_on == dt.date(
        2026, 11, 1
    )
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    assert po.lines.get().received_qty == Decimal("25")
    assert f"Receipt {receipt.number} recorded" in response.content.decode()
    assert response.redirect_chain[-1][0] == reverse("procurement:po_detail", args=[po.pk])


@pytest.mark.parametrize(
    ("quantities", "message"),
    [
        ({1: ("-5", "")}, "Quantities cannot be negative"),
        ({1: ("45", "")}, "Line 1: 45 EA would exceed the ordered 40 by more than 10%."),
        ({}, "Enter a received or returned quantity on at least one line."),
        ({1: ("", "3")}, "Line 1: cannot return more than was received."),
    ],
)
def test_bad_receipt_is_refused_and_nothing_is_written(people, setup_org, quantities, message):
    po = issued_po(people, setup_org)
    rita = client_for(people["requester"])
    response = rita.post(
        reverse("procurement:receipt_create", args=[po.pk]), receipt_post(po, quantities)
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert Receipt.objects.count() == 0
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.ISSUED and po.lines.get().received_qty == 0


def test_another_requester_cannot_see_or_receive_on_someone_elses_po(people, setup_org):
    po = issued_po(people, setup_org)
    rene = client_for(factories.make_user("rene", "requester"))
    assert rene.get(reverse("procurement:po_detail", args=[po.pk])).status_code == 404
    assert rene.get(reverse("procurement:receipt_create", args=[po.pk])).status_code == 404
    assert po.number not in rene.get(reverse("procurement:po_list")).content.decode()
    assert (
        po.number
        in client_for(people["requester"]).get(reverse("procurement:po_list")).content.decode()
    )


def test_po_detail_shows_the_whole_life_of_a_po(people, setup_org):
    po = issued_po(
        people,
        setup_org,
        lines=(
            ("A4 copy paper, box of 5 reams", "40", "23.50"),
            ("HP 305A toner, black", "4", "89.90"),
        ),
    )
    receipt = receive(po, people, {1: "40", 2: "4"})
    clean = invoice(po, people, "INV-2026-0117", {1: ("40", "23.50")})
    dear = invoice(po, people, "INV-2026-0118", {2: ("4", "99.90")})  # 10.00 over the PO price
    run_matching([clean.pk, dear.pk])
    run = payment_run_propose(
        by=people["ap_clerk"], pay_date=dt.date(2026, 11, 20), horizon_date=dt.date(2026, 12, 31)
    )
    payment_run_approve(run=run, by=people["ap_manager"])
    payment_run_mark_paid(run=run, by=people["ap_clerk"], paid_on=dt.date(2026, 11, 20))
    exception = InvoiceException.objects.get(invoice=dear)
    carla = client_for(people["ap_clerk"])

    with CaptureQueriesContext(connection) as queries:
        response = carla.get(reverse("procurement:po_detail", args=[po.pk]))
    page = response.content.decode()

    assert response.status_code == 200
    assert len(queries) <= 15, "\n".join(q["sql"][:120] for q in queries.captured_queries)
    assert (
        po.request.number in page and "Any approver" in page and "Alex" in page
    )  # request, approvals
    assert receipt.number in page  # receipts
    assert reverse("payables:invoice_detail", args=[clean.pk]) in page and "INV-2026-0118" in page
    assert (
        "Price variance" in page
        and reverse("payables:exception_detail", args=[exception.pk]) in page
    )
    assert run.number in page and reverse("payables:run_detail", args=[run.pk]) in page
    assert Payment.objects.get(invoice=clean).status == Payment.Status.PAID
    assert "Paid" in page
    assert "Pending match" in page and "Issued" in page  # the audit timeline spans every document
    assert Invoice.objects.get(pk=dear.pk).status == Invoice.Status.EXCEPTION

    # The requester sees the same life, without links into AP pages her role cannot open.
    rita_page = client_for(people["requester"]).get(reverse("procurement:po_detail", args=[po.pk]))
    text = rita_page.content.decode()
    assert "INV-2026-0117" in text and run.number in text
    assert reverse("payables:invoice_detail", args=[clean.pk]) not in text
    assert reverse("payables:run_detail", args=[run.pk]) not in text


def test_po_detail_counts_billed_quantity_without_rejected_invoices(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    run_matching([invoice(po, people, "INV-2026-0117", {1: ("30", "23.50")}).pk])
    life_page = client_for(people["buyer"]).get(reverse("procurement:po_detail", args=[po.pk]))
    line = life_page.context["life"].lines[0]
    assert line.billed_qty == Decimal("30") and line.received_qty == Decimal("40")


def _page_text(response) -> str:
    """The page as a reader sees it: tags dropped, whitespace collapsed."""
    html = response.content.decode()
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def _credit_note(po, people, number: str, quantity: str, unit_price: str) -> Invoice:
    """A credit note for `quantity` on PO line 1 at 21 % VAT (amounts stored positive)."""
    line = po.lines.get(line_no=1)
    net = Decimal(quantity) * Decimal(unit_price)
    return invoice_capture(
        by=people["ap_clerk"],
        vendor=po.vendor,
        number=number,
        invoice_date=dt.date(2026, 11, 3),
        currency=po.currency,
        document_type=Invoice.DocumentType.CREDIT_NOTE,
        lines=[
            InvoiceLineInput(
                line.description, Decimal(quantity), Decimal(unit_price), po_line_id=line.pk
            )
        ],
        tax_amount=(net * Decimal("0.21")).quantize(Decimal("0.01")),
        purchase_order=po,
    )


def test_po_detail_subtracts_credit_notes_from_invoiced_amount_and_billed_quantity(
    people, setup_org
):
    po = issued_po(people, setup_org)  # 40 × 23.50
    receive(po, people, {1: "40"})
    invoice(po, people, "INV-2026-0117", {1: ("40", "23.50")})  # 940.00 + 197.40 VAT = 1,137.40
    _credit_note(po, people, "CN-2026-0009", "5", "23.50")  # 117.50 + 24.68 VAT = 142.18

    response = client_for(people["buyer"]).get(reverse("procurement:po_detail", args=[po.pk]))

    assert response.context["life"].lines[0].billed_qty == Decimal("35")
    totals = response.context["life"].totals
    assert totals["invoiced"] == Decimal("822.50")
    assert totals["invoiced_gross"] == Decimal("995.22")
    page = _page_text(response)
    assert "Invoiced (net) 822.50 EUR" in page
    assert "995.22 EUR incl. VAT" in page


def test_po_detail_tiles_compare_ordered_and_invoiced_net(people, setup_org):
    po = issued_po(people, setup_org)  # 40 × 23.50 = 940.00 net
    invoice(po, people, "INV-2026-0117", {1: ("40", "23.50")})  # 1,137.40 with VAT

    page = _page_text(
        client_for(people["buyer"]).get(reverse("procurement:po_detail", args=[po.pk]))
    )

    assert "Ordered (net) 940.00 EUR" in page
    assert "Invoiced (net) 940.00 EUR" in page
    assert "1,137.40 EUR incl. VAT" in page


# ---------- list pages keep a constant query count ----------


def _count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_request_list_query_count_is_constant(people, setup_org):
    rita = client_for(people["requester"])
    url = reverse("procurement:request_list")
    for _ in range(2):
        submitted_request(people, setup_org)
    few = _count_queries(rita, url)
    for n in range(10):
        request = submitted_request(people, setup_org)
        if n % 2:
            approval_decide(step=request.approvals.get(), by=people["approver"], decision="approve")
    assert _count_queries(rita, url) == few


def test_po_list_query_count_is_constant(people, setup_org):
    vendor = factories.make_vendor()
    bob = client_for(people["buyer"])
    url = reverse("procurement:po_list")
    for _ in range(2):
        issued_po(people, setup_org, vendor=vendor)
    few = _count_queries(bob, url)
    for _ in range(10):
        issued_po(people, setup_org, vendor=vendor)
    assert _count_queries(bob, url) == few


def test_approval_inbox_query_count_is_constant(people, setup_org):
    alex = client_for(people["approver"])
    url = reverse("procurement:approval_inbox")
    for _ in range(2):
        submitted_request(people, setup_org)
    few = _count_queries(alex, url)
    for _ in range(10):
        submitted_request(people, setup_org)
    assert _count_queries(alex, url) == few
