"""Invoice capture: keyed or parsed invoices become Invoice rows, checked for duplicates."""

import datetime as dt
import functools
import operator
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_bulk, audit_event
from p2p.celery import enqueue
from p2p.dates import implausible_date
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import (
    ZERO,
    format_money,
    line_amount,
    parse_decimal,
    round_money,
    round_quantity,
)
from p2p.roles import Perm
from payables.models.invoices import Invoice, InvoiceLine
from procurement.models import PurchaseOrder, PurchaseOrderLine
from vendors.models import PaymentTerms, Vendor


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


@dataclass(frozen=True)
class InvoiceInput:
    """One invoice as handed to capture: what a form, an API call or an imported file states."""

    vendor: Vendor
    number: str
    invoice_date: dt.date
    currency: str
    lines: list[InvoiceLineInput]
    tax_amount: Decimal = ZERO
    total_amount: Decimal | None = None
    purchase_order: PurchaseOrder | None = None
    po_reference: str = ""
    document_type: str = Invoice.DocumentType.INVOICE
    source: str = Invoice.Source.FORM
    captured_at: dt.datetime | None = None
    document: DocumentFacts | None = None


def invoice_capture(
    *,
    by: User | None,
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
    (outcome,) = invoice_capture_many(
        by=by,
        invoices=[
            InvoiceInput(
                vendor=vendor,
                number=number,
                invoice_date=invoice_date,
                currency=currency,
                lines=lines,
                tax_amount=tax_amount,
                total_amount=total_amount,
                purchase_order=purchase_order,
                po_reference=po_reference,
                document_type=document_type,
                source=source,
                captured_at=captured_at,
                document=document,
            )
        ],
        enqueue_match=enqueue_match,
    )
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def invoice_capture_many(
    *,
    by: User | None,
    invoices: Sequence[InvoiceInput],
    enqueue_match: bool = True,
) -> list[Invoice | DomainError]:
    """Record many vendor invoices in one transaction with a few queries, whatever their number.

    The outcome of each is the captured Invoice or the DomainError saying why it was refused;
    every check runs before anything is written, so a refused invoice leaves nothing behind and
    the others are captured. This is the one capture path: `invoice_capture` is this for one.
    """
    if by is not None:
        roles.require(by, Perm.CAPTURE_INVOICE)
    outcomes: list[_Draft | Invoice | DomainError] = []
    for invoice_input in invoices:
        try:
            outcomes.append(_draft(invoice_input))
        except DomainError as exc:
            outcomes.append(exc)
    drafts = [draft for draft in outcomes if isinstance(draft, _Draft)]
    if not drafts:
        return outcomes  # type: ignore[return-value]  # only errors
    with transaction.atomic():
        # Serialise captures per vendor so a double submit cannot slip past the duplicate check;
        # locked in primary-key order so two imports cannot deadlock.
        vendors = {
            vendor.pk: vendor
            for vendor in Vendor.objects.select_for_update(of=("self",))
            .select_related("payment_terms")
            .filter(pk__in={draft.input.vendor.pk for draft in drafts})
            .order_by("pk")
        }
        captured = captured_numbers(
            (draft.input.vendor.pk, draft.normalized_number) for draft in drafts
        )
        orders = {
            draft.input.purchase_order.pk: draft.input.purchase_order
            for draft in drafts
            if draft.input.purchase_order is not None
        }
        po_line_ids: dict[int, set[int]] = {pk: set() for pk in orders}
        for order_id, line_id in PurchaseOrderLine.objects.filter(
            purchase_order_id__in=orders
        ).values_list("purchase_order_id", "id"):
            po_line_ids[order_id].add(line_id)
        order_terms = PaymentTerms.objects.in_bulk(
            {order.payment_terms_id for order in orders.values()}
        )
        rows: list[tuple[int, _Draft, Invoice]] = []
        for index, draft in enumerate(outcomes):
            if not isinstance(draft, _Draft):
                continue
            try:
                vendor = vendors.get(draft.input.vendor.pk)
                if vendor is None:
                    raise DomainError(f"Vendor {draft.input.vendor} no longer exists.")
                _check_duplicate(draft, vendor, captured)
                order = draft.input.purchase_order
                if order is not None:
                    for n, (line, *_rest) in enumerate(draft.lines, start=1):
                        if (
                            line.po_line_id is not None
                            and line.po_line_id not in po_line_ids[order.pk]
                        ):
                            raise DomainError(
                                f"Line {n} refers to a line that is not on {order.number}."
                            )
                terms = (
                    order_terms[order.payment_terms_id]
                    if order is not None
                    else vendor.payment_terms
                )
                rows.append((index, draft, _invoice_of(draft, vendor, terms, by)))
            except DomainError as exc:
                outcomes[index] = exc
        Invoice.objects.bulk_create([invoice for *_, invoice in rows])
        InvoiceLine.objects.bulk_create(
            [
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
                for _, draft, invoice in rows
                for n, (line, quantity, unit_price, amount) in enumerate(draft.lines, start=1)
            ]
        )
        audit_bulk(
            audit_event(
                obj=invoice,
                action=AuditAction.CREATED,
                by=by,
                to_status=invoice.status,
                changes={
                    "total": format_money(invoice.total_amount, invoice.currency),
                    "source": invoice.source,
                    "purchase_order": invoice.purchase_order.number
                    if invoice.purchase_order
                    else "",
                    **({"file": draft.facts.source_file} if draft.facts.source_file else {}),
                },
            )
            for _, draft, invoice in rows
        )
        for index, _, invoice in rows:
            outcomes[index] = invoice
        invoice_ids = [invoice.pk for *_, invoice in rows]
        if enqueue_match and invoice_ids:
            transaction.on_commit(lambda: _enqueue_match(invoice_ids))
    return outcomes  # type: ignore[return-value]  # every draft is now an Invoice or an error


@dataclass(frozen=True)
class _Draft:
    """An InvoiceInput that passed every check needing no database, with its amounts worked out."""

    input: InvoiceInput
    number: str
    normalized_number: str
    currency: str
    facts: DocumentFacts
    lines: list[tuple[InvoiceLineInput, Decimal, Decimal, Decimal]]
    tax_amount: Decimal
    net: Decimal
    total: Decimal
    prepaid: Decimal
    payable: Decimal


def _draft(invoice: InvoiceInput) -> _Draft:
    """Check what the invoice says on its own; DomainError names the first problem."""
    number = invoice.number.strip()
    if not number:
        raise DomainError("The invoice number is missing.")
    currency = invoice.currency.strip().upper()
    if len(currency) != 3:
        raise DomainError("Currency must be a three-letter ISO code such as EUR.")
    if not invoice.lines:
        raise DomainError("An invoice needs at least one line.")
    facts = invoice.document or DocumentFacts()
    for value, what in (
        (invoice.invoice_date, "The invoice date"),
        (facts.due_date, "The due date"),
    ):
        if value is not None and (problem := implausible_date(value, what)):
            raise DomainError(problem)
    tax_amount = round_money(parse_decimal(invoice.tax_amount, "Tax"), currency)
    if tax_amount < 0:
        raise DomainError("Tax cannot be negative; enter a credit note instead.")
    cleaned = []
    for n, line in enumerate(invoice.lines, start=1):
        quantity = round_quantity(parse_decimal(line.quantity, f"Line {n} quantity"))
        unit_price = round_quantity(parse_decimal(line.unit_price, f"Line {n} unit price"))
        if quantity <= 0 and invoice.document is None:
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
        round_money(parse_decimal(invoice.total_amount, "Total"), currency)
        if invoice.total_amount is not None
        else net + tax_amount
    )
    prepaid = round_money(parse_decimal(facts.prepaid_amount, "Prepaid amount"), currency)
    payable = (
        round_money(parse_decimal(facts.payable_amount, "Payable amount"), currency)
        if facts.payable_amount is not None
        else total - prepaid
    )
    return _Draft(
        input=invoice,
        number=number,
        normalized_number=normalize_invoice_number(number),
        currency=currency,
        facts=facts,
        lines=cleaned,
        tax_amount=tax_amount,
        net=net,
        total=total,
        prepaid=prepaid,
        payable=payable,
    )


# (vendor id, normalised number, document type) -> the number as captured and when.
CapturedNumbers = dict[tuple[int, str, str], tuple[str, dt.datetime]]


def captured_numbers(wanted: Iterable[tuple[int, str]]) -> CapturedNumbers:
    """Invoices already captured (and not rejected) under these (vendor id, normalised number).

    One query, each vendor's numbers probed through the (vendor, normalized_number) index, so
    its cost follows the numbers asked for, not the size of the invoice table.
    """
    by_vendor: dict[int, set[str]] = {}
    for vendor_id, normalized in wanted:
        by_vendor.setdefault(vendor_id, set()).add(normalized)
    if not by_vendor:
        return {}
    condition = functools.reduce(
        operator.or_,
        (
            Q(vendor_id=vendor_id, normalized_number__in=numbers)
            for vendor_id, numbers in by_vendor.items()
        ),
    )
    existing = (
        Invoice.objects.filter(condition)
        .exclude(status=Invoice.Status.REJECTED)
        # Ascending, so the latest capture of a number is the one named.
        .order_by("id")
        .values_list("vendor_id", "normalized_number", "document_type", "number", "captured_at")
    )
    return {
        (vendor_id, normalized, document_type): (number, captured_at)
        for vendor_id, normalized, document_type, number, captured_at in existing
    }


def duplicate_error(
    *, vendor: Vendor, number: str, document_type: str, normalized: str, captured: CapturedNumbers
) -> DomainError | None:
    """Why the vendor's number cannot be captured again, or None when it was not captured yet."""
    key = (vendor.pk, normalized, document_type)
    if key not in captured:
        return None
    earlier_number, captured_at = captured[key]
    return DomainError(
        f"{vendor.name} invoice {number} was already captured as {earlier_number} "
        f"on {captured_at:%d %b %Y}."
    )


def _check_duplicate(draft: _Draft, vendor: Vendor, captured: CapturedNumbers) -> None:
    """Refuse a number the vendor already billed (or billed earlier in the same batch)."""
    if error := duplicate_error(
        vendor=vendor,
        number=draft.number,
        document_type=draft.input.document_type,
        normalized=draft.normalized_number,
        captured=captured,
    ):
        raise error
    key = (vendor.pk, draft.normalized_number, draft.input.document_type)
    captured[key] = (draft.number, draft.input.captured_at or timezone.now())


def _invoice_of(draft: _Draft, vendor: Vendor, terms: PaymentTerms, by: User | None) -> Invoice:
    """The unsaved Invoice: due and discount dates from the document, else from the terms."""
    invoice, facts, currency = draft.input, draft.facts, draft.currency
    purchase_order = invoice.purchase_order
    due_date = facts.due_date or terms.due_date(invoice.invoice_date)
    if facts.discount_days is not None and facts.discount_percent > 0:
        discount_date: dt.date | None = invoice.invoice_date + dt.timedelta(
            days=facts.discount_days
        )
        discount_amount = round_money(
            draft.payable * facts.discount_percent / Decimal("100"), currency
        )
    else:
        discount_date = terms.discount_date(invoice.invoice_date)
        discount_amount = terms.discount_amount(draft.payable, currency) if discount_date else ZERO
    return Invoice(
        vendor=vendor,
        number=draft.number,
        normalized_number=draft.normalized_number,
        document_type=invoice.document_type,
        source=invoice.source,
        purchase_order=purchase_order,
        po_reference=invoice.po_reference or (purchase_order.number if purchase_order else ""),
        invoice_date=invoice.invoice_date,
        due_date=due_date,
        discount_date=discount_date,
        discount_amount=discount_amount,
        currency=currency,
        net_amount=draft.net,
        tax_amount=draft.tax_amount,
        total_amount=draft.total,
        prepaid_amount=draft.prepaid,
        payable_amount=draft.payable,
        seller_name=facts.seller_name[:200],
        seller_tax_id=facts.seller_tax_id[:40],
        payment_terms_text=facts.payment_terms_text[:500],
        tax_currency=facts.tax_currency[:3],
        source_file=facts.source_file[:255],
        captured_by=by,
        captured_at=invoice.captured_at or timezone.now(),
    )


def _enqueue_match(ids: list[int]) -> None:
    enqueue("payables.tasks.match_invoices", ids)
