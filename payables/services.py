"""Payables state changes: capture, exception resolution and payment runs."""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.money import ZERO, line_amount, round_money, round_quantity
from p2p.numbering import next_number
from payables.models import Invoice, InvoiceException, InvoiceLine, Payment, PaymentRun
from procurement.models import PurchaseOrder
from vendors.models import BankAccount, Vendor

# A variance above this (in the invoice currency) needs an ap_manager who is not the clerk.
VARIANCE_APPROVAL_THRESHOLD = Decimal("500")
# A run above this needs a finance leader, not only an AP manager.
RUN_FINANCE_APPROVAL_THRESHOLD = Decimal("100000")
# Annual cost of capital: a discount is worth taking when its annualised return beats it.
COST_OF_CAPITAL_PCT = Decimal("8")


def normalize_invoice_number(number: str) -> str:
    """'INV-000123', 'inv 123' and 'INV123' are the same invoice number."""
    parts = re.split(r"[\s\-_/.]+", number.strip().upper())
    # Leading zeros are dropped per part: "RE-26-09999" and "re 26 9999" are one number.
    return "".join(re.sub(r"(?<![0-9])0+(?=[0-9])", "", part) for part in parts if part)


def _decimal(value: object, label: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DomainError(f"{label} must be a number, got '{value}'.") from None
    if not number.is_finite():
        raise DomainError(f"{label} must be a number, got '{value}'.")
    return number


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
    tax_amount = round_money(_decimal(tax_amount, "Tax"), currency)
    if tax_amount < 0:
        raise DomainError("Tax cannot be negative; enter a credit note instead.")
    cleaned = []
    for n, line in enumerate(lines, start=1):
        quantity = round_quantity(_decimal(line.quantity, f"Line {n} quantity"))
        unit_price = round_quantity(_decimal(line.unit_price, f"Line {n} unit price"))
        if quantity <= 0 and document is None:
            raise DomainError(f"Line {n}: quantity must be greater than zero.")
        if unit_price < 0:
            raise DomainError(f"Line {n}: unit price cannot be negative.")
        if line.amount is None:
            amount = line_amount(quantity, unit_price, currency)
        else:
            amount = round_money(_decimal(line.amount, f"Line {n} amount"), currency)
        cleaned.append((line, quantity, unit_price, amount))
    net = sum((amount for *_, amount in cleaned), ZERO)
    total = (
        round_money(_decimal(total_amount, "Total"), currency)
        if total_amount is not None
        else net + tax_amount
    )
    facts = document or DocumentFacts()
    prepaid = round_money(_decimal(facts.prepaid_amount, "Prepaid amount"), currency)
    payable = (
        round_money(_decimal(facts.payable_amount, "Payable amount"), currency)
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
                "total": invoice.total_amount,
                "currency": currency,
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


def _may_work_exception(exception: InvoiceException, user: AbstractBaseUser) -> bool:
    if roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER):
        return True
    if exception.owner == InvoiceException.Owner.BUYER:
        return roles.has_role(user, roles.BUYER)
    if exception.owner == InvoiceException.Owner.REQUESTER:
        return exception.owner_user_id == user.pk
    return False


def exception_resolve(
    *,
    exception: InvoiceException,
    by: AbstractBaseUser,
    resolution: str,
    root_cause: str,
    note: str = "",
) -> InvoiceException:
    """Close an exception with a resolution and root cause, then re-match the invoice."""
    valid_resolutions = {
        InvoiceException.Resolution.ACCEPT_VARIANCE,
        InvoiceException.Resolution.REJECT_INVOICE,
        InvoiceException.Resolution.MARK_DUPLICATE,
    }
    if resolution not in valid_resolutions:
        raise DomainError("Choose how the exception was resolved.")
    if root_cause not in InvoiceException.RootCause.values:
        raise DomainError("Choose the root cause, so procurement can fix it at the source.")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=exception.invoice_id)
        exception = InvoiceException.objects.select_for_update().get(pk=exception.pk)
        if not _may_work_exception(exception, by):
            raise NotAllowed("This exception is routed to someone else.")
        if exception.status != InvoiceException.Status.OPEN:
            raise DomainError("This exception is already resolved.")
        large = exception.amount_at_stake > VARIANCE_APPROVAL_THRESHOLD
        if resolution == InvoiceException.Resolution.ACCEPT_VARIANCE and large:
            if not roles.has_role(by, roles.AP_MANAGER):
                raise NotAllowed(
                    f"Variances above {VARIANCE_APPROVAL_THRESHOLD} {invoice.currency} need an AP manager."
                )
            if invoice.captured_by_id == by.pk:
                raise SegregationOfDutiesError(
                    "You captured this invoice; another AP manager must accept its variance."
                )
        exception.resolution = resolution
        exception.root_cause = root_cause
        exception.resolution_note = note
        exception.resolved_by = by
        exception.resolved_at = timezone.now()
        transition(
            exception,
            InvoiceException.Status.RESOLVED,
            by=by,
            note=note,
            extra_fields=[
                "resolution",
                "root_cause",
                "resolution_note",
                "resolved_by",
                "resolved_at",
            ],
            changes={"resolution": resolution, "root_cause": root_cause},
        )
        if resolution in (
            InvoiceException.Resolution.REJECT_INVOICE,
            InvoiceException.Resolution.MARK_DUPLICATE,
        ):
            invoice.exceptions.filter(status=InvoiceException.Status.OPEN).exclude(
                pk=exception.pk
            ).update(
                status=InvoiceException.Status.RESOLVED,
                resolution=resolution,
                root_cause=root_cause,
                resolved_by=by,
                resolved_at=exception.resolved_at,
            )
            transition(
                invoice,
                Invoice.Status.REJECTED,
                by=by,
                note=note or exception.get_resolution_display(),
            )
        else:
            invoice_id = invoice.pk
            transaction.on_commit(lambda: _enqueue_match([invoice_id]))
    return exception


# --- payment runs -------------------------------------------------------------------------


def discount_worth_taking(*, discount_percent: Decimal, discount_days: int, net_days: int) -> bool:
    """2/10 net 30 pays 2% for paying 20 days early: ≈ 37% a year, above any cost of capital."""
    if discount_percent <= 0 or net_days <= discount_days:
        return False
    rate = discount_percent / (Decimal("100") - discount_percent)
    annualised = rate * Decimal("365") / Decimal(net_days - discount_days) * Decimal("100")
    return annualised > COST_OF_CAPITAL_PCT


_PROPOSE = """
WITH candidates AS (
    SELECT i.id, i.vendor_id, i.payable_amount AS total_amount, i.currency, i.due_date,
           CASE WHEN i.discount_date IS NOT NULL AND i.discount_date >= %(pay_date)s
                     AND t.discount_percent > 0 AND t.net_days > t.discount_days
                     AND (t.discount_percent / (100 - t.discount_percent)) * 365
                         / (t.net_days - t.discount_days) * 100 > %(cost_of_capital)s
                THEN i.discount_amount ELSE 0 END AS discount
    FROM payables_invoice i
    JOIN vendors_vendor v ON v.id = i.vendor_id
    LEFT JOIN procurement_purchaseorder po ON po.id = i.purchase_order_id
    JOIN vendors_paymentterms t ON t.id = COALESCE(po.payment_terms_id, v.payment_terms_id)
    WHERE i.status = 'approved' AND i.currency = %(currency)s AND v.status = 'active'
      AND i.document_type = 'invoice'
      AND NOT EXISTS (SELECT 1 FROM vendors_bankaccount b
                      WHERE b.vendor_id = v.id AND b.status = 'pending')
      AND EXISTS (SELECT 1 FROM vendors_bankaccount b
                  WHERE b.vendor_id = v.id AND b.status = 'verified')
      AND NOT EXISTS (SELECT 1 FROM payables_invoiceexception x
                      WHERE x.invoice_id = i.id AND x.status = 'open')
    ORDER BY i.id
    FOR UPDATE OF i SKIP LOCKED
),
chosen AS (
    SELECT * FROM candidates c
    WHERE c.discount > 0
       OR c.due_date <= %(horizon)s
),
paid AS (
    INSERT INTO payables_payment (run_id, invoice_id, vendor_id, currency, gross_amount,
                                  discount_taken, net_amount, status, paid_on)
    SELECT %(run_id)s, id, vendor_id, currency, total_amount, discount, total_amount - discount,
           'scheduled', NULL
    FROM chosen
    RETURNING invoice_id
)
UPDATE payables_invoice SET status = 'scheduled' WHERE id IN (SELECT invoice_id FROM paid)
RETURNING id, number;
"""


def payment_run_propose(
    *, by: AbstractBaseUser, pay_date: dt.date, horizon_date: dt.date, currency: str = "EUR"
) -> PaymentRun:
    """Propose a run: approved invoices due by the horizon plus discounts worth taking."""
    roles.require_role(by, roles.AP_CLERK, roles.AP_MANAGER)
    if horizon_date < pay_date:
        raise DomainError("The horizon must be on or after the pay date.")
    with transaction.atomic():
        run = PaymentRun.objects.create(
            number=next_number("RUN"),
            pay_date=pay_date,
            horizon_date=horizon_date,
            currency=currency.upper(),
            prepared_by=by,
        )
        # Rows another run is proposing right now are skipped, not waited for: each invoice
        # lands in at most one run, and the unique index on live payments backs this up.
        with connection.cursor() as cursor:
            cursor.execute(
                _PROPOSE,
                {
                    "pay_date": pay_date,
                    "horizon": horizon_date,
                    "currency": currency.upper(),
                    "cost_of_capital": COST_OF_CAPITAL_PCT,
                    "run_id": run.pk,
                },
            )
            scheduled = cursor.fetchall()
        if not scheduled:
            raise DomainError("No approved invoices are due by the horizon or worth paying early.")
        _refresh_run_totals(run)
        audit_record(
            obj=run,
            action="created",
            by=by,
            to_status=run.status,
            changes={
                "invoices": len(scheduled),
                "gross": run.gross_amount,
                "discount": run.discount_amount,
            },
        )
        _audit_invoices(scheduled, by, "approved", "scheduled", f"Proposed in {run.number}")
    return run


def _refresh_run_totals(run: PaymentRun) -> None:
    from django.db.models import Sum
    from django.db.models.functions import Coalesce

    totals = run.payments.exclude(status=Payment.Status.VOID).aggregate(
        gross=Coalesce(Sum("gross_amount"), ZERO),
        discount=Coalesce(Sum("discount_taken"), ZERO),
        net=Coalesce(Sum("net_amount"), ZERO),
    )
    run.gross_amount, run.discount_amount, run.net_amount = (
        totals["gross"],
        totals["discount"],
        totals["net"],
    )
    run.save(update_fields=["gross_amount", "discount_amount", "net_amount"])


def _audit_invoices(
    rows: list[tuple[int, str]], by: AbstractBaseUser, old: str, new: str, note: str
) -> None:
    from p2p.audit import audit_bulk
    from p2p.models import AuditEvent

    audit_bulk(
        AuditEvent(
            actor=by,
            actor_name=by.get_username(),
            object_type="payables.invoice",
            object_id=invoice_id,
            object_repr=number,
            action="status",
            from_status=old,
            to_status=new,
            note=note,
        )
        for invoice_id, number in rows
    )


def payment_run_approve(*, run: PaymentRun, by: AbstractBaseUser) -> PaymentRun:
    """Approve a proposed run; never by the person who prepared it."""
    roles.require_role(by, roles.AP_MANAGER, roles.FINANCE_LEADER)
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        if run.prepared_by_id == by.pk:
            raise SegregationOfDutiesError(
                "You prepared this payment run; someone else must approve it."
            )
        if run.net_amount > RUN_FINANCE_APPROVAL_THRESHOLD and not roles.has_role(
            by, roles.FINANCE_LEADER
        ):
            raise NotAllowed(
                f"Runs above {RUN_FINANCE_APPROVAL_THRESHOLD:,} {run.currency} need a finance leader."
            )
        run.approved_by = by
        run.approved_at = timezone.now()
        transition(
            run, PaymentRun.Status.APPROVED, by=by, extra_fields=["approved_by", "approved_at"]
        )
    return run


def payment_run_mark_paid(
    *, run: PaymentRun, by: AbstractBaseUser, paid_on: dt.date | None = None
) -> PaymentRun:
    """The bank executed the run: payments and invoices become paid."""
    roles.require_role(by, roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER)
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        paid_on = paid_on or run.pay_date
        now = timezone.now()
        run.paid_at = now
        transition(run, PaymentRun.Status.PAID, by=by, extra_fields=["paid_at"])
        live = run.payments.filter(status=Payment.Status.SCHEDULED)
        invoice_rows = list(
            Invoice.objects.filter(payments__in=live).order_by("pk").values_list("pk", "number")
        )
        live.update(status=Payment.Status.PAID, paid_on=paid_on)
        Invoice.objects.filter(pk__in=[pk for pk, _ in invoice_rows]).update(
            status=Invoice.Status.PAID,
            paid_at=timezone.make_aware(dt.datetime.combine(paid_on, dt.time(12, 0))),
        )
        _audit_invoices(invoice_rows, by, "scheduled", "paid", f"Paid in {run.number}")
    return run


def payment_run_cancel(*, run: PaymentRun, by: AbstractBaseUser, note: str = "") -> PaymentRun:
    """Drop a run that was not paid; its invoices become payable again."""
    roles.require_role(by, roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER)
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        transition(run, PaymentRun.Status.CANCELLED, by=by, note=note)
        live = run.payments.filter(status=Payment.Status.SCHEDULED)
        invoice_rows = list(
            Invoice.objects.filter(payments__in=live).order_by("pk").values_list("pk", "number")
        )
        live.update(status=Payment.Status.VOID)
        Invoice.objects.filter(pk__in=[pk for pk, _ in invoice_rows]).update(
            status=Invoice.Status.APPROVED
        )
        _audit_invoices(invoice_rows, by, "scheduled", "approved", f"{run.number} cancelled")
    return run


def vendors_on_payment_hold() -> "list[int]":
    """Vendors whose invoices stay out of runs: an unverified bank change or no verified account."""
    pending = BankAccount.objects.filter(status=BankAccount.Status.PENDING).values_list(
        "vendor_id", flat=True
    )
    unverified = Vendor.objects.exclude(
        bank_accounts__status=BankAccount.Status.VERIFIED
    ).values_list("id", flat=True)
    return list(set(pending) | set(unverified))
