"""Working an exception: the actions each type offers, who may take them, claims, comments and mentions.

Adding an action means one Action entry, its place in ACTIONS_BY_TYPE (or WAITING_ACTIONS)
and its service in payables.services.resolutions.
"""

import datetime as dt
import re
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import models, transaction
from django.urls import reverse
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError, NotAllowed
from p2p.roles import Perm
from payables.models.exceptions import ExceptionComment, ExceptionMention, InvoiceException
from payables.models.payments import CompanySettings

# A claim lapses after this long, so an abandoned exception goes back to the queue by itself.
CLAIM_MINUTES = 30
COMMENT_MAX_LENGTH = 4000
MENTION = re.compile(r"(?<![\w.@])@([\w.+-]+)")

Type = InvoiceException.Type
Status = InvoiceException.Status


class Action(models.TextChoices):
    """What a person can do with an exception; each maps to one service in resolutions.py."""

    ACCEPT_VARIANCE = "accept_variance", "Accept the variance and approve"
    REQUEST_CREDIT_NOTE = "request_credit_note", "Request a credit note"
    SETTLE_CREDIT_NOTE = "settle_credit_note", "Close with the vendor's credit note"
    CORRECT_PO = "correct_po", "Correct the PO"
    POST_RECEIPT = "post_receipt", "Post the missing receipt"
    RECODE = "recode", "Re-code the line"
    MARK_DUPLICATE = "mark_duplicate", "Mark as duplicate"
    REJECT_INVOICE = "reject_invoice", "Reject the invoice"
    STOP_WAITING = "stop_waiting", "Stop waiting for the vendor"


# Which answers make sense for which problem, in the order a clerk would try them.
ACTIONS_BY_TYPE = {
    Type.PRICE_VARIANCE: (
        Action.CORRECT_PO,
        Action.REQUEST_CREDIT_NOTE,
        Action.SETTLE_CREDIT_NOTE,
        Action.ACCEPT_VARIANCE,
        Action.RECODE,
        Action.REJECT_INVOICE,
    ),
    Type.QTY_OVER_BILLED: (
        Action.REQUEST_CREDIT_NOTE,
        Action.SETTLE_CREDIT_NOTE,
        Action.CORRECT_PO,
        Action.ACCEPT_VARIANCE,
        Action.RECODE,
        Action.MARK_DUPLICATE,
        Action.REJECT_INVOICE,
    ),
    Type.MISSING_RECEIPT: (
        Action.POST_RECEIPT,
        Action.ACCEPT_VARIANCE,
        Action.RECODE,
        Action.REJECT_INVOICE,
    ),
    Type.NO_PO: (Action.RECODE, Action.ACCEPT_VARIANCE, Action.REJECT_INVOICE),
    Type.VENDOR_MISMATCH: (Action.REJECT_INVOICE, Action.ACCEPT_VARIANCE),
    Type.CURRENCY_MISMATCH: (Action.REJECT_INVOICE, Action.ACCEPT_VARIANCE),
    Type.DUPLICATE: (Action.MARK_DUPLICATE, Action.ACCEPT_VARIANCE, Action.REJECT_INVOICE),
    Type.TOTALS_MISMATCH: (Action.REJECT_INVOICE, Action.ACCEPT_VARIANCE),
}
WAITING_ACTIONS = (
    Action.SETTLE_CREDIT_NOTE,
    Action.STOP_WAITING,
    Action.ACCEPT_VARIANCE,
    Action.REJECT_INVOICE,
)
BULK_ACTIONS = (Action.ACCEPT_VARIANCE, Action.REQUEST_CREDIT_NOTE, Action.REJECT_INVOICE)


# --- who may do what ----------------------------------------------------------------------


def _is_ap(user: AbstractBaseUser) -> bool:
    return roles.may(user, Perm.WORK_ALL_EXCEPTIONS)


def _po_buyer_id(exception: InvoiceException) -> int | None:
    po = exception.invoice.purchase_order
    return po.buyer_id if po is not None else None


def _owns_dispute(exception: InvoiceException, user: AbstractBaseUser) -> bool:
    """A buyer answers price and quantity disputes routed to them or raised on their POs."""
    return (
        exception.owner == InvoiceException.Owner.BUYER
        and roles.may(user, Perm.ANSWER_DISPUTES)
        and user.pk in (exception.owner_user_id, _po_buyer_id(exception))
    )


def _owes_receipt(exception: InvoiceException, user: AbstractBaseUser) -> bool:
    """The person it is routed to records the receipt (the requester, else the PO's buyer)."""
    return (
        exception.type == Type.MISSING_RECEIPT
        and exception.owner_user_id == user.pk
        and roles.may(user, Perm.RECEIVE_GOODS)
    )


def may_work(exception: InvoiceException, user: AbstractBaseUser) -> bool:
    """AP works every exception; buyers their disputes; requesters the receipts they owe."""
    return _is_ap(user) or _owns_dispute(exception, user) or _owes_receipt(exception, user)


def may_view(exception: InvoiceException, user: AbstractBaseUser) -> bool:
    """Whoever may work it, and anyone brought in by an @mention."""
    if may_work(exception, user):
        return True
    return ExceptionMention.objects.filter(comment__exception=exception, user=user).exists()


def actions_for(exception: InvoiceException, user: AbstractBaseUser) -> list[str]:
    """The actions this user can take on this exception now, most likely first."""
    if exception.status == Status.RESOLVED:
        return []
    candidates = (
        WAITING_ACTIONS
        if exception.status == Status.WAITING_VENDOR
        else ACTIONS_BY_TYPE.get(exception.type, ())
    )
    is_ap = _is_ap(user)
    disputes = is_ap or _owns_dispute(exception, user)
    line = exception.invoice_line
    has_po_line = line is not None and line.po_line_id is not None
    allowed = {
        Action.ACCEPT_VARIANCE: disputes,
        Action.REQUEST_CREDIT_NOTE: disputes,
        Action.SETTLE_CREDIT_NOTE: disputes,
        Action.STOP_WAITING: disputes,
        Action.CORRECT_PO: has_po_line and _owns_dispute(exception, user),
        Action.POST_RECEIPT: has_po_line and _owes_receipt(exception, user),
        Action.RECODE: is_ap and line is not None,
        Action.MARK_DUPLICATE: is_ap,
        Action.REJECT_INVOICE: is_ap,
    }
    return [action for action in candidates if allowed[action]]


def require_action(exception: InvoiceException, user: AbstractBaseUser, action: str) -> None:
    """Raise the clerk-readable reason why this user cannot take this action, if they cannot."""
    if action in actions_for(exception, user):
        return
    if not may_work(exception, user):
        raise NotAllowed("This exception is routed to someone else.")
    if exception.status == Status.WAITING_VENDOR:
        raise DomainError(
            "This exception is waiting for the vendor's credit note; close it with the credit "
            "note, accept the variance, reject the invoice, or stop waiting first."
        )
    label = Action(action).label.lower()
    if action not in ACTIONS_BY_TYPE.get(exception.type, ()):
        raise DomainError(f"'{label}' does not apply to a {exception.get_type_display().lower()}.")
    line = exception.invoice_line
    if action in (Action.CORRECT_PO, Action.POST_RECEIPT, Action.RECODE) and line is None:
        raise DomainError("This exception is about the whole invoice, not one of its lines.")
    if action in (Action.CORRECT_PO, Action.POST_RECEIPT) and line.po_line_id is None:
        raise DomainError("This invoice line bills no PO line; re-code it to one first.")
    if action == Action.CORRECT_PO:
        raise NotAllowed("Only the buyer of this PO can correct it.")
    if action == Action.POST_RECEIPT:
        raise NotAllowed("Only the requester of this PO or its buyer can record the receipt.")
    raise NotAllowed(f"Your role cannot {label}.")


def person_name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "someone"
    return user.get_full_name() or user.get_username()


def variance_threshold(currency: str) -> Decimal | None:
    """The variance a clerk may accept alone in `currency`; None when finance set none."""
    return CompanySettings.load().variance_threshold(currency)


def variance_needs_manager(amount: Decimal, currency: str) -> bool:
    """Above the currency's threshold, or in a currency without one, only an AP manager
    may accept: with no FX rates, another currency's limit says nothing about this one."""
    threshold = variance_threshold(currency)
    return threshold is None or amount > threshold


# --- claims --------------------------------------------------------------------------------


def exception_claim(
    *, exception: InvoiceException, by: AbstractBaseUser, minutes: int = CLAIM_MINUTES
) -> InvoiceException:
    """Take an exception so no one else works it until the claim expires or is released."""
    with transaction.atomic():
        exception = (
            InvoiceException.objects.select_for_update(of=("self",))
            .select_related("invoice__purchase_order", "claimed_by")
            .get(pk=exception.pk)
        )
        if not may_work(exception, by):
            raise NotAllowed("This exception is routed to someone else.")
        if exception.status == Status.WAITING_VENDOR:
            raise DomainError(
                "This exception is waiting for the vendor; there is nothing to claim."
            )
        if exception.status != Status.OPEN:
            raise DomainError("This exception is already resolved.")
        now = timezone.now()
        if exception.is_claimed_by_other(by, now):
            until = timezone.localtime(exception.claimed_until)
            raise NotAllowed(
                f"{person_name(exception.claimed_by)} claimed this exception until {until:%H:%M}."
            )
        _take(exception, by, now + dt.timedelta(minutes=minutes))
    return exception


def _take(exception: InvoiceException, by: AbstractBaseUser, until: dt.datetime) -> None:
    exception.claimed_by = by
    exception.claimed_until = until
    exception.save(update_fields=["claimed_by", "claimed_until"])
    audit_record(
        obj=exception,
        action="claimed",
        by=by,
        changes={"until": timezone.localtime(until).strftime("%d %b %H:%M")},
    )


def exception_claim_next(
    *,
    by: AbstractBaseUser,
    candidates: models.QuerySet[InvoiceException],
    minutes: int = CLAIM_MINUTES,
) -> InvoiceException | None:
    """Claim the first free exception of `candidates` (the user's queue, in queue order).

    Rows another clerk is claiming at this very moment are skipped, not waited for, so two
    clerks pressing "next" together get different exceptions and neither blocks.
    """
    roles.require(by, Perm.READ_EXCEPTIONS)
    now = timezone.now()
    with transaction.atomic():
        pk = (
            candidates.claimable(now)
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)
            .first()
        )
        if pk is None:
            return None
        exception = InvoiceException.objects.select_related("invoice").get(pk=pk)
        _take(exception, by, now + dt.timedelta(minutes=minutes))
    return exception


def exception_release(*, exception: InvoiceException, by: AbstractBaseUser) -> InvoiceException:
    """Put a claimed exception back in the queue (its holder, or an AP manager)."""
    with transaction.atomic():
        exception = (
            InvoiceException.objects.select_for_update(of=("self",))
            .select_related("claimed_by")
            .get(pk=exception.pk)
        )
        now = timezone.now()
        if exception.claimed_by_id is None or exception.claimed_until <= now:
            raise DomainError("Nobody holds this exception.")
        if exception.claimed_by_id != by.pk and not roles.may(by, Perm.SUPERVISE_EXCEPTIONS):
            raise NotAllowed(
                f"Only {person_name(exception.claimed_by)} or an AP manager can release this claim."
            )
        exception.claimed_by = None
        exception.claimed_until = None
        exception.save(update_fields=["claimed_by", "claimed_until"])
        audit_record(obj=exception, action="released", by=by)
    return exception


# --- comments and mentions -----------------------------------------------------------------


def exception_comment(
    *, exception: InvoiceException, by: AbstractBaseUser, body: str
) -> ExceptionComment:
    """Add a comment; everyone @mentioned is notified and may open the exception."""
    body = body.strip()
    if not body:
        raise DomainError("Write a comment first.")
    if len(body) > COMMENT_MAX_LENGTH:
        raise DomainError(f"Keep comments under {COMMENT_MAX_LENGTH} characters.")
    if not may_view(exception, by):
        raise NotAllowed("This exception is routed to someone else.")
    names = sorted(set(MENTION.findall(body)))
    users = list(get_user_model().objects.filter(username__in=names, is_active=True))
    unknown = sorted(set(names) - {user.get_username() for user in users})
    if unknown:
        raise DomainError(f"Nobody is called @{unknown[0]}; check the user name.")
    mentioned = [user for user in users if user.pk != by.pk]
    with transaction.atomic():
        comment = ExceptionComment.objects.create(
            exception=exception, author=by, body=body, created_at=timezone.now()
        )
        ExceptionMention.objects.bulk_create(
            ExceptionMention(comment=comment, user=user) for user in mentioned
        )
        audit_record(
            obj=exception,
            action="commented",
            by=by,
            note=body[:500],
            changes=(
                {"mentioned": ", ".join(u.get_username() for u in mentioned)} if mentioned else {}
            ),
        )
        recipients = [user.email for user in mentioned if user.email]
        if recipients:
            link = settings.SITE_URL + reverse("payables:exception_detail", args=[exception.pk])
            subject = f"{person_name(by)} mentioned you on {exception}"
            message = f"{body}\n\nOpen it: {link}\n"
            transaction.on_commit(
                lambda: send_mail(
                    subject=subject,
                    message=message,
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    recipient_list=recipients,
                    fail_silently=True,
                )
            )
    return comment


def mentions_mark_read(*, by: AbstractBaseUser, mention_ids: list[int] | None = None) -> int:
    """Mark the user's mentions (or the given ones) as read; returns how many changed."""
    mentions = ExceptionMention.objects.filter(user=by, read_at__isnull=True)
    if mention_ids is not None:
        mentions = mentions.filter(pk__in=mention_ids)
    return mentions.update(read_at=timezone.now())


# --- bulk ----------------------------------------------------------------------------------
