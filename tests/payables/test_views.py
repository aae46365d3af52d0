"""AP pages through HTTP: invoice entry, the exception queue, resolution, access by role."""

from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, InvoiceLine
from payables.services.matching import run_matching
from tests import factories
from tests.flow import invoice, issued_po, receive

pytestmark = pytest.mark.django_db

CREATE_URL = reverse("payables:invoice_create")


def entry_post(
    po, number: str, lines: dict, *, tax: str = "0.00", invoice_date: str = "2026-11-02"
) -> dict:
    """Form data as the browser sends it: {po_line: (qty, price)} under the `lines` prefix."""
    data = {
        "purchase_order": po.pk,
        "number": number,
        "invoice_date": invoice_date,
        "currency": po.currency,
        "tax_amount": tax,
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": str(len(lines)),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    for n, (po_line, (quantity, price)) in enumerate(lines.items()):
        data.update(
            {
                f"lines-{n}-po_line": po_line.pk,
                f"lines-{n}-description": po_line.description,
                f"lines-{n}-quantity": quantity,
                f"lines-{n}-unit_price": price,
            }
        )
    return data


def texts(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_po_lookup_prefills_open_to_bill_lines(client, people, setup_org):
    po = issued_po(
        people, setup_org, lines=(("A4 copy paper", "40", "23.50"), ("Toner black", "4", "89.00"))
    )
    receive(po, people, {1: "40", 2: "4"})
    paper = po.lines.get(line_no=1)
    run_matching([invoice(po, people, "INV-0040", {1: ("15", "23.50")}).pk])
    client.force_login(people["ap_clerk"])

    response = client.get(CREATE_URL, {"po": po.pk})

    assert response.status_code == 200
    formset = response.context["formset"]
    assert [form.initial["quantity"] for form in formset] == ["25", "4"]  # 40 − 15 billed
    assert formset.forms[0].initial["po_line"] == paper.pk
    assert formset.forms[0].initial["unit_price"] == "23.5"
    # 21 % of (25 × 23.50 + 4 × 89.00) = 21 % of 943.50
    assert response.context["header"].initial["tax_amount"] == Decimal("198.14")
    assert po.vendor.name in response.content.decode()


def test_po_lookup_by_typed_number_and_htmx_returns_only_the_lines_section(
    client, people, setup_org
):
    po = issued_po(people, setup_org)
    client.force_login(people["ap_clerk"])

    response = client.get(CREATE_URL, {"po_number": po.number.lower()}, HTTP_HX_REQUEST="true")

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body and 'id="invoice-form"' in body
    assert "A4 copy paper" in body
    unknown = client.get(CREATE_URL, {"po_number": "PO-1999-99999"})
    assert "There is no purchase order PO-1999-99999" in unknown.content.decode()


def test_clerk_enters_invoice_against_po_and_the_match_approves_it(
    client, people, setup_org, django_capture_on_commit_callbacks
):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    line = po.lines.get()
    client.force_login(people["ap_clerk"])

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CREATE_URL, entry_post(po, "INV-2026-0117", {line: ("40", "23.50")}, tax="197.40")
        )

    captured = Invoice.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("payables:invoice_detail", args=[captured.pk])
    assert captured.status == Invoice.Status.APPROVED
    assert captured.touchless is True and captured.first_pass is True
    assert captured.total_amount == Decimal("1137.40")
    assert captured.captured_by == people["ap_clerk"]
    assert captured.source == Invoice.Source.FORM
    page = client.get(response["Location"])
    assert "Invoice INV-2026-0117 captured — matching runs in the background." in texts(page)
    assert "Matched" in page.content.decode()
    assert "Total: <span>1,137.40 EUR</span>" in page.content.decode()  # the activity trail


def test_invoice_detail_polls_while_pending_and_refreshes_once_matched(client, people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    pending = invoice(po, people, "INV-2026-0200", {1: ("40", "23.50")})
    client.force_login(people["ap_clerk"])
    url = reverse("payables:invoice_detail", args=[pending.pk])

    page = client.get(url).content.decode()
    fragment = client.get(url, {"part": "status"}, HTTP_HX_REQUEST="true")

    assert 'hx-trigger="every 2s"' in page
    assert 'hx-trigger="every 2s"' in fragment.content.decode()
    run_matching([pending.pk])
    done = client.get(url, {"part": "status"}, HTTP_HX_REQUEST="true")
    assert done.headers.get("HX-Refresh") == "true"
    assert 'hx-trigger="every 2s"' not in client.get(url).content.decode()


def test_invoice_without_po_becomes_a_no_po_exception(
    client, people, setup_org, django_capture_on_commit_callbacks
):
    vendor = factories.make_vendor("Kantoor Direct B.V.")
    client.force_login(people["ap_clerk"])
    form_page = client.get(CREATE_URL, {"no_po": "1"})
    assert form_page.context["formset"].total_form_count() >= 1
    data = {
        "vendor": vendor.pk,
        "number": "KD-889",
        "invoice_date": "2026-11-02",
        "currency": "EUR",
        "po_reference": "",
        "tax_amount": "21.00",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-description": "Coffee beans",
        "lines-0-quantity": "4",
        "lines-0-unit_price": "25",
        "lines-1-description": "",
        "lines-1-quantity": "",
        "lines-1-unit_price": "",
    }

    with django_capture_on_commit_callbacks(execute=True):
        client.post(CREATE_URL, data)

    captured = Invoice.objects.get()
    assert captured.lines.count() == 1
    assert captured.status == Invoice.Status.EXCEPTION
    assert set(captured.exceptions.values_list("type", flat=True)) == {InvoiceException.Type.NO_PO}


def test_duplicate_invoice_number_is_refused_and_nothing_is_written(client, people, setup_org):
    po = issued_po(people, setup_org, lines=(("A4 copy paper", "80", "23.50"),))
    receive(po, people, {1: "80"})
    line = po.lines.get()
    client.force_login(people["ap_clerk"])
    client.post(CREATE_URL, entry_post(po, "INV-0042", {line: ("40", "23.50")}))
    assert Invoice.objects.count() == 1

    response = client.post(CREATE_URL, entry_post(po, "inv 42", {line: ("40", "23.50")}))

    assert response.status_code == 200
    assert any(
        "invoice inv 42 was already captured as INV-0042" in text for text in texts(response)
    )
    assert 'value="inv 42"' in response.content.decode()  # the form is kept
    assert Invoice.objects.count() == 1
    assert InvoiceLine.objects.count() == 1


def test_negative_quantity_is_refused_with_the_form_kept(client, people, setup_org):
    po = issued_po(people, setup_org)
    line = po.lines.get()
    client.force_login(people["ap_clerk"])

    response = client.post(CREATE_URL, entry_post(po, "INV-0777", {line: ("-5", "23.50")}))

    assert "Line 1: quantity must be greater than zero." in texts(response)
    assert not Invoice.objects.exists()
    bad_number = client.post(CREATE_URL, entry_post(po, "INV-0778", {line: ("forty", "23.50")}))
    assert "Enter a number." in bad_number.content.decode()
    assert not Invoice.objects.exists()


def price_variance(people, setup_org, *, number="INV-2026-0118", price="24.95", vendor=None):
    """An invoice whose price is above tolerance, matched: a price_variance for the buyer."""
    po = issued_po(people, setup_org, vendor=vendor)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, number, {1: ("40", price)})
    run_matching([inv.pk])
    return inv.exceptions.get()


def test_price_variance_shows_in_the_ap_queue_and_the_buyers_disputes(client, people, setup_org):
    exception = price_variance(people, setup_org)
    url = reverse("payables:exception_list")

    client.force_login(people["ap_clerk"])
    ap_page = client.get(url)
    client.force_login(people["buyer"])
    buyer_page = client.get(url)
    client.force_login(factories.make_user("bea", "buyer"))
    other_buyer_page = client.get(url)

    assert exception.invoice.number in ap_page.content.decode()
    assert list(ap_page.context["page"].object_list) == [exception]
    assert buyer_page.context["title"] == "My disputes"
    assert list(buyer_page.context["page"].object_list) == [exception]
    assert list(other_buyer_page.context["page"].object_list) == []


def test_queue_puts_the_discount_that_can_still_be_won_first(client, people, setup_org):
    plain = price_variance(
        people, setup_org, number="INV-A", vendor=factories.make_vendor("Plain B.V.")
    )
    with_discount = price_variance(
        people,
        setup_org,
        number="INV-B",
        # A different amount: the vendors share a bank account, so equal totals look duplicate.
        price="25.00",
        vendor=factories.make_vendor("Korting B.V.", terms=factories.two_ten_net30()),
    )
    client.force_login(people["ap_clerk"])
    # The queue ranks by the discount deadline still ahead of today; pretend today is invoice day.
    with mock.patch(
        "django.utils.timezone.localdate", return_value=with_discount.invoice.invoice_date
    ):
        response = client.get(reverse("payables:exception_list"))

    assert list(response.context["page"].object_list) == [with_discount, plain]
    assert {row["type"]: row["count"] for row in response.context["counts"]} == {
        "price_variance": 2
    }


def test_requester_sees_only_receipts_needed_and_no_invoice_or_run_pages(client, people, setup_org):
    other = price_variance(people, setup_org)
    po = issued_po(people, setup_org, vendor=factories.make_vendor("Papier B.V."))
    receive(po, people, {1: "25"})
    short = invoice(po, people, "INV-2026-0119", {1: ("40", "23.50")})
    run_matching([short.pk])
    missing = short.exceptions.get()
    assert missing.type == InvoiceException.Type.MISSING_RECEIPT
    client.force_login(people["requester"])

    queue = client.get(reverse("payables:exception_list"))

    assert queue.status_code == 200
    assert queue.context["title"] == "Receipts needed"
    assert list(queue.context["page"].object_list) == [missing]
    assert other.invoice.number not in queue.content.decode()
    assert client.get(reverse("payables:exception_detail", args=[other.pk])).status_code == 403
    own = client.get(reverse("payables:exception_detail", args=[missing.pk]))
    assert (
        own.status_code == 200
        and own.context["can_resolve"] is False
        and own.context["can_receive"] is True
    )
    assert (
        client.post(
            reverse("payables:exception_detail", args=[missing.pk]),
            {
                "resolution": "accept_variance",
                "root_cause": "missing_receipt",
            },
        ).status_code
        == 403
    )
    for name, args in (
        ("invoice_list", []),
        ("invoice_create", []),
        ("invoice_detail", [short.pk]),
        ("run_list", []),
    ):
        assert client.get(reverse(f"payables:{name}", args=args)).status_code == 403, name


def test_clerk_cannot_accept_a_variance_above_threshold_but_a_manager_can(
    client, people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org, price="37.00")  # 13.50 × 40 = 540 at stake
    assert exception.amount_at_stake == Decimal("540.00")
    url = reverse("payables:exception_detail", args=[exception.pk])
    form = {
        "resolution": "accept_variance",
        "root_cause": "stale_po_price",
        "note": "Price list of 1 Oct",
    }

    client.force_login(people["ap_clerk"])
    refused = client.post(url, form)

    assert refused.status_code == 403
    assert "Variances above 500.00 EUR need an AP manager." in texts(refused)
    exception.refresh_from_db()
    assert exception.status == InvoiceException.Status.OPEN

    client.force_login(people["ap_manager"])
    with django_capture_on_commit_callbacks(execute=True):
        accepted = client.post(url, form)

    assert accepted.status_code == 302
    exception.refresh_from_db()
    exception.invoice.refresh_from_db()
    assert exception.status == InvoiceException.Status.RESOLVED
    assert exception.resolved_by == people["ap_manager"]
    assert exception.root_cause == "stale_po_price"
    assert exception.invoice.status == Invoice.Status.APPROVED


def test_exception_detail_defaults_root_cause_to_the_suggestion(client, people, setup_org):
    exception = price_variance(people, setup_org)
    client.force_login(people["buyer"])

    response = client.get(reverse("payables:exception_detail", args=[exception.pk]))

    assert response.context["form"].initial["root_cause"] == "vendor_pricing_error"
    assert response.context["can_resolve"] is True
    assert "Invoice price" in response.content.decode()


def count_queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def test_list_pages_run_a_constant_number_of_queries(client, people, setup_org):
    po = issued_po(people, setup_org, lines=(("A4 copy paper", "400", "23.50"),))
    receive(po, people, {1: "400"})
    client.force_login(people["ap_clerk"])

    def add_invoices(start: int, count: int) -> None:
        ids = [
            invoice(po, people, f"INV-Q-{n}", {1: ("1", "30.00")}).pk
            for n in range(start, start + count)
        ]
        run_matching(ids)

    add_invoices(0, 2)
    few = {
        name: count_queries(client, reverse(f"payables:{name}"))
        for name in ("invoice_list", "exception_list")
    }
    add_invoices(2, 10)
    many = {
        name: count_queries(client, reverse(f"payables:{name}"))
        for name in ("invoice_list", "exception_list")
    }

    assert InvoiceException.objects.filter(status="open").count() >= 12
    assert many == few
