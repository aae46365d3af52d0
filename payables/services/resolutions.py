"""Resolving an exception: accept, reject, duplicate, credit notes, PO corrections, receipts, recoding.

Every resolution is one transaction: lock the invoice, then the exception (the matching
engine locks invoices first too), check who may act and that nobody else holds the claim,
apply the change, close the exception with root cause, resolver and time, write the audit
trail, and hand the invoice back to the engine once committed. If the problem is still
there, the engine opens a fresh exception; the closed one keeps its history.
"""

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import models, transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.celery import enqueue
from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditAction
from p2p.money import ZERO, format_money, parse_decimal, round_money, round_quantity
from p2p.roles import Perm
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, InvoiceLine
from payables.services.exceptions import (
    person_name,
    require_action,
    variance_needs_manager,
    variance_threshold,
)
from procurement.models import CostCenter, GLAccount, PurchaseOrder, PurchaseOrderLine
from procurement.services.receipts import ReceiptLineInput, receipt_post
from procurement.services.revisions import PoLineChange, po_revise

# Rounding slack when a credit note is compared with the amount it has to settle.
CREDIT_TOLERANCE = Decimal("0.01")

Status = InvoiceException.Status
Resolution = InvoiceException.Resolution
RootCause = InvoiceException.RootCause


def require_root_cause(value: str) -> str:
    if value not in RootCause.values:
        raise DomainError("Choose the root cause, so procurement can fix it at the source.")
    return value


# --- the shared steps of every resolution --------------------------------------------------


class _Actor(TypedDict):
    """The arguments every resolution service takes first."""

    exception: InvoiceException
    by: User


def _billed_po_line(exception: InvoiceException) -> PurchaseOrderLine:
    """The PO line the exception's invoice line bills (require_action refused the actions
    that need one when there is none)."""
    line = exception.invoice_line
    if line is None or line.po_line is None:
        raise DomainError("This invoice line bills no PO line; re-code it to one first.")
    return line.po_line


def _lock(
    exception: InvoiceException, by: User, action: str, *, extra_invoice_ids: Iterable[int] = ()
) -> tuple[Invoice, InvoiceException, dict[int, Invoice]]:
    """Lock the invoice(s) in id order, then the exception; refuse if it is not this user's turn."""
    ids = sorted({exception.invoice_id, *extra_invoice_ids})
    invoices = {
        invoice.pk: invoice
        for invoice in Invoice.objects.select_for_update(of=("self",))
        .select_related("vendor", "purchase_order")
        .filter(pk__in=ids)
        .order_by("pk")
    }
    locked = (
        InvoiceException.objects.select_for_update(of=("self",))
        .select_related("invoice_line", "invoice_line__po_line", "claimed_by")
        .get(pk=exception.pk)
    )
    invoice = invoices[locked.invoice_id]
    locked.invoice = invoice
    if locked.status == Status.RESOLVED:
        raise DomainError("This exception is already resolved.")
    require_action(locked, by, action)
    now = timezone.now()
    if locked.is_claimed_by_other(by, now):
        until = timezone.localtime(locked.claimed_until)
        raise NotAllowed(
            f"{person_name(locked.claimed_by)} is working on this exception until {until:%H:%M}; "
            "wait for them to release it."
        )
    return invoice, locked, invoices


def _close(
    invoice: Invoice,
    exception: InvoiceException,
    by: User,
    *,
    resolution: str,
    root_cause: str,
    note: str = "",
    changes: Mapping[str, object] | None = None,
    extra_fields: tuple[str, ...] = (),
) -> None:
    exception.resolution = resolution
    exception.root_cause = root_cause
    exception.resolution_note = note
    exception.resolved_by = by
    exception.resolved_at = timezone.now()
    exception.claimed_by = None
    exception.claimed_until = None
    transition(
        exception,
        Status.RESOLVED,
        by=by,
        note=note,
        extra_fields=[
            "resolution",
            "root_cause",
            "resolution_note",
            "resolved_by",
            "resolved_at",
            "claimed_by",
            "claimed_until",
            *extra_fields,
        ],
        changes={"resolution": resolution, "root_cause": root_cause, **(changes or {})},
    )


def rematch_on_commit(invoice_ids: list[int]) -> None:
    """Hand invoices back to the engine once the transaction commits (never inside it)."""
    ids = sorted(set(invoice_ids))
    if ids:
        transaction.on_commit(lambda: enqueue("payables.tasks.match_invoices", ids))


def _email_vendor(invoice: Invoice, subject: str, body: str) -> str:
    """Mail the vendor's contact after commit; returns the address used ('' when none)."""
    address = invoice.vendor.email
    if address:
        transaction.on_commit(
            lambda: send_mail(
                subject=subject,
                message=body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[address],
                fail_silently=True,
            )
        )
    return address


# --- resolutions ---------------------------------------------------------------------------


def _check_variance_authority(invoice: Invoice, amount: Decimal, by: User) -> None:
    """Above the threshold only an AP manager who did not capture the invoice may accept."""
    if not variance_needs_manager(amount, invoice.currency):
        return
    threshold = variance_threshold(invoice.currency)
    if not roles.may(by, Perm.ACCEPT_LARGE_VARIANCE):
        if threshold is None:
            raise NotAllowed(
                f"No variance threshold is set for {invoice.currency}, so only an AP manager "
                "can accept this variance; a finance leader sets thresholds in Payment settings."
            )
        raise NotAllowed(
            f"Variances above {format_money(threshold, invoice.currency)} need an AP manager."
        )
    if invoice.captured_by_id == by.pk:
        raise SegregationOfDutiesError(
            "You captured this invoice; another AP manager must accept its variance."
        )


def exception_accept_variance(
    *,
    exception: InvoiceException,
    by: User,
    root_cause: str,
    note: str = "",
    enqueue: bool = True,
) -> InvoiceException:
    """Let the problem through; the engine ignores it from now on and approves the invoice."""
    root_cause = require_root_cause(root_cause)
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "accept_variance")
        _check_variance_authority(invoice, exception.amount_at_stake, by)
        _close(
            invoice,
            exception,
            by,
            resolution=Resolution.ACCEPT_VARIANCE,
            root_cause=root_cause,
            note=note,
        )
        if enqueue:
            rematch_on_commit([invoice.pk])
    return exception


def _end_invoice(
    invoice: Invoice,
    exception: InvoiceException,
    by: User,
    *,
    resolution: str,
    root_cause: str,
    note: str,
    changes: Mapping[str, object] | None = None,
) -> None:
    """Close this exception and every other unresolved one on the invoice; reject the invoice."""
    _close(
        invoice,
        exception,
        by,
        resolution=resolution,
        root_cause=root_cause,
        note=note,
        changes=changes,
    )
    transition_many(
        invoice.exceptions.unresolved().exclude(pk=exception.pk).select_related("invoice__vendor"),
        Status.RESOLVED,
        by=by,
        values={
            "resolution": resolution,
            "root_cause": root_cause,
            "resolution_note": note,
            "resolved_by": by,
            "resolved_at": exception.resolved_at,
            "claimed_by": None,
            "claimed_until": None,
        },
        changes={"resolution": resolution, "root_cause": root_cause},
        note=f"Invoice {invoice.number}: {Resolution(resolution).label.lower()}",
    )
    transition(invoice, Invoice.Status.REJECTED, by=by, note=note or Resolution(resolution).label)


def exception_reject_invoice(
    *,
    exception: InvoiceException,
    by: User,
    reason: str,
    root_cause: str,
) -> InvoiceException:
    """Send the invoice back: it is rejected, and the vendor's contact gets the reason."""
    root_cause = require_root_cause(root_cause)
    reason = reason.strip()
    if not reason:
        raise DomainError("Give the reason for rejecting; it is sent to the vendor.")
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "reject_invoice")
        emailed = _email_vendor(
            invoice,
            f"Invoice {invoice.number} rejected",
            f"Dear {invoice.vendor.name},\n\nWe cannot process your invoice {invoice.number} "
            f"of {invoice.invoice_date:%d %b %Y} ({invoice.total_amount} {invoice.currency}).\n\n"
            f"Reason: {reason}\n\nPlease send a corrected invoice or a credit note.\n",
        )
        _end_invoice(
            invoice,
            exception,
            by,
            resolution=Resolution.REJECT_INVOICE,
            root_cause=root_cause,
            note=reason,
            changes={"emailed_to": emailed or "no email on file"},
        )
    return exception


def exception_mark_duplicate(
    *,
    exception: InvoiceException,
    by: User,
    root_cause: str = RootCause.DUPLICATE_SUBMISSION,
    note: str = "",
) -> InvoiceException:
    """The invoice was already billed: reject it as a duplicate so it is never paid twice."""
    root_cause = require_root_cause(root_cause)
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "mark_duplicate")
        _end_invoice(
            invoice,
            exception,
            by,
            resolution=Resolution.MARK_DUPLICATE,
            root_cause=root_cause,
            note=note,
        )
    return exception


def exception_request_credit_note(
    *,
    exception: InvoiceException,
    by: User,
    root_cause: str,
    amount: Decimal | None = None,
    message: str = "",
) -> InvoiceException:
    """Ask the vendor for a credit note; the exception waits for it (and off the SLA clock)."""
    root_cause = require_root_cause(root_cause)
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "request_credit_note")
        amount = round_money(
            parse_decimal(amount if amount is not None else exception.amount_at_stake, "Amount"),
            invoice.currency,
        )
        if amount <= 0:
            raise DomainError("The credit note amount must be greater than zero.")
        message = message.strip()
        line = exception.invoice_line
        emailed = _email_vendor(
            invoice,
            f"Credit note requested for invoice {invoice.number}",
            f"Dear {invoice.vendor.name},\n\nPlease issue a credit note of {amount} "
            f"{invoice.currency} for invoice {invoice.number}"
            f"{f' line {line.line_no} ({line.description})' if line else ''}"
            f"{f', purchase order {invoice.purchase_order.number}' if invoice.purchase_order else ''}"
            f".\n\nWhy: {exception.detail or exception.get_type_display()}.\n"
            f"{f'{chr(10)}{message}{chr(10)}' if message else ''}",
        )
        exception.root_cause = root_cause
        exception.credit_requested_at = timezone.now()
        exception.credit_requested_by = by
        exception.credit_request_amount = amount
        exception.claimed_by = None
        exception.claimed_until = None
        transition(
            exception,
            Status.WAITING_VENDOR,
            by=by,
            note=message,
            extra_fields=[
                "root_cause",
                "credit_requested_at",
                "credit_requested_by",
                "credit_request_amount",
                "claimed_by",
                "claimed_until",
            ],
            changes={
                "credit_note_amount": amount,
                "root_cause": root_cause,
                "emailed_to": emailed or "no email on file",
            },
        )
    return exception


def credit_notes_for(exception: InvoiceException) -> models.QuerySet[Invoice]:
    """Credit notes that can settle it: same vendor and PO, not rejected, newest first."""
    invoice = exception.invoice
    return (
        Invoice.objects.filter(
            vendor_id=invoice.vendor_id,
            purchase_order_id=invoice.purchase_order_id,
            document_type=Invoice.DocumentType.CREDIT_NOTE,
            currency=invoice.currency,
        )
        .exclude(status=Invoice.Status.REJECTED)
        .order_by("-captured_at", "-id")
    )


def exception_settle_credit_note(
    *,
    exception: InvoiceException,
    by: User,
    credit_note: Invoice,
    note: str = "",
) -> InvoiceException:
    """The vendor's credit note covers the variance: close the exception against it.

    Recorded as an accepted variance with the credit note beside it, because that is what
    the engine reads to let this exact problem through on the re-match; no manager is
    needed since the vendor, not the company, absorbs the difference.
    """
    with transaction.atomic():
        invoice, exception, invoices = _lock(
            exception, by, "settle_credit_note", extra_invoice_ids=[credit_note.pk]
        )
        credit = invoices[credit_note.pk]
        if (
            credit.document_type != Invoice.DocumentType.CREDIT_NOTE
            or credit.vendor_id != invoice.vendor_id
            or credit.purchase_order_id != invoice.purchase_order_id
            or credit.currency != invoice.currency
            or credit.status == Invoice.Status.REJECTED
        ):
            raise DomainError(
                f"{credit.number} is not a live credit note from {invoice.vendor.name} "
                f"on the same purchase order in {invoice.currency}."
            )
        used = InvoiceException.objects.filter(credit_note=credit).aggregate(
            total=Coalesce(Sum("amount_at_stake"), ZERO)
        )["total"]
        left = credit.net_amount - used
        if left + CREDIT_TOLERANCE < exception.amount_at_stake:
            raise DomainError(
                f"Credit note {credit.number} leaves {left} {credit.currency} to settle, less than "
                f"the {exception.amount_at_stake} {invoice.currency} at stake. Ask the vendor for "
                "the rest or accept the difference as a variance."
            )
        exception.credit_note = credit
        _close(
            invoice,
            exception,
            by,
            resolution=Resolution.ACCEPT_VARIANCE,
            root_cause=exception.root_cause
            or exception.suggested_root_cause
            or RootCause.OVER_BILLING,
            note=note or f"Settled by credit note {credit.number}",
            changes={"credit_note": credit.number},
            extra_fields=("credit_note",),
        )
        rematch_on_commit([invoice.pk])
    return exception


def exception_stop_waiting(
    *, exception: InvoiceException, by: User, note: str = ""
) -> InvoiceException:
    """The vendor will not send a credit note: the exception goes back to the open queue."""
    with transaction.atomic():
        _invoice, exception, _ = _lock(exception, by, "stop_waiting")
        transition(exception, Status.OPEN, by=by, note=note or "Stopped waiting for the vendor")
    return exception


def exception_correct_po(
    *,
    exception: InvoiceException,
    by: User,
    reason: str,
    root_cause: str = RootCause.STALE_PO_PRICE,
    unit_price: Decimal | None = None,
    quantity: Decimal | None = None,
) -> InvoiceException:
    """The PO was wrong: revise its line (a new PO revision) and let the re-match confirm it."""
    root_cause = require_root_cause(root_cause)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the PO changes; the revision and the vendor's copy show it.")
    if unit_price is None and quantity is None:
        raise DomainError("Enter the corrected unit price or quantity.")
    if unit_price is not None:
        unit_price = round_quantity(parse_decimal(unit_price, "Unit price"))
        if unit_price < 0:
            raise DomainError("The unit price cannot be negative.")
    if quantity is not None:
        quantity = round_quantity(parse_decimal(quantity, "Quantity"))
        if quantity <= 0:
            raise DomainError("The quantity must be greater than zero.")
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "correct_po")
        po_line = _billed_po_line(exception)
        new_price = unit_price if unit_price is not None else po_line.unit_price
        new_quantity = quantity if quantity is not None else po_line.quantity
        if new_price == po_line.unit_price and new_quantity == po_line.quantity:
            raise DomainError(
                f"Line {po_line.line_no} of the PO already says {po_line.quantity.normalize():f} "
                f"at {po_line.unit_price.normalize():f}; enter what it should say."
            )
        po = PurchaseOrder.objects.get(pk=po_line.purchase_order_id)
        po_revise(
            po=po,
            by=by,
            lines=[
                PoLineChange(po_line_id=po_line.pk, quantity=new_quantity, unit_price=new_price)
            ],
            reason=reason,
        )
        po.refresh_from_db(fields=["awaiting_reapproval"])
        if po.awaiting_reapproval:
            # The change raises the PO above what was approved: its lines change only once an
            # approver agrees, and that change re-matches the invoice, which clears this.
            exception.root_cause = root_cause
            exception.save(update_fields=["root_cause"])
            audit_record(
                obj=exception,
                action=AuditAction.PO_CHANGE_SUBMITTED,
                by=by,
                note=reason,
                changes={"purchase_order": po.number, "root_cause": root_cause},
            )
            return exception
        changes = {"purchase_order": po.number, "po_line": po_line.line_no}
        if new_price != po_line.unit_price:
            changes["unit_price"] = (
                f"{po_line.unit_price.normalize():f} → {new_price.normalize():f}"
            )
        if new_quantity != po_line.quantity:
            changes["quantity"] = f"{po_line.quantity.normalize():f} → {new_quantity.normalize():f}"
        _close(
            invoice,
            exception,
            by,
            resolution=Resolution.PO_CORRECTED,
            root_cause=root_cause,
            note=reason,
            changes=changes,
        )
        rematch_on_commit([invoice.pk])
    return exception


def exception_post_receipt(
    *,
    exception: InvoiceException,
    by: User,
    quantity: Decimal,
    received_on: dt.date | None = None,
    note: str = "",
) -> InvoiceException:
    """Record what arrived on the PO line; the receipt's re-match confirms the invoice."""
    quantity = round_quantity(parse_decimal(quantity, "Received quantity"))
    if quantity <= 0:
        raise DomainError("Enter the quantity that arrived; it must be greater than zero.")
    if received_on is not None and received_on > timezone.localdate():
        raise DomainError("A receipt cannot be dated in the future.")
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "post_receipt")
        po_line = _billed_po_line(exception)
        po = PurchaseOrder.objects.select_related("request").get(pk=po_line.purchase_order_id)
        receipt = receipt_post(
            po=po,
            by=by,
            lines=[ReceiptLineInput(po_line_id=po_line.pk, received_qty=quantity)],
            received_on=received_on,
            note=note or f"Receipt for invoice {invoice.number}",
        )
        _close(
            invoice,
            exception,
            by,
            resolution=Resolution.RECEIPT_POSTED,
            root_cause=RootCause.MISSING_RECEIPT,
            note=note,
            changes={"receipt": receipt.number, "received": f"{quantity.normalize():f}"},
        )
        rematch_on_commit([invoice.pk])
    return exception


def exception_recode(
    *,
    exception: InvoiceException,
    by: User,
    root_cause: str = RootCause.BAD_CODING,
    po_line: PurchaseOrderLine | None = None,
    gl_account: GLAccount | None = None,
    cost_center: CostCenter | None = None,
    note: str = "",
) -> InvoiceException:
    """Fix the line's coding: the PO line it bills, its GL account or cost center."""
    root_cause = require_root_cause(root_cause)
    with transaction.atomic():
        invoice, exception, _ = _lock(exception, by, "recode")
        if exception.invoice_line_id is None:  # require_action refused it already
            raise DomainError("This exception is about the whole invoice, not one of its lines.")
        line = (
            InvoiceLine.objects.select_for_update(of=("self",))
            .select_related("po_line", "gl_account", "cost_center")
            .get(pk=exception.invoice_line_id)
        )
        fields, changes = [], {}
        if po_line is not None and po_line.pk != line.po_line_id:
            if po_line.purchase_order_id != invoice.purchase_order_id:
                raise DomainError(
                    f"That line is not on {invoice.purchase_order.number if invoice.purchase_order else 'a purchase order of this invoice'}."
                )
            old = f"line {line.po_line.line_no}" if line.po_line else "none"
            changes["po_line"] = f"{old} → line {po_line.line_no}"
            line.po_line = po_line
            fields.append("po_line")
        current_gl = line.gl_account or (line.po_line.gl_account if line.po_line else None)
        if gl_account is not None and gl_account != current_gl:
            if not gl_account.active:
                raise DomainError(f"GL account {gl_account.code} is closed for new spend.")
            changes["gl_account"] = (
                f"{current_gl.code if current_gl else 'none'} → {gl_account.code}"
            )
            line.gl_account = gl_account
            fields.append("gl_account")
        current_cc = line.cost_center or (line.po_line.cost_center if line.po_line else None)
        if cost_center is not None and cost_center != current_cc:
            if not cost_center.active:
                raise DomainError(f"Cost center {cost_center.code} is closed for new spend.")
            changes["cost_center"] = (
                f"{current_cc.code if current_cc else 'none'} → {cost_center.code}"
            )
            line.cost_center = cost_center
            fields.append("cost_center")
        if not fields:
            raise DomainError(
                "Nothing to re-code: choose a PO line, GL account or cost center that differs "
                "from the line's current coding."
            )
        line.save(update_fields=fields)
        audit_record(
            obj=invoice,
            action=AuditAction.RECODED,
            by=by,
            changes={f"line {line.line_no} {key}": value for key, value in changes.items()},
            note=note,
        )
        _close(
            invoice,
            exception,
            by,
            resolution=Resolution.RECODED,
            root_cause=root_cause,
            note=note,
            changes=changes,
        )
        rematch_on_commit([invoice.pk])
    return exception


def exception_resolve(
    *,
    exception: InvoiceException,
    by: User,
    resolution: str,
    root_cause: str,
    note: str = "",
) -> InvoiceException:
    """Close an exception by accepting it, rejecting the invoice or marking it a duplicate."""
    if resolution == Resolution.ACCEPT_VARIANCE:
        return exception_accept_variance(
            exception=exception, by=by, root_cause=root_cause, note=note
        )
    if resolution == Resolution.REJECT_INVOICE:
        return exception_reject_invoice(
            exception=exception, by=by, reason=note, root_cause=root_cause
        )
    if resolution == Resolution.MARK_DUPLICATE:
        return exception_mark_duplicate(
            exception=exception, by=by, root_cause=root_cause, note=note
        )
    raise DomainError("Choose how the exception was resolved.")
