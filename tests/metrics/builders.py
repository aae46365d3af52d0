"""Invoices, exceptions and payments written with exact timestamps, for KPI arithmetic.

The services stamp `timezone.now()`; KPI tests need to say "captured Monday 10:00, approved
Wednesday 14:05", so these builders write the documents' final state directly. The rollup
reads only that state, which is what these tests are about.
"""

import datetime as dt
from decimal import Decimal
from itertools import count

from django.utils import timezone

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, InvoiceLine
from payables.models.payments import Payment, PaymentRun
from procurement.models import CostCenter, PurchaseOrder, PurchaseOrderLine
from tests import factories

_numbers = count(1)


def at(day: dt.date, hour: int = 10, minute: int = 0) -> dt.datetime:
    """An aware datetime at local time on `day`."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour, minute)))


def make_cost_center(code: str, name: str, department: str) -> CostCenter:
    return CostCenter.objects.get_or_create(
        code=code, defaults={"name": name, "department": department}
    )[0]


def make_po(vendor, buyer, cost_center, *, currency: str = "EUR") -> PurchaseOrder:
    """An issued PO with one line coded to the cost center."""
    _cc, gl_account = factories.make_coding()
    po = PurchaseOrder.objects.create(
        number=f"PO-T-{next(_numbers):05d}",
        vendor=vendor,
        buyer=buyer,
        currency=currency,
        payment_terms=vendor.payment_terms,
        status=PurchaseOrder.Status.ISSUED,
        total_amount=Decimal("10000"),
    )
    PurchaseOrderLine.objects.create(
        purchase_order=po,
        line_no=1,
        description="Copy paper",
        quantity=Decimal("1000"),
        unit_price=Decimal("10"),
        amount=Decimal("10000"),
        gl_account=gl_account,
        cost_center=cost_center,
    )
    return po


def make_invoice(
    vendor,
    *,
    po: PurchaseOrder | None = None,
    captured: dt.datetime,
    total: str,
    currency: str = "EUR",
    status: str = Invoice.Status.PENDING_MATCH,
    first_matched: dt.datetime | None = None,
    first_pass: bool | None = None,
    approved: dt.datetime | None = None,
    touchless: bool = False,
    paid: dt.datetime | None = None,
    due: dt.date | None = None,
    discount_date: dt.date | None = None,
    discount: str = "0",
    credit_note: bool = False,
    number: str | None = None,
) -> Invoice:
    """An invoice in its final state with the timestamps the KPIs read."""
    amount = Decimal(total)
    number = number or f"T-{next(_numbers):05d}"
    invoice = Invoice.objects.create(
        vendor=vendor,
        number=number,
        normalized_number=number.replace("-", ""),
        document_type=Invoice.DocumentType.CREDIT_NOTE if credit_note else "invoice",
        purchase_order=po,
        po_reference=po.number if po else "",
        invoice_date=timezone.localdate(captured),
        due_date=due or timezone.localdate(captured) + dt.timedelta(days=30),
        discount_date=discount_date,
        discount_amount=Decimal(discount),
        currency=currency,
        net_amount=amount,
        total_amount=amount,
        payable_amount=amount,
        status=status,
        captured_at=captured,
        match_attempts=1 if first_matched else 0,
        first_matched_at=first_matched,
        first_pass=first_pass,
        approved_at=approved,
        touchless=touchless,
        paid_at=paid,
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        line_no=1,
        po_line=po.lines.first() if po else None,
        description="Copy paper",
        quantity=Decimal("1"),
        unit_price=amount,
        amount=amount,
    )
    return invoice


_OWNERS = {
    "price_variance": "buyer",
    "qty_over_billed": "buyer",
    "missing_receipt": "requester",
}
_SUGGESTED = {
    "price_variance": "vendor_pricing_error",
    "qty_over_billed": "over_billing",
    "missing_receipt": "missing_receipt",
    "no_po": "no_po",
    "duplicate": "duplicate_submission",
    "totals_mismatch": "keying_error",
}


def make_exception(
    invoice: Invoice,
    type: str,
    *,
    opened: dt.datetime,
    resolved: dt.datetime | None = None,
    root_cause: str = "",
    amount: str = "0",
    detail: str = "",
) -> InvoiceException:
    """An exception opened (and perhaps resolved) at exact times, owned as matching routes it."""
    owner = _OWNERS.get(type, "ap")
    return InvoiceException.objects.create(
        invoice=invoice,
        type=type,
        owner=owner,
        owner_user=invoice.purchase_order.buyer
        if owner == "buyer" and invoice.purchase_order
        else None,
        status="resolved" if resolved else "open",
        suggested_root_cause=_SUGGESTED.get(type, ""),
        root_cause=root_cause if resolved else "",
        resolution="accept_variance" if resolved else "",
        detail=detail or f"{type} on {invoice.number}",
        amount_at_stake=Decimal(amount),
        opened_at=opened,
        resolved_at=resolved,
    )


def make_payment(invoice: Invoice, *, preparer, discount_taken: str = "0") -> Payment:
    """A paid payment of the invoice, on the day its paid_at says."""
    paid_on = timezone.localdate(invoice.paid_at)
    run = PaymentRun.objects.create(
        number=f"RUN-T-{next(_numbers):05d}",
        pay_date=paid_on,
        horizon_date=paid_on,
        currency=invoice.currency,
        status=PaymentRun.Status.PAID,
        prepared_by=preparer,
        paid_at=invoice.paid_at,
    )
    taken = Decimal(discount_taken)
    return Payment.objects.create(
        run=run,
        invoice=invoice,
        vendor=invoice.vendor,
        currency=invoice.currency,
        gross_amount=invoice.total_amount,
        discount_taken=taken,
        discount_available=invoice.discount_amount,
        net_amount=invoice.total_amount - taken,
        status=Payment.Status.PAID,
        paid_on=paid_on,
    )
