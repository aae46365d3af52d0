"""Settling an approved run: bank files, a replacement file, payment, the bank's confirmation and voids."""

import datetime as dt

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.exceptions import DomainError, InvalidTransition, SegregationOfDutiesError
from p2p.models import AuditAction, AuditEvent
from p2p.money import format_money
from p2p.roles import Perm
from payables import bankfile
from payables.models.invoices import Invoice
from payables.models.payments import (
    BankConfirmation,
    CompanySettings,
    Payment,
    PaymentExport,
    PaymentRun,
)
from payables.services.payments import COMPOSITION_ACTIONS, refresh_run_totals, void_payment
from vendors.models import Vendor


def payment_run_export(*, run: PaymentRun, by: User) -> list[PaymentExport]:
    """Write the bank files (a schema-checked pain.001 per currency, and a CSV); the run is sent.

    Written once: a second upload of a fresh file would carry a new MsgId, which the bank does
    not recognise as a duplicate, and pay twice. A lost or broken file is replaced instead
    (`bank_file_replace`). Nothing is kept if a check fails.
    """
    roles.require(by, Perm.OPERATE_RUN)
    company = CompanySettings.load()
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        if run.status == PaymentRun.Status.SENT:
            raise InvalidTransition(
                f"{run.number} was already sent and its bank files are written once: download "
                "them again as they were, or an AP manager replaces a file with a reason."
            )
        if run.status != PaymentRun.Status.APPROVED:
            raise InvalidTransition(
                f"{run.number} is {run.get_status_display().lower()}; only an approved run "
                "is sent to the bank."
            )
        transfers = bankfile.transfers_of(run)
        if not transfers:
            raise DomainError(f"{run.number} has no payments to send.")
        now = timezone.now()
        exports = bankfile.build_files(run=run, company=company, transfers=transfers, at=now)
        for export in exports:
            export.created_by = by
            export.created_at = now
        PaymentExport.objects.bulk_create(exports)
        for transfer in transfers:
            run.payments.filter(pk__in=transfer.payment_ids).update(
                end_to_end_id=transfer.end_to_end_id
            )
        run.sent_at = now
        transition(
            run,
            PaymentRun.Status.SENT,
            by=by,
            extra_fields=["sent_at"],
            changes={
                "files": ", ".join(export.filename for export in exports),
                "message_ids": ", ".join(e.message_id for e in exports if e.message_id),
                "sha256": ", ".join(export.sha256 for export in exports),
            },
        )
    return exports


def bank_file_replace(*, export: PaymentExport, by: User, reason: str) -> PaymentExport:
    """Re-issue one bank file of a sent run with the same MsgId, PmtInfId and EndToEndIds.

    For a file the bank lost or could not read: if the bank did receive the first one, it
    refuses the replacement as a duplicate rather than paying twice. The earlier file is kept,
    marked superseded.
    """
    roles.require(by, Perm.VOID_PAYMENT)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the file is replaced, e.g. the bank could not read the upload.")
    company = CompanySettings.load()
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=export.run_id)
        export = PaymentExport.objects.select_for_update().select_related("run").get(pk=export.pk)
        if run.status != PaymentRun.Status.SENT:
            raise InvalidTransition(
                f"{run.number} is {run.get_status_display().lower()}; only the files of a run "
                "sent to the bank and not yet paid can be replaced."
            )
        if export.status != PaymentExport.Status.CURRENT:
            raise DomainError(
                f"{export.filename} was already replaced; replace the current file instead."
            )
        if export.debtor_iban and export.debtor_iban != company.iban:
            raise DomainError(
                f"{export.filename} debits {export.debtor_iban} but the company account is now "
                f"{company.iban or 'not set'}; a replacement must debit the same account."
            )
        now = timezone.now()
        replacement = bankfile.rebuild_file(
            export=export, company=company, transfers=bankfile.transfers_of(run), at=now
        )
        export.superseded_at = now
        transition(
            export,
            PaymentExport.Status.SUPERSEDED,
            by=by,
            note=reason,
            extra_fields=["superseded_at"],
        )
        replacement.replace_reason = reason[:300]
        replacement.created_by = by
        replacement.created_at = now
        replacement.save()
        audit_record(
            obj=run,
            action=AuditAction.BANK_FILE_REPLACED,
            by=by,
            note=reason,
            changes={
                "file": export.filename,
                "replacement": replacement.filename,
                "message_id": replacement.message_id,
                "sha256": replacement.sha256,
            },
        )
    return replacement


def payment_run_mark_paid(
    *, run: PaymentRun, by: User, paid_on: dt.date | None = None
) -> PaymentRun:
    """The bank executed the run: payments and invoices become paid on `paid_on`."""
    roles.require(by, Perm.OPERATE_RUN)
    with transaction.atomic():
        run = PaymentRun.objects.select_for_update().get(pk=run.pk)
        unpaid = [
            confirmation
            for confirmation in run.bank_confirmations.select_related("vendor").filter(
                outcome=BankConfirmation.Outcome.NOT_EXECUTED
            )
            if run.payments.filter(
                vendor_id=confirmation.vendor_id,
                currency=confirmation.currency,
                status=Payment.Status.SCHEDULED,
            ).exists()
        ]
        if unpaid:
            names = ", ".join(f"{c.currency} to {c.vendor.name}" for c in unpaid)
            raise DomainError(
                f"The bank confirmed these transfers were not executed: {names}. "
                "Void their payments before marking the run paid."
            )
        paid_on = paid_on or run.pay_date
        if paid_on > timezone.localdate():
            raise DomainError(
                f"{paid_on:%d %b %Y} is in the future; mark the run paid once the bank paid it."
            )
        run.paid_at = timezone.now()
        transition(
            run,
            PaymentRun.Status.PAID,
            by=by,
            extra_fields=["paid_at"],
            changes={"paid_on": paid_on},
        )
        live = run.payments.filter(status=Payment.Status.SCHEDULED)
        transition_many(
            Invoice.objects.filter(payments__in=live).select_related("vendor"),
            Invoice.Status.PAID,
            by=by,
            values={"paid_at": timezone.make_aware(dt.datetime.combine(paid_on, dt.time(12, 0)))},
            note=f"Paid in {run.number}",
        )
        transition_many(
            live.select_related("run", "invoice__vendor"),
            Payment.Status.PAID,
            by=by,
            values={"paid_on": paid_on},
            note=f"Paid in {run.number}",
        )
    return run


def _lock_gone_to_bank(run_pk: int, otherwise: str) -> PaymentRun:
    """Lock a run that was sent to the bank (sent or paid), or refuse saying `otherwise`."""
    run = PaymentRun.objects.select_for_update().get(pk=run_pk)
    if run.status not in (PaymentRun.Status.SENT, PaymentRun.Status.PAID):
        raise InvalidTransition(f"{run.number} is {run.get_status_display().lower()}; {otherwise}")
    return run


def transfer_bank_confirm(
    *,
    run: PaymentRun,
    vendor: Vendor,
    currency: str,
    outcome: str,
    reference: str,
    by: User,
) -> BankConfirmation:
    """Record that the bank confirmed a transfer of the run was not executed, or came back.

    The step a bank status report will feed later; until then someone enters what the bank
    said and its reference. It voids nothing by itself.
    """
    roles.require(by, Perm.OPERATE_RUN)
    reference = reference.strip()
    if not reference:
        raise DomainError(
            "Enter the bank's reference for its answer: the status report, ticket or return code."
        )
    if outcome not in BankConfirmation.Outcome.values:
        raise DomainError("Choose what the bank confirmed: not executed, or returned.")
    currency = currency.strip().upper()
    with transaction.atomic():
        run = _lock_gone_to_bank(run.pk, "the bank only answers for a run that was sent to it.")
        if (
            run.status == PaymentRun.Status.PAID
            and outcome == BankConfirmation.Outcome.NOT_EXECUTED
        ):
            raise DomainError(
                f"{run.number} is marked paid; a paid transfer can only come back (returned)."
            )
        transfer = (
            run.payments.filter(vendor=vendor, currency=currency).live().order_by("pk").first()
        )
        if transfer is None:
            raise DomainError(f"{run.number} has no live {currency} payment to {vendor.name}.")
        try:
            with transaction.atomic():
                confirmation = BankConfirmation.objects.create(
                    run=run,
                    vendor=vendor,
                    currency=currency,
                    end_to_end_id=transfer.end_to_end_id,
                    outcome=outcome,
                    reference=reference[:140],
                    recorded_by=by,
                    recorded_at=timezone.now(),
                )
        except IntegrityError:
            raise DomainError(
                f"The bank's answer on the {currency} transfer to {vendor.name} is already recorded."
            ) from None
        audit_record(
            obj=run,
            action=AuditAction.BANK_CONFIRMED,
            by=by,
            note=reference,
            changes={
                "vendor": vendor.name,
                "currency": currency,
                "end_to_end_id": confirmation.end_to_end_id,
                "outcome": confirmation.get_outcome_display(),
            },
        )
    return confirmation


def payment_void(*, payment: Payment, by: User, reason: str) -> Payment:
    """Void one payment of a run sent to the bank; its invoice becomes payable again.

    Only once the bank confirmed the transfer was not executed or came back, and only by an
    AP manager who did not prepare the run: otherwise the invoice could be paid twice.
    """
    roles.require(by, Perm.VOID_PAYMENT)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the payment is voided, for whoever reads the run later.")
    with transaction.atomic():
        run = _lock_gone_to_bank(
            payment.run_id,
            "only a payment sent to the bank can fail or come back. "
            "Remove the invoice from the run instead.",
        )
        if (
            run.prepared_by_id == by.pk
            or AuditEvent.objects.filter(
                object_type="payables.paymentrun",
                object_id=run.pk,
                actor=by,
                action__in=COMPOSITION_ACTIONS,
            ).exists()
        ):
            raise SegregationOfDutiesError(
                "You prepared or changed this payment run; another AP manager voids its payments."
            )
        payment = Payment.objects.select_for_update().select_related("vendor").get(pk=payment.pk)
        if payment.status == Payment.Status.VOID:
            raise DomainError("This payment is already void.")
        confirmation = run.bank_confirmations.filter(
            vendor_id=payment.vendor_id, currency=payment.currency
        ).first()
        if confirmation is None:
            raise DomainError(
                f"The bank has not confirmed that the {payment.currency} transfer to "
                f"{payment.vendor.name} was not executed. Record the bank's answer and its "
                "reference first."
            )
        invoice = Invoice.objects.select_for_update().get(pk=payment.invoice_id)
        void_payment(payment, by=by, reason=reason)
        invoice.paid_at = None
        transition(
            invoice,
            Invoice.Status.APPROVED,
            by=by,
            note=f"Payment in {run.number} voided: {reason} (bank: {confirmation.reference})",
            extra_fields=["paid_at"],
        )
        refresh_run_totals(run)
        audit_record(
            obj=run,
            action=AuditAction.PAYMENT_VOIDED,
            by=by,
            note=reason,
            changes={
                "invoice": invoice.number,
                "vendor": payment.vendor.name,
                "net": format_money(payment.net_amount, payment.currency),
                "bank": f"{confirmation.get_outcome_display()}, {confirmation.reference}",
            },
        )
    return payment


# --- remittance advice ---------------------------------------------------------------------
