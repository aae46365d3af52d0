"""Payment runs up to approval: the money rules, company settings, holds, the proposal, changes by hand, approval and cancellation.

The proposal itself is one SQL statement over every approved invoice, so its cost does not
depend on how many there are. What happens once a run is approved is in
payables.services.settlement (bank files, payment, voids) and payables.services.remittance.
"""

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    CharField,
    Count,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from schwifty import BIC, IBAN
from schwifty.exceptions import SchwiftyException

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.exceptions import DomainError, InvalidTransition, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditAction, AuditEvent
from p2p.money import ZERO, format_money, parse_decimal, round_money
from p2p.numbering import next_number
from p2p.roles import Perm
from payables.models.invoices import Invoice, InvoiceQuerySet, discount_worth_taking
from payables.models.payments import (
    CompanySettings,
    Payment,
    PaymentHold,
    PaymentRun,
    PaymentRunExclusion,
)

# Defaults of the company settings; the settings row is what the rules read.
RUN_FINANCE_APPROVAL_THRESHOLD = Decimal("100000")
COST_OF_CAPITAL_PCT = Decimal("8")
HUNDRED = Decimal("100")
COST_OF_CAPITAL_PLACES = Decimal("0.001")  # CompanySettings.cost_of_capital_pct keeps three
# Audit actions that change what a run pays: whoever did one of them helped prepare it.
COMPOSITION_ACTIONS = (AuditAction.INVOICE_ADDED, AuditAction.INVOICE_REMOVED)


# --- company settings and holds -----------------------------------------------------------


def _clean_variance_thresholds(thresholds: Mapping[str, Decimal]) -> dict[str, str]:
    """Currency codes and amounts as stored: upper-case codes, money rounded, sorted."""
    cleaned = {}
    for code, amount in thresholds.items():
        currency = str(code).strip().upper()
        if len(currency) != 3 or not currency.isalpha():
            raise DomainError(f"'{code}' is not a currency code; use three letters such as EUR.")
        value = round_money(parse_decimal(amount, f"Variance threshold in {currency}"))
        if value < 0:
            raise DomainError(f"The variance threshold in {currency} cannot be negative.")
        cleaned[currency] = str(value)
    return dict(sorted(cleaned.items()))


def _setting_text(value: object) -> str:
    """How a setting reads in the audit trail: thresholds as 'EUR 500.00, JPY 75000.00'."""
    if isinstance(value, dict):
        return ", ".join(f"{code} {amount}" for code, amount in sorted(value.items())) or "none"
    return str(value)


def company_settings_update(
    *,
    by: User,
    company_name: str,
    iban: str,
    bic: str,
    cost_of_capital_pct: Decimal,
    run_approval_threshold: Decimal,
    variance_thresholds: Mapping[str, Decimal] | None = None,
) -> CompanySettings:
    """Finance sets the paying account, the cost of capital, the run approval threshold and
    the variance a clerk may accept per currency (None keeps the variance thresholds)."""
    roles.require(by, Perm.EDIT_PAYMENT_SETTINGS)
    company_name = company_name.strip()
    if not company_name:
        raise DomainError("Enter the company name the bank knows the account by.")
    iban = iban.replace(" ", "").upper()
    bic = bic.replace(" ", "").upper()
    if iban:
        try:
            IBAN(iban)
        except SchwiftyException as exc:
            raise DomainError(f"The IBAN {iban} is not valid: {exc}.") from None
    if bic:
        try:
            BIC(bic)
        except SchwiftyException as exc:
            raise DomainError(f"The BIC {bic} is not valid: {exc}.") from None
    # At the column's three places, so "8" over a stored 8.000 is no change in the trail.
    cost = parse_decimal(cost_of_capital_pct, "Cost of capital").quantize(
        COST_OF_CAPITAL_PLACES, rounding=ROUND_HALF_UP
    )
    if not ZERO <= cost < HUNDRED:
        raise DomainError("Cost of capital is a yearly percentage between 0 and 100.")
    threshold = round_money(parse_decimal(run_approval_threshold, "Approval threshold"))
    if threshold <= 0:
        raise DomainError("The approval threshold must be greater than zero.")
    thresholds = (
        None if variance_thresholds is None else _clean_variance_thresholds(variance_thresholds)
    )
    with transaction.atomic():
        CompanySettings.load()
        row = CompanySettings.objects.select_for_update().get(pk=1)
        new = {
            "company_name": company_name,
            "iban": iban,
            "bic": bic,
            "cost_of_capital_pct": cost,
            "run_approval_threshold": threshold,
            "variance_thresholds": row.variance_thresholds if thresholds is None else thresholds,
        }
        changes = {
            field: [_setting_text(getattr(row, field)), _setting_text(value)]
            for field, value in new.items()
            if _setting_text(getattr(row, field)) != _setting_text(value)
        }
        for field, value in new.items():
            setattr(row, field, value)
        row.updated_by = by
        row.updated_at = timezone.now()
        row.save(update_fields=[*new, "updated_by", "updated_at"])
        if changes:
            audit_record(obj=row, action=AuditAction.UPDATED, by=by, changes=changes)
    return row


def payment_hold_place(*, invoice: Invoice, by: User, reason: str) -> PaymentHold:
    """Keep one invoice out of payment runs until someone releases it."""
    roles.require(by, Perm.HOLD_PAYMENT)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the invoice is held, so whoever releases it knows.")
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status in (Invoice.Status.PAID, Invoice.Status.REJECTED):
            raise DomainError(
                f"Invoice {invoice.number} is {invoice.get_status_display().lower()}; "
                "there is no payment left to hold."
            )
        if invoice.payment_holds.in_force().exists():
            raise DomainError(f"Invoice {invoice.number} is already on hold.")
        hold = PaymentHold.objects.create(
            invoice=invoice, reason=reason[:300], placed_by=by, placed_at=timezone.now()
        )
        audit_record(obj=invoice, action=AuditAction.PAYMENT_HOLD, by=by, note=reason)
    return hold


def payment_hold_release(*, invoice: Invoice, by: User, note: str = "") -> PaymentHold:
    """Let a held invoice into payment runs again."""
    roles.require(by, Perm.HOLD_PAYMENT)
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        hold = invoice.payment_holds.select_for_update().in_force().first()
        if hold is None:
            raise DomainError(f"Invoice {invoice.number} is not on hold.")
        hold.released_by = by
        hold.released_at = timezone.now()
        hold.release_note = note.strip()[:300]
        hold.save(update_fields=["released_by", "released_at", "release_note"])
        audit_record(
            obj=invoice, action=AuditAction.PAYMENT_HOLD_RELEASED, by=by, note=hold.release_note
        )
    return hold


# --- proposal ----------------------------------------------------------------------------

# The proposal's choice over the candidates, in one statement: invoices due by the horizon
# or with a discount worth taking, then as many credit notes as keep each vendor's transfer
# above zero. Which invoices may be paid at all is Invoice.objects.payable(), compiled into
# the first CTE (_candidates_sql); every other value is a bound parameter.
_PROPOSE = """
WITH candidates AS ({candidates}),
invoices AS (
    SELECT c.id, c.vendor_id, c.currency, c.payable_amount AS gross,
           -- Paid inside the window, the discount is taken whether or not it was the reason.
           CASE WHEN c.discount_open THEN c.discount_amount ELSE 0 END AS discount,
           c.discount_amount AS available,
           CASE WHEN c.due_date <= %(horizon)s THEN %(basis_due)s ELSE %(basis_discount)s END
               AS basis
    FROM candidates c
    WHERE c.document_type = %(invoice_type)s
      AND (c.due_date <= %(horizon)s OR (c.discount_open AND c.worth_taking))
),
vendor_net AS (
    SELECT vendor_id, currency, SUM(gross - discount) AS net FROM invoices GROUP BY 1, 2
),
credits AS (
    -- Oldest credit notes first, as many as keep the vendor's transfer above zero.
    SELECT c.id, c.vendor_id, c.currency, c.payable_amount, n.net,
           SUM(c.payable_amount) OVER (PARTITION BY c.vendor_id, c.currency
                                       ORDER BY c.due_date, c.id) AS running
    FROM candidates c
    JOIN vendor_net n ON n.vendor_id = c.vendor_id AND n.currency = c.currency
    WHERE c.document_type = %(credit_note_type)s
),
chosen AS (
    SELECT id, vendor_id, currency, gross, discount, available, basis FROM invoices
    UNION ALL
    SELECT id, vendor_id, currency, -payable_amount, 0, 0, %(basis_credit_note)s FROM credits
    WHERE running < net
),
paid AS (
    INSERT INTO payables_payment (run_id, invoice_id, vendor_id, currency, gross_amount,
                                  discount_taken, discount_available, net_amount, status, basis,
                                  note, end_to_end_id, void_reason, paid_on)
    SELECT %(run_id)s, id, vendor_id, currency, gross, discount, available, gross - discount,
           %(payment_scheduled)s, basis, '', '', '', NULL
    FROM chosen
    RETURNING invoice_id
)
SELECT invoice_id FROM paid;
"""


def _inlined(queryset: QuerySet[Any]) -> str:
    """A queryset's SQL with its values inlined, to embed in a statement with named parameters."""
    sql, params = queryset.query.sql_with_params()
    # compose_sql is the Postgres backend's; the stubs know only the base operations class.
    composed: str = connection.ops.compose_sql(sql, params)  # type: ignore[attr-defined]
    return composed.replace("%", "%%")


def _discount_open(pay_date: dt.date) -> Q:
    """The discount can still be had when the run pays on `pay_date`."""
    return Q(discount_amount__gt=0, discount_date__isnull=False, discount_date__gte=pay_date)


def _in_run_scope(queryset: InvoiceQuerySet, currency: str) -> InvoiceQuerySet:
    return queryset.filter(currency=currency) if currency else queryset


def _candidates_sql(*, pay_date: dt.date, currency: str, cost_of_capital: Decimal) -> str:
    """The payable invoices and credit notes, locked: rows another proposal holds right now
    are skipped, not waited for, so each invoice lands in at most one run (the unique index on
    live payments backs this up)."""
    candidates = (
        _in_run_scope(Invoice.objects.payable(), currency)
        .annotate(
            discount_open=ExpressionWrapper(_discount_open(pay_date), BooleanField()),
            worth_taking=ExpressionWrapper(discount_worth_taking(cost_of_capital), BooleanField()),
        )
        .order_by("pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values(
            "id",
            "vendor_id",
            "currency",
            "document_type",
            "payable_amount",
            "due_date",
            "discount_amount",
            "discount_open",
            "worth_taking",
        )
    )
    return _inlined(candidates)


def _record_left_out(*, run: PaymentRun, horizon_date: dt.date, cost_of_capital: Decimal) -> None:
    """What the proposal would have paid by date but left out, with the first reason that applies."""
    in_run = Payment.objects.filter(
        run=run, vendor=OuterRef("vendor"), currency=OuterRef("currency")
    ).live()
    left_out = (
        _in_run_scope(Invoice.objects.payment_candidates(), run.currency)
        .filter(
            Q(
                Q(due_date__lte=horizon_date)
                | (_discount_open(run.pay_date) & Q(discount_worth_taking(cost_of_capital))),
                document_type=Invoice.DocumentType.INVOICE,
            )
            | Q(Exists(in_run), document_type=Invoice.DocumentType.CREDIT_NOTE)
        )
        .with_payment_stop()
        .annotate(
            reason=Coalesce(
                "payment_stop",
                Case(
                    When(
                        document_type=Invoice.DocumentType.CREDIT_NOTE,
                        then=Value(PaymentRunExclusion.Reason.CREDIT_EXCEEDS),
                    ),
                    output_field=CharField(),
                ),
            )
        )
        .filter(reason__isnull=False)
        .order_by()
        .values("id", "reason")
    )
    insert = "INSERT INTO payables_paymentrunexclusion (run_id, invoice_id, reason, note) "
    select = f"SELECT %(run_id)s, id, reason, '' FROM ({_inlined(left_out)}) AS left_out"  # noqa: S608 - a compiled queryset
    with connection.cursor() as cursor:
        cursor.execute(insert + select, {"run_id": run.pk})


def payment_run_propose(
    *, by: User, pay_date: dt.date, horizon_date: dt.date, currency: str = ""
) -> PaymentRun:
    """Propose a run: invoices due by the horizon plus discounts worth taking, net of credits.

    `currency` narrows the run to one currency; blank takes every currency (one bank file each).
    """
    roles.require(by, Perm.PROPOSE_RUN)
    currency = (currency or "").strip().upper()
    if currency and len(currency) != 3:
        raise DomainError("Currency must be a three-letter ISO code such as EUR, or blank for all.")
    if horizon_date < pay_date:
        raise DomainError("The horizon must be on or after the pay date.")
    company = CompanySettings.load()
    with transaction.atomic():
        run = PaymentRun.objects.create(
            number=next_number("RUN"),
            pay_date=pay_date,
            horizon_date=horizon_date,
            currency=currency,
            prepared_by=by,
        )
        candidates = _candidates_sql(
            pay_date=pay_date, currency=currency, cost_of_capital=company.cost_of_capital_pct
        )
        with connection.cursor() as cursor:
            cursor.execute(
                _PROPOSE.format(candidates=candidates),
                {
                    "horizon": horizon_date,
                    "run_id": run.pk,
                    "invoice_type": Invoice.DocumentType.INVOICE,
                    "credit_note_type": Invoice.DocumentType.CREDIT_NOTE,
                    "basis_due": Payment.Basis.DUE,
                    "basis_discount": Payment.Basis.DISCOUNT,
                    "basis_credit_note": Payment.Basis.CREDIT_NOTE,
                    "payment_scheduled": Payment.Status.SCHEDULED,
                },
            )
            scheduled = [invoice_id for (invoice_id,) in cursor.fetchall()]
        if not scheduled:
            raise DomainError("No approved invoices are due by the horizon or worth paying early.")
        # Before the exclusions are listed: they look at invoices still approved.
        transition_many(
            Invoice.objects.filter(pk__in=scheduled).select_related("vendor"),
            Invoice.Status.SCHEDULED,
            by=by,
            note=f"Proposed in {run.number}",
        )
        _record_left_out(
            run=run, horizon_date=horizon_date, cost_of_capital=company.cost_of_capital_pct
        )
        refresh_run_totals(run)
        audit_record(
            obj=run,
            action=AuditAction.CREATED,
            by=by,
            to_status=run.status,
            changes={
                "invoices": len(scheduled),
                "currency": run.currency or "several",
                "left_out": run.exclusions.count(),
            },
        )
    return run


def refresh_run_totals(run: PaymentRun) -> None:
    """Run amounts from its live payments; left empty when they span several currencies."""
    totals = list(
        run.payments.live()
        .order_by()
        .values("currency")
        .annotate(
            gross=Coalesce(Sum("gross_amount"), ZERO),
            discount=Coalesce(Sum("discount_taken"), ZERO),
            net=Coalesce(Sum("net_amount"), ZERO),
        )
    )
    if len(totals) > 1:
        run.currency = ""
        run.gross_amount = run.discount_amount = run.net_amount = None
    else:
        row = totals[0] if totals else {"gross": ZERO, "discount": ZERO, "net": ZERO}
        run.currency = totals[0]["currency"] if totals else run.currency
        run.gross_amount, run.discount_amount, run.net_amount = (
            row["gross"],
            row["discount"],
            row["net"],
        )
    run.save(update_fields=["currency", "gross_amount", "discount_amount", "net_amount"])


def void_payment(payment: Payment, *, by: User, reason: str) -> None:
    """Void one payment with who, when and why; moving its invoice is the caller's part."""
    payment.void_reason = reason[:300]
    payment.voided_by = by
    payment.voided_at = timezone.now()
    transition(
        payment,
        Payment.Status.VOID,
        by=by,
        note=reason,
        extra_fields=["void_reason", "voided_by", "voided_at"],
    )


def currency_totals(run: PaymentRun) -> list[dict[str, Any]]:
    """Per currency: transfers, invoices, gross, discount taken and missed, net."""
    return list(
        run.payments.live()
        .order_by()
        .values("currency")
        .annotate(
            vendors=Count("vendor", distinct=True),
            invoices=Count("id"),
            gross=Coalesce(Sum("gross_amount"), ZERO),
            discount=Coalesce(Sum("discount_taken"), ZERO),
            available=Coalesce(Sum("discount_available"), ZERO),
            net=Coalesce(Sum("net_amount"), ZERO),
        )
        .order_by("currency")
    )


# --- changing a proposal by hand ------------------------------------------------------------


def _lock_proposed(run: PaymentRun) -> PaymentRun:
    run = PaymentRun.objects.select_for_update().get(pk=run.pk)
    if run.status != PaymentRun.Status.PROPOSED:
        raise InvalidTransition(
            f"{run.number} is {run.get_status_display().lower()}; only a proposed run can change."
        )
    return run


def _vendor_net(run: PaymentRun, vendor_id: int, currency: str) -> Decimal:
    net: Decimal = run.payments.filter(
        vendor_id=vendor_id, currency=currency, status=Payment.Status.SCHEDULED
    ).aggregate(net=Coalesce(Sum("net_amount"), ZERO))["net"]
    return net


def _why_not_payable(invoice: Invoice) -> str:
    """Why this invoice may not go into a run, or '' when it may (Invoice.objects.payable())."""
    if Invoice.objects.payable().filter(pk=invoice.pk).exists():
        return ""
    if invoice.status != Invoice.Status.APPROVED:
        return f"Invoice {invoice.number} is {invoice.get_status_display().lower()}, not approved."
    # The plugin cannot see the column with_payment_stop() annotates.
    stop = (
        Invoice.objects.filter(pk=invoice.pk)
        .with_payment_stop()
        .values_list("payment_stop", flat=True)  # type: ignore[misc]
        .get()
    )
    vendor = invoice.vendor
    messages = {
        PaymentRunExclusion.Reason.VENDOR_NOT_ACTIVE: (
            f"{vendor.name} is {vendor.get_status_display().lower()}; it cannot be paid."
        ),
        PaymentRunExclusion.Reason.BANK_CHANGE_UNVERIFIED: (
            f"{vendor.name} has a bank account change waiting for verification."
        ),
        PaymentRunExclusion.Reason.NO_VERIFIED_ACCOUNT: (
            f"{vendor.name} has no verified bank account."
        ),
        PaymentRunExclusion.Reason.OPEN_EXCEPTION: (
            f"Invoice {invoice.number} is in dispute: it has an open exception."
        ),
        PaymentRunExclusion.Reason.ON_HOLD: f"Invoice {invoice.number} is on payment hold.",
    }
    # Approved, and no stop applies: what keeps it out is that nothing is left to pay.
    return messages.get(stop, f"Invoice {invoice.number} has nothing left to pay.")


def payment_run_add_invoice(*, run: PaymentRun, invoice: Invoice, by: User, reason: str) -> Payment:
    """Put an approved invoice (or credit note) into a proposed run by hand, with a reason."""
    roles.require(by, Perm.PROPOSE_RUN)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the invoice is added, for whoever approves the run.")
    with transaction.atomic():
        run = _lock_proposed(run)
        invoice = Invoice.objects.select_for_update().select_related("vendor").get(pk=invoice.pk)
        problem = _why_not_payable(invoice)
        if problem:
            raise DomainError(problem)
        credit = invoice.document_type == Invoice.DocumentType.CREDIT_NOTE
        discount = (
            invoice.discount_amount
            if not credit and invoice.discount_date and invoice.discount_date >= run.pay_date
            else ZERO
        )
        gross = -invoice.payable_amount if credit else invoice.payable_amount
        if credit and _vendor_net(run, invoice.vendor_id, invoice.currency) + gross <= 0:
            raise DomainError(
                f"Credit note {invoice.number} would take the {invoice.currency} transfer to "
                f"{invoice.vendor.name} to zero or below; add invoices of theirs first."
            )
        try:
            with transaction.atomic():
                payment = Payment.objects.create(
                    run=run,
                    invoice=invoice,
                    vendor=invoice.vendor,
                    currency=invoice.currency,
                    gross_amount=gross,
                    discount_taken=discount,
                    discount_available=ZERO if credit else invoice.discount_amount,
                    net_amount=gross - discount,
                    basis=Payment.Basis.ADDED,
                    note=reason[:300],
                )
        except IntegrityError:
            raise DomainError(f"Invoice {invoice.number} is already in another run.") from None
        transition(invoice, Invoice.Status.SCHEDULED, by=by, note=f"Added to {run.number}")
        run.exclusions.filter(invoice=invoice).delete()
        refresh_run_totals(run)
        audit_record(
            obj=run,
            action=AuditAction.INVOICE_ADDED,
            by=by,
            note=reason,
            changes={
                "invoice": invoice.number,
                "net": format_money(payment.net_amount, payment.currency),
            },
        )
    return payment


def payment_run_remove_invoice(
    *, run: PaymentRun, invoice: Invoice, by: User, reason: str
) -> Payment:
    """Take an invoice out of a proposed run, with a reason; it becomes payable again."""
    roles.require(by, Perm.PROPOSE_RUN)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the invoice is taken out, for whoever approves the run.")
    with transaction.atomic():
        run = _lock_proposed(run)
        payment = (
            run.payments.select_for_update()
            .filter(invoice_id=invoice.pk, status=Payment.Status.SCHEDULED)
            .first()
        )
        if payment is None:
            raise DomainError(f"Invoice {invoice.number} is not in {run.number}.")
        remaining = _vendor_net(run, payment.vendor_id, payment.currency) - payment.net_amount
        credits_left = run.payments.filter(
            vendor_id=payment.vendor_id,
            currency=payment.currency,
            status=Payment.Status.SCHEDULED,
            net_amount__lt=0,
        ).exists()
        if payment.net_amount > 0 and remaining <= 0 and credits_left:
            raise DomainError(
                f"Without invoice {invoice.number} the credit notes would take the transfer to "
                f"{payment.vendor.name} to zero or below; remove the credit notes first."
            )
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        void_payment(payment, by=by, reason=reason)
        transition(invoice, Invoice.Status.APPROVED, by=by, note=f"Removed from {run.number}")
        PaymentRunExclusion.objects.update_or_create(
            run=run,
            invoice=invoice,
            defaults={"reason": PaymentRunExclusion.Reason.REMOVED, "note": reason[:300]},
        )
        refresh_run_totals(run)
        audit_record(
            obj=run,
            action=AuditAction.INVOICE_REMOVED,
            by=by,
            note=reason,
            changes={
                "invoice": invoice.number,
                "net": format_money(payment.net_amount, payment.currency),
            },
        )
    return payment


# --- approval ------------------------------------------------------------------------------


def payment_run_approve(*, run: PaymentRun, by: User) -> PaymentRun:
    """Approve a proposed run; never by someone who prepared or changed it."""
    roles.require(by, Perm.APPROVE_RUN)
    company = CompanySettings.load()
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        if run.prepared_by_id == by.pk:
            raise SegregationOfDutiesError(
                "You prepared this payment run; someone else must approve it."
            )
        if AuditEvent.objects.filter(
            object_type="payables.paymentrun",
            object_id=run.pk,
            actor=by,
            action__in=COMPOSITION_ACTIONS,
        ).exists():
            raise SegregationOfDutiesError(
                "You added or removed invoices in this run; someone else must approve it."
            )
        totals = currency_totals(run)
        if run.status == PaymentRun.Status.PROPOSED and not totals:
            raise DomainError("This run has no payments left; cancel it instead.")
        threshold = company.run_approval_threshold
        above = [row for row in totals if row["net"] > threshold]
        if above and not roles.may(by, Perm.APPROVE_LARGE_RUN):
            amounts = ", ".join(f"{row['net']:,} {row['currency']}" for row in above)
            raise NotAllowed(
                f"Runs above {threshold:,} in any currency need a finance leader ({amounts})."
            )
        run.approved_by = by
        run.approved_at = timezone.now()
        transition(
            run, PaymentRun.Status.APPROVED, by=by, extra_fields=["approved_by", "approved_at"]
        )
    return run


def payment_run_cancel(*, run: PaymentRun, by: User, note: str = "") -> PaymentRun:
    """Drop a run that never went to the bank; its invoices become payable again."""
    roles.require(by, Perm.OPERATE_RUN)
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        if run.status == PaymentRun.Status.SENT:
            raise InvalidTransition(
                f"{run.number} was sent to the bank, so it cannot be cancelled: the bank may "
                "still pay it. Ask the bank to confirm a payment was not executed, then an AP "
                "manager who did not prepare the run voids that payment with a reason."
            )
        transition(run, PaymentRun.Status.CANCELLED, by=by, note=note)
        live = run.payments.filter(status=Payment.Status.SCHEDULED)
        # The invoices first: once void, the payments no longer say which ones were in the run.
        transition_many(
            Invoice.objects.filter(payments__in=live).select_related("vendor"),
            Invoice.Status.APPROVED,
            by=by,
            note=f"{run.number} cancelled",
        )
        transition_many(
            live.select_related("run", "invoice__vendor"),
            Payment.Status.VOID,
            by=by,
            values={
                "void_reason": (note or f"{run.number} cancelled")[:300],
                "voided_by": by,
                "voided_at": timezone.now(),
            },
            note=note or f"{run.number} cancelled",
        )
    return run
