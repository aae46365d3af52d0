"""Payables state changes: capture, exception resolution and payment runs."""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record
from p2p.dates import implausible_date
from p2p.exceptions import DomainError
from p2p.money import (
    ZERO,
    format_money,
    line_amount,
    parse_decimal,
    round_money,
    round_quantity,
)
from payables.models import Invoice, InvoiceException, InvoiceLine
from procurement.models import PurchaseOrder
from vendors.models import Vendor


def normalize_invoice_number(number: str) -> str:
    """'INV-000123', 'inv 123' and 'INV123' are the same invoice number."""
    parts = re.split(r"[\s\-_/.]+", number.strip().upper())
    # Leading zeros are dropped per part: "RE-26-09999" and "re 26 9999" are one number.
    return "".join(re.sub(r"(?<![0-9])0+(?=[0-9])", "", part) for part in parts if part)


@dataclass(frozen=True)
class InvoiceLineInput:
    """One billed line as keyed or parsed."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    po_line_id: int | None = None
    tax_rate: Decimal = ZERO
    # The document's own line net amount (after line allowances and charges); qty × price if None.
    amount: Decimal | None = None
    unit_code: str = ""
    order_line_reference: str = ""


@dataclass(frozen=True)
class DocumentFacts:
    """What an e-invoice or upload states beyond its lines, kept as the vendor wrote it.

    With these facts the capture trusts the document: its due date and discount win over the
    vendor's terms, its payable amount is stored, and lines may be negative (EN 16931 allows
    a returned item on an invoice), which a keyed form never needs.
    """

    seller_name: str = ""
    seller_tax_id: str = ""
    payment_terms_text: str = ""
    source_file: str = ""
    tax_currency: str = ""
    due_date: dt.date | None = None
    discount_percent: Decimal = ZERO
    discount_days: int | None = None
    prepaid_amount: Decimal = ZERO
    payable_amount: Decimal | None = None


def invoice_capture(
    *,
    by: AbstractBaseUser | None,
    vendor: Vendor,
    number: str,
    invoice_date: dt.date,
    currency: str,
    lines: list[InvoiceLineInput],
    tax_amount: Decimal = ZERO,
    total_amount: Decimal | None = None,
    purchase_order: PurchaseOrder | None = None,
    po_reference: str = "",
    document_type: str = Invoice.DocumentType.INVOICE,
    source: str = Invoice.Source.FORM,
    captured_at: dt.datetime | None = None,
    document: DocumentFacts | None = None,
    enqueue_match: bool = True,
) -> Invoice:
    """Record a vendor invoice and hand it to the matching engine once committed.

    Credit notes are captured with positive amounts and document_type credit_note.
    `enqueue_match=False` lets a bulk import hand the whole batch to the engine at once.
    """
    if by is not None:
        roles.require_role(by, roles.AP_CLERK, roles.AP_MANAGER)
    number = number.strip()
    if not number:
        raise DomainError("The invoice number is missing.")
    currency = currency.strip().upper()
    if len(currency) != 3:
        raise DomainError("Currency must be a three-letter ISO code such as EUR.")
    if not lines:
        raise DomainError("An invoice needs at least one line.")
    facts = document or DocumentFacts()
    for value, what in ((invoice_date, "The invoice date"), (facts.due_date, "The due date")):
        if value is not None and (problem := implausible_date(value, what)):
            raise DomainError(problem)
    tax_amount = round_money(parse_decimal(tax_amount, "Tax"), currency)
    if tax_amount < 0:
        raise DomainError("Tax cannot be negative; enter a credit note instead.")
    cleaned = []
    for n, line in enumerate(lines, start=1):
        quantity = round_quantity(parse_decimal(line.quantity, f"Line {n} quantity"))
        unit_price = round_quantity(parse_decimal(line.unit_price, f"Line {n} unit price"))
        if quantity <= 0 and document is None:
            raise DomainError(f"Line {n}: quantity must be greater than zero.")
        if unit_price < 0:
            raise DomainError(f"Line {n}: unit price cannot be negative.")
        if line.amount is None:
            amount = line_amount(quantity, unit_price, currency)
        else:
            amount = round_money(parse_decimal(line.amount, f"Line {n} amount"), currency)
        cleaned.append((line, quantity, unit_price, amount))
    net = sum((amount for *_, amount in cleaned), ZERO)
    total = (
        round_money(parse_decimal(total_amount, "Total"), currency)
        if total_amount is not None
        else net + tax_amount
    )
    prepaid = round_money(parse_decimal(facts.prepaid_amount, "Prepaid amount"), currency)
    payable = (
        round_money(parse_decimal(facts.payable_amount, "Payable amount"), currency)
        if facts.payable_amount is not None
        else total - prepaid
    )
    with transaction.atomic():
        # Serialise captures per vendor so a double submit cannot slip past the duplicate check.
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        normalized = normalize_invoice_number(number)
        existing = (
            Invoice.objects.filter(
                vendor=vendor, normalized_number=normalized, document_type=document_type
            )
            .exclude(status=Invoice.Status.REJECTED)
            .first()
        )
        if existing is not None:
            raise DomainError(
                f"{vendor.name} invoice {number} was already captured as {existing.number} "
                f"on {existing.captured_at:%d %b %Y}."
            )
        if purchase_order is not None:
            po_line_ids = set(purchase_order.lines.values_list("id", flat=True))
            for n, (line, *_rest) in enumerate(cleaned, start=1):
                if line.po_line_id is not None and line.po_line_id not in po_line_ids:
                    raise DomainError(
                        f"Line {n} refers to a line that is not on {purchase_order.number}."
                    )
        terms = purchase_order.payment_terms if purchase_order is not None else vendor.payment_terms
        due_date = facts.due_date or terms.due_date(invoice_date)
        if facts.discount_days is not None and facts.discount_percent > 0:
            discount_date = invoice_date + dt.timedelta(days=facts.discount_days)
            discount_amount = round_money(
                payable * facts.discount_percent / Decimal("100"), currency
            )
        else:
            discount_date = terms.discount_date(invoice_date)
            discount_amount = terms.discount_amount(payable, currency) if discount_date else ZERO
        invoice = Invoice.objects.create(
            vendor=vendor,
            number=number,
            normalized_number=normalized,
            document_type=document_type,
            source=source,
            purchase_order=purchase_order,
            po_reference=po_reference or (purchase_order.number if purchase_order else ""),
            invoice_date=invoice_date,
            due_date=due_date,
            discount_date=discount_date,
            discount_amount=discount_amount,
            currency=currency,
            net_amount=net,
            tax_amount=tax_amount,
            total_amount=total,
            prepaid_amount=prepaid,
            payable_amount=payable,
            seller_name=facts.seller_name[:200],
            seller_tax_id=facts.seller_tax_id[:40],
            payment_terms_text=facts.payment_terms_text[:500],
            tax_currency=facts.tax_currency[:3],
            source_file=facts.source_file[:255],
            captured_by=by,
            captured_at=captured_at or timezone.now(),
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                line_no=n,
                po_line_id=line.po_line_id,
                description=line.description[:200],
                quantity=quantity,
                unit_price=unit_price,
                amount=amount,
                tax_rate=line.tax_rate,
                unit_code=line.unit_code[:10],
                order_line_reference=line.order_line_reference[:30],
            )
            for n, (line, quantity, unit_price, amount) in enumerate(cleaned, start=1)
        )
        audit_record(
            obj=invoice,
            action="created",
            by=by,
            to_status=invoice.status,
            changes={
                "total": format_money(invoice.total_amount, currency),
                "source": source,
                "purchase_order": purchase_order.number if purchase_order else "",
                **({"file": facts.source_file} if facts.source_file else {}),
            },
        )
        invoice_id = invoice.pk
        if enqueue_match:
            transaction.on_commit(lambda: _enqueue_match([invoice_id]))
    return invoice


def _enqueue_match(ids: list[int]) -> None:
    from payables.tasks import match_invoices

    match_invoices.delay(ids)


def exception_resolve(
    *,
    exception: InvoiceException,
    by: AbstractBaseUser,
    resolution: str,
    root_cause: str,
    note: str = "",
) -> InvoiceException:
    """Close an exception (accept, reject, duplicate); the work lives in payables.resolutions."""
    from payables.resolutions import exception_resolve as resolve

    return resolve(
        exception=exception, by=by, resolution=resolution, root_cause=root_cause, note=note
    )


# --- payment runs -------------------------------------------------------------------------
# They live in payables/payments.py; re-exported so `services.payment_run_*` keeps working.

from payables.payments import (  # noqa: E402
    _PROPOSE,
    COST_OF_CAPITAL_PCT,
    RUN_FINANCE_APPROVAL_THRESHOLD,
    _audit_invoices,
    _refresh_run_totals,
    discount_worth_taking,
    payment_run_approve,
    payment_run_cancel,
    payment_run_mark_paid,
    payment_run_propose,
)

__all__ = [
    "COST_OF_CAPITAL_PCT",
    "RUN_FINANCE_APPROVAL_THRESHOLD",
    "_PROPOSE",
    "_audit_invoices",
    "_refresh_run_totals",
    "discount_worth_taking",
    "payment_run_approve",
    "payment_run_cancel",
    "payment_run_mark_paid",
    "payment_run_propose",
]
