"""One purchase walked through the real pages over HTTP, request to payment to dashboard.

Every POST is built from the form the page itself rendered (field names, formset prefixes,
hidden fields and defaults), so a renamed field or a broken form fails here, not in front
of a clerk. Time is today's date: the dashboard and the payment run read the real clock.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from html import unescape
from html.parser import HTMLParser

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.dateformat import format as date_format

from metrics.rollup import rebuild_facts
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.payments import Payment, PaymentRun
from procurement.models import ApprovalStep, PurchaseOrder, PurchaseRequest
from tests import factories
from vendors.models import Vendor

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


# ---------- reading the page's forms ----------


@dataclass
class PageForm:
    """A <form> as a browser would submit it: default values, plus its submit buttons."""

    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)
    options: dict[str, list[str]] = field(default_factory=dict)

    def data(self, changes: dict | None = None, *, button: tuple[str, str] | None = None) -> dict:
        """The POST body: defaults overridden by `changes`; every changed name must exist."""
        changes = {name: str(value) for name, value in (changes or {}).items()}
        unknown = sorted(set(changes) - set(self.fields))
        assert not unknown, f"{unknown} are not fields of the form {self.action!r}"
        body = {**self.fields, **changes}
        if button is not None:
            assert button in self.buttons, f"no button {button} in {self.action!r}"
            body[button[0]] = button[1]
        return body

    def merge(self, fragment: "PageForm") -> None:
        """Add the fields an htmx fragment swapped into this form (rows, out-of-band inputs)."""
        self.fields.update(fragment.fields)


class _FormParser(HTMLParser):
    """Collects every form on a page; fields outside any form land in a form with no action."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[PageForm] = []
        self._form: PageForm | None = None
        self._select: tuple[str, list[str], list[str]] | None = None
        self._option: dict | None = None
        self._textarea: tuple[str, list[str]] | None = None

    def _current(self) -> PageForm:
        if self._form is None:
            self._form = PageForm(action="", method="")
            self.forms.append(self._form)
        return self._form

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attr = {name: value if value is not None else "" for name, value in attrs}
        name = attr.get("name")
        if tag == "form":
            self._form = PageForm(action=attr.get("action", ""), method=attr.get("method", "get"))
            self.forms.append(self._form)
        elif tag == "input" and name:
            kind = attr.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                self._current().buttons.append((name, attr.get("value", "")))
            elif kind in ("checkbox", "radio"):
                if "checked" in attr:
                    self._current().fields[name] = attr.get("value", "on")
            elif kind != "file":
                self._current().fields[name] = attr.get("value", "")
        elif tag == "button" and name:
            self._current().buttons.append((name, attr.get("value", "")))
        elif tag == "select" and name:
            self._select = (name, [], [])
        elif tag == "option" and self._select is not None:
            self._option = {"value": attr.get("value"), "selected": "selected" in attr, "text": []}
        elif tag == "textarea" and name:
            self._textarea = (name, [])

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option["text"].append(data)
        if self._textarea is not None:
            self._textarea[1].append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "option" and self._option is not None and self._select is not None:
            option = self._option
            value = option["value"]
            if value is None:
                value = "".join(option["text"]).strip()
            self._select[1].append(value)
            if option["selected"]:
                self._select[2].append(value)
            self._option = None
        elif tag == "select" and self._select is not None:
            name, values, chosen = self._select
            form = self._current()
            form.fields[name] = (chosen or values or [""])[0]
            form.options[name] = values
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            name, text = self._textarea
            self._current().fields[name] = "".join(text).lstrip("\n")
            self._textarea = None
        elif tag == "form":
            self._form = None


def page_form(response, action: str) -> PageForm:
    """The form on the page that POSTs to `action` (a path)."""
    parser = _FormParser()
    parser.feed(response.content.decode())
    for form in parser.forms:
        if form.action == action and form.method.lower() == "post":
            return form
    raise AssertionError(f"no form posting to {action}; found {[f.action for f in parser.forms]}")


def fragment_fields(response) -> PageForm:
    """The inputs of an htmx fragment that has no <form> of its own."""
    parser = _FormParser()
    parser.feed(response.content.decode())
    merged = PageForm(action="", method="")
    for form in parser.forms:
        merged.fields.update(form.fields)
    return merged


def text_of(response) -> str:
    """The page as a reader sees it: tags dropped, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


KPIS = ("First-pass match rate", "Touchless rate", "On-time payment", "Discount capture")


def kpi_tiles(response) -> dict[str, str]:
    """Each headline KPI's tile as read: the figure and its detail after the label."""
    page = text_of(response)
    return {label: page[page.index(label) + len(label) :][:60].strip() for label in KPIS}


# ---------- the journey ----------


def test_one_purchase_from_request_to_payment_and_kpis(
    people, setup_org, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.", terms=factories.two_ten_net30())
    blocked = factories.make_vendor("Papier Blokker B.V.", status=Vendor.Status.BLOCKED)
    rita = client_for(people["requester"])
    alex = client_for(people["approver"])
    bob = client_for(people["buyer"])
    carla = client_for(people["ap_clerk"])
    fiona = client_for(people["finance_leader"])

    # 1. Rita raises a request with two lines (the second row comes from "Add line") and submits.
    create_url = reverse("procurement:request_create")
    form = page_form(rita.get(create_url), create_url)
    assert form.fields["lines-TOTAL_FORMS"] == "1"
    added = rita.get(
        reverse("procurement:request_line_row"), {"lines-TOTAL_FORMS": "1"}, **HTMX
    )  # what the "+ Add line" button fetches
    form.merge(fragment_fields(added))
    assert form.fields["lines-TOTAL_FORMS"] == "2"
    response = rita.post(
        create_url,
        form.data(
            {
                "title": "Office supplies Q4",
                "cost_center": setup_org["cost_center"].pk,
                "gl_account": setup_org["gl_account"].pk,
                "justification": "The copy room runs out every month.",
                "lines-0-description": "A4 copy paper, box of 5 reams",
                "lines-0-quantity": "40",
                "lines-0-unit_price": "23.50",
                "lines-1-description": "HP 305A toner, black",
                "lines-1-quantity": "4",
                "lines-1-unit_price": "89.90",
            },
            button=("action", "submit"),
        ),
        follow=True,
    )
    pr = PurchaseRequest.objects.get()
    assert f"{pr.number} sent for approval." in text_of(response)
    assert pr.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert pr.requester == people["requester"]
    assert [(line.description, line.amount) for line in pr.lines.order_by("line_no")] == [
        ("A4 copy paper, box of 5 reams", Decimal("940.00")),
        ("HP 305A toner, black", Decimal("359.60")),
    ]
    assert pr.total_amount == Decimal("1299.60")

    # 2. It routes to the approvers; Rita, even holding the approver role, cannot approve it.
    step = pr.approvals.get()
    assert (step.status, step.approver_group.name) == (ApprovalStep.Status.PENDING, "approver")
    decide_url = reverse("procurement:approval_decide", args=[step.pk])
    approver_group = Group.objects.get(name="approver")
    people["requester"].groups.add(approver_group)
    inbox_url = reverse("procurement:approval_inbox")
    assert pr.number not in rita.get(inbox_url).content.decode()
    refused = rita.post(decide_url, {"decision": "approve"}, follow=True)
    assert "You cannot approve a request you raised." in text_of(refused)
    pr.refresh_from_db()
    step.refresh_from_db()
    assert pr.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert step.status == ApprovalStep.Status.PENDING
    people["requester"].groups.remove(approver_group)

    inbox = alex.get(inbox_url)
    assert pr.number in text_of(inbox) and "1,299.60 EUR" in text_of(inbox)
    decision = page_form(inbox, decide_url)
    response = alex.post(decide_url, decision.data(button=("decision", "approve")), follow=True)
    assert f"{pr.number} approved; it is ready for a buyer to order." in text_of(response)
    pr.refresh_from_db()
    assert pr.status == PurchaseRequest.Status.APPROVED

    # 3. Bob orders it from an active vendor and issues the PO; an approver may not order.
    po_create_url = reverse("procurement:po_create", args=[pr.pk])
    assert alex.get(po_create_url).status_code == 403
    assert alex.post(po_create_url, {"vendor": vendor.pk}).status_code == 403
    assert pr.number in text_of(bob.get(reverse("procurement:po_list")))  # awaiting a PO
    order_form = page_form(bob.get(po_create_url), po_create_url)
    assert str(vendor.pk) in order_form.options["vendor"]
    assert str(blocked.pk) not in order_form.options["vendor"]
    response = bob.post(po_create_url, order_form.data({"vendor": vendor.pk}), follow=True)
    po = PurchaseOrder.objects.get()
    assert f"Draft {po.number} created" in text_of(response)
    po_url = reverse("procurement:po_detail", args=[po.pk])
    issue_url = reverse("procurement:po_issue", args=[po.pk])
    response = bob.post(issue_url, page_form(bob.get(po_url), issue_url).data(), follow=True)
    assert f"{po.number} issued to Kantoorhuis Van Dijk B.V." in text_of(response)
    po.refresh_from_db()
    assert (po.status, po.buyer, po.vendor) == (
        PurchaseOrder.Status.ISSUED,
        people["buyer"],
        vendor,
    )
    assert po.total_amount == Decimal("1299.60")

    # 4. Rita receives half the paper first, then the rest of the paper and the toner.
    receive_url = reverse("procurement:receipt_create", args=[po.pk])
    receipt_form = page_form(rita.get(receive_url), receive_url)
    assert receipt_form.fields["receipt-TOTAL_FORMS"] == "2"
    assert receipt_form.fields["received_on"] == today.isoformat()
    response = rita.post(
        receive_url,
        receipt_form.data({"receipt-0-received_qty": "20", "note": "Delivery note 4471"}),
        follow=True,
    )
    first_receipt = po.receipts.get()
    assert f"Receipt {first_receipt.number} recorded on {po.number}." in text_of(response)
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.PARTIALLY_RECEIVED
    receipt_form = page_form(rita.get(receive_url), receive_url)
    rita.post(
        receive_url,
        receipt_form.data({"receipt-0-received_qty": "20", "receipt-1-received_qty": "4"}),
    )
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.RECEIVED
    assert [line.received_qty for line in po.lines.order_by("line_no")] == [Decimal("40"), 4]
    second_receipt = po.receipts.exclude(pk=first_receipt.pk).get()

    # 5. Carla picks the PO; its open lines come prefilled. This invoice bills the paper only.
    invoice_url = reverse("payables:invoice_create")
    entry = page_form(carla.get(invoice_url, {"po": po.pk}), invoice_url)
    assert entry.fields["purchase_order"] == str(po.pk)
    assert entry.fields["currency"] == "EUR"
    assert entry.fields["invoice_date"] == today.isoformat()
    assert (entry.fields["lines-0-quantity"], entry.fields["lines-0-unit_price"]) == ("40", "23.5")
    assert (entry.fields["lines-1-quantity"], entry.fields["lines-1-unit_price"]) == ("4", "89.9")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = carla.post(
            invoice_url,
            entry.data(
                {"number": "KVD-2026-0417", "lines-1-quantity": "0", "tax_amount": "197.40"}
            ),
        )
    assert callbacks, "capturing the invoice must hand it to matching on commit"
    clean = Invoice.objects.get(number="KVD-2026-0417")
    assert response["Location"] == reverse("payables:invoice_detail", args=[clean.pk])

    # 6. The match approves it with nobody touching it ...
    clean.refresh_from_db()
    assert clean.status == Invoice.Status.APPROVED
    assert (clean.first_pass, clean.touchless) == (True, True)
    assert (clean.net_amount, clean.tax_amount, clean.total_amount) == (
        Decimal("940.00"),
        Decimal("197.40"),
        Decimal("1137.40"),
    )
    assert clean.due_date == today + dt.timedelta(days=30)
    assert clean.discount_amount == Decimal("22.75")  # 2 % for paying within 10 days
    detail = text_of(carla.get(response["Location"]))
    assert "Invoice KVD-2026-0417 Approved" in detail
    assert "touchless: approved with no human action" in detail

    # ... while the toner billed at 99.90 against 89.90 on the PO goes to Bob as a dispute.
    entry = page_form(carla.get(invoice_url, {"po": po.pk}), invoice_url)
    assert entry.fields["lines-0-quantity"] == "0"  # the paper is fully billed
    with django_capture_on_commit_callbacks(execute=True):
        carla.post(
            invoice_url,
            entry.data(
                {"number": "KVD-2026-0431", "lines-1-unit_price": "99.90", "tax_amount": "83.92"}
            ),
        )
    dear = Invoice.objects.get(number="KVD-2026-0431")
    assert dear.status == Invoice.Status.EXCEPTION
    assert dear.first_pass is False
    dispute = InvoiceException.objects.get(invoice=dear)
    assert (dispute.type, dispute.owner, dispute.owner_user) == (
        InvoiceException.Type.PRICE_VARIANCE,
        InvoiceException.Owner.BUYER,
        people["buyer"],
    )
    assert dispute.amount_at_stake == Decimal("40.00")  # 4 × 10.00 over the PO price
    disputes = bob.get(reverse("payables:exception_list"))
    assert "My disputes" in text_of(disputes)
    assert "KVD-2026-0431" in text_of(disputes) and "40.00 EUR" in text_of(disputes)
    assert reverse("payables:exception_detail", args=[dispute.pk]) in disputes.content.decode()
    # Rita's exceptions page is her receipts to record: the price dispute is not hers to see.
    assert "KVD-2026-0431" not in text_of(rita.get(reverse("payables:exception_list")))
    assert rita.get(reverse("payables:exception_detail", args=[dispute.pk])).status_code == 403
    assert rita.get(reverse("payables:invoice_detail", args=[dear.pk])).status_code == 403

    # 7. Carla proposes a run; she cannot approve it, Fiona does, and Carla marks it paid.
    runs_url = reverse("payables:run_list")
    propose = page_form(carla.get(runs_url), runs_url)
    assert propose.fields["pay_date"] == today.isoformat()
    response = carla.post(runs_url, propose.data(), follow=True)
    run = PaymentRun.objects.get()
    assert f"{run.number} proposed" in text_of(response)
    assert list(run.payments.values_list("invoice__number", flat=True)) == ["KVD-2026-0417"]
    assert (run.gross_amount, run.discount_amount, run.net_amount) == (
        Decimal("1137.40"),
        Decimal("22.75"),
        Decimal("1114.65"),
    )
    approve_url = reverse("payables:run_approve", args=[run.pk])
    run_url = reverse("payables:run_detail", args=[run.pk])
    assert approve_url not in carla.get(run_url).content.decode()
    assert carla.post(approve_url).status_code == 403  # a clerk never approves runs
    finance = Group.objects.get(name="finance_leader")
    people["ap_clerk"].groups.add(finance)
    refused = carla.post(approve_url, follow=True)
    assert "You prepared this payment run; someone else must approve it." in text_of(refused)
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.PROPOSED
    people["ap_clerk"].groups.remove(finance)

    response = fiona.post(
        approve_url, page_form(fiona.get(run_url), approve_url).data(), follow=True
    )
    assert f"{run.number} approved" in text_of(response)
    paid_url = reverse("payables:run_mark_paid", args=[run.pk])
    response = carla.post(paid_url, page_form(carla.get(run_url), paid_url).data(), follow=True)
    assert f"{run.number} marked paid." in text_of(response)
    run.refresh_from_db()
    clean.refresh_from_db()
    assert (run.status, run.approved_by, run.prepared_by) == (
        PaymentRun.Status.PAID,
        people["finance_leader"],
        people["ap_clerk"],
    )
    assert clean.status == Invoice.Status.PAID
    assert Payment.objects.get(invoice=clean).paid_on == today
    assert Invoice.objects.get(pk=dear.pk).status == Invoice.Status.EXCEPTION  # still held

    # 8. After the rollup, buyers, AP and finance read the same KPIs off the same page.
    rebuild_facts(today - dt.timedelta(days=29), today)
    dashboard = reverse("metrics:dashboard")
    seen = [kpi_tiles(client.get(dashboard)) for client in (bob, carla, fiona)]
    assert seen[0] == seen[1] == seen[2]
    kpis = seen[0]
    assert kpis["First-pass match rate"].startswith("50.0 % 1 of 2 invoices")
    assert kpis["Touchless rate"].startswith("100.0 % 1 of 1 approval")
    assert kpis["On-time payment"].startswith("100.0 % 1 of 1 invoice")
    discount = kpis["Discount capture"]
    assert "100.0 %" in discount and "22.75 EUR" in discount and "0.00 EUR missed" in discount

    # 9. The PO page tells the whole story, from the request to the payment.
    life = bob.get(po_url)
    assert life.status_code == 200
    page = text_of(life)
    for tile in (
        "Ordered (net) 1,299.60 EUR 2 lines",
        "Received 1,299.60 EUR 2 receipts",
        # Net beside net: 940.00 + 399.60; with VAT 1,137.40 + 483.52.
        "Invoiced (net) 1,339.60 EUR 1,620.92 EUR incl. VAT · 2 invoices",
        "Open exceptions 1 1 raised in total",
        "Paid 1,114.65 EUR 22.75 EUR discount taken",
    ):
        assert tile in page, tile
    assert f"Request {pr.number}" in page and "Office supplies Q4" in page
    assert "1 Any approver Approved Alex" in page  # step, approver, status, decided by
    assert first_receipt.number in page and second_receipt.number in page
    assert "Line 1: +20 EA received" in page and "Line 2: +4 EA received" in page
    dated, due = date_format(today, "d M Y"), date_format(clean.due_date, "d M Y")
    assert f"KVD-2026-0417 {dated} {due} Form 1,137.40 EUR Paid" in page
    assert f"KVD-2026-0431 {dated} {due} Form 483.52 EUR Exception" in page
    # Match results: invoice price, PO price, variance, tolerance, billed, billable, result.
    assert "KVD-2026-0417 / 1 PO line 1 23.50 EUR 23.50 EUR 0.00 EUR 0.47 EUR 40 40 Matched" in page
    assert (
        "KVD-2026-0431 / 1 PO line 2 99.90 EUR 89.90 EUR 10.00 EUR 1.80 EUR 4 4 Price variance"
        in page
    )
    assert "Invoice price 99.9 vs PO price 89.9" in page and "Buyer Bob Open" in page
    assert f"{run.number} KVD-2026-0417 1,137.40 EUR 22.75 EUR 1,114.65 EUR Paid" in page
    for entry_text in (
        f"{pr} created",
        f"{pr}: Draft → Pending approval",
        f"{pr.number} step 1: Pending → Approved",
        f"{pr}: Pending approval → Approved",
        f"{pr}: Approved → Ordered",
        f"{po.number}: Draft → Issued",
        f"{po.number}: Issued → Partially received",
        f"{po.number}: Partially received → Received",
        f"{first_receipt.number} created",
        "KVD-2026-0417: Pending match → Approved",
        "KVD-2026-0431: Pending match → Exception",
        f"{run.number}: Proposed → Approved",
        "KVD-2026-0417: Scheduled → Paid",
        f"{run.number}: Approved → Paid",
    ):
        assert entry_text in page, f"timeline lacks {entry_text!r}"
    timeline = page[page.index("Activity request to payment") :]
    assert timeline.index(f"{pr} created") < timeline.index(f"{run.number}: Approved → Paid")


def test_requester_is_kept_out_of_ap_pages(people, setup_org):
    """Rita may follow her purchase but never opens invoices, runs or the AP queue."""
    rita = client_for(people["requester"])

    assert rita.get(reverse("payables:invoice_list")).status_code == 403
    assert rita.get(reverse("payables:invoice_create")).status_code == 403
    assert rita.get(reverse("payables:run_list")).status_code == 403
    # The exceptions page opens for her, narrowed to the receipts she owes, never AP's queue.
    queue = rita.get(reverse("payables:exception_list"), {"owner": "ap"})
    assert queue.status_code == 200
    assert queue.context["scope"] == "requester"
    assert "Receipts needed" in text_of(queue) and "Exception queue" not in text_of(queue)
