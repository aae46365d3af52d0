"""Working an exception: the registry of actions, who may take them, claims, comments, mentions.

Every action (resolution) is one `@exception_action(...)` entry in payables.services.actions,
calling its service in payables.services.resolutions: its name and label, the exception types
it answers, who may take it, what input it needs and the message shown after it. The pages,
the API, bulk jobs and the templates all read ACTIONS; nothing else lists the actions.
"""

import datetime as dt
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditAction
from p2p.roles import Perm
from payables.models.exceptions import (
    ExceptionComment,
    ExceptionMention,
    InvoiceException,
    InvoiceExceptionQuerySet,
)
from payables.models.invoices import Invoice
from payables.models.payments import CompanySettings
from procurement.models import CostCenter, GLAccount, PurchaseOrderLine

# A claim lapses after this long, so an abandoned exception goes back to the queue by itself.
CLAIM_MINUTES = 30
COMMENT_MAX_LENGTH = 4000
MENTION = re.compile(r"(?<![\w.@])@([\w.+-]+)")

Type = InvoiceException.Type
Status = InvoiceException.Status


# --- who may do what ----------------------------------------------------------------------


def _po_buyer_id(exception: InvoiceException) -> int | None:
    po = exception.invoice.purchase_order
    return po.buyer_id if po is not None else None


def _owns_dispute(exception: InvoiceException, user: User) -> bool:
    """A buyer answers price and quantity disputes routed to them or raised on their POs."""
    return (
        exception.owner == InvoiceException.Owner.BUYER
        and roles.may(user, Perm.ANSWER_DISPUTES)
        and user.pk in (exception.owner_user_id, _po_buyer_id(exception))
    )


def _owes_receipt(exception: InvoiceException, user: User) -> bool:
    """The person it is routed to records the receipt (the requester, else the PO's buyer)."""
    return (
        exception.type == Type.MISSING_RECEIPT
        and exception.owner_user_id == user.pk
        and roles.may(user, Perm.RECEIVE_GOODS)
    )


def may_work(exception: InvoiceException, user: User) -> bool:
    """AP works every exception; buyers their disputes; requesters the receipts they owe."""
    return (
        roles.may(user, Perm.WORK_ALL_EXCEPTIONS)
        or _owns_dispute(exception, user)
        or _owes_receipt(exception, user)
    )


def may_view(exception: InvoiceException, user: User) -> bool:
    """Whoever may work it, and anyone brought in by an @mention."""
    if may_work(exception, user):
        return True
    return ExceptionMention.objects.filter(comment__exception=exception, user=user).exists()


class Who(enum.Enum):
    """Who may take an action, beyond opening the exception."""

    # AP clerks and managers.
    AP = "ap"
    # AP, or the buyer whose dispute it is.
    DISPUTE = "dispute"
    # Only the buyer whose dispute it is (the PO is theirs to change).
    PO_BUYER = "po_buyer"
    # Only the person the missing receipt is routed to.
    RECEIVER = "receiver"


def _is_ap(exception: InvoiceException, user: User) -> bool:
    return roles.may(user, Perm.WORK_ALL_EXCEPTIONS)


WHO_MAY: dict[Who, Callable[[InvoiceException, User], bool]] = {
    Who.AP: _is_ap,
    Who.DISPUTE: lambda exception, user: _is_ap(exception, user) or _owns_dispute(exception, user),
    Who.PO_BUYER: _owns_dispute,
    Who.RECEIVER: _owes_receipt,
}
REFUSAL = {
    Who.PO_BUYER: "Only the buyer of this PO can correct it.",
    Who.RECEIVER: "Only the requester of this PO or its buyer can record the receipt.",
}


# --- the action registry ------------------------------------------------------------------


@dataclass(frozen=True)
class ActionInput:
    """What a person gives with an action; each action reads the fields it needs."""

    root_cause: str = ""
    note: str = ""
    amount: Decimal | None = None
    credit_note: Invoice | None = None
    unit_price: Decimal | None = None
    quantity: Decimal | None = None
    received_on: dt.date | None = None
    po_line: PurchaseOrderLine | None = None
    gl_account: GLAccount | None = None
    cost_center: CostCenter | None = None
    # Bulk jobs: skip exceptions with more at stake, and re-match once at the end.
    max_amount: Decimal | None = None
    enqueue: bool = True


@dataclass(frozen=True)
class ExceptionAction:
    """One way to answer an exception; `perform` is the service that carries it out."""

    name: str
    label: str
    # The exception types it answers, each with its place in the order a clerk tries them.
    applies_to: dict[str, int]
    who: Who
    success: str
    perform: Callable[[InvoiceException, User, ActionInput], InvoiceException]
    # Its place among the answers to an exception that waits for the vendor (None: not then).
    while_waiting: int | None = None
    # Offered for many exceptions at once in a bulk job.
    bulk: bool = False
    # Works on one invoice line (and that line must bill a PO line).
    needs_line: bool = False
    needs_po_line: bool = False
    # The root cause it implies when the person does not say otherwise ("" asks for none).
    root_cause: str = ""
    asks_root_cause: bool = True
    # The input it cannot do without, each with the message when it is missing.
    required: tuple[tuple[str, str], ...] = ()
    # Shown instead of `success` when the exception is still open afterwards.
    pending: str = ""
    # Destroys something (rejects the invoice): the button says so.
    danger: bool = False
    # Hands the invoice back to the matching engine.
    rematches: bool = False


ACTIONS: dict[str, ExceptionAction] = {}


def exception_action(
    name: str, label: str, **facts: Any
) -> Callable[[Callable[..., InvoiceException]], Callable[..., InvoiceException]]:
    """Register the decorated function as the service that performs the action `name`."""

    def register(perform: Callable[..., InvoiceException]) -> Callable[..., InvoiceException]:
        if name in ACTIONS:
            raise ValueError(f"Exception action {name!r} is registered twice.")
        ACTIONS[name] = ExceptionAction(name=name, label=label, perform=perform, **facts)
        return perform

    return register


def get_action(name: str) -> ExceptionAction:
    """The registered action, or the clerk-readable refusal for an unknown name."""
    try:
        return ACTIONS[name]
    except KeyError:
        raise DomainError("Choose how the exception was resolved.") from None


def action_choices(*, bulk: bool = False) -> list[tuple[str, str]]:
    """(name, label) of every action, or of those a bulk job may apply."""
    return [(a.name, a.label) for a in ACTIONS.values() if a.bulk or not bulk]


def actions_for(exception: InvoiceException, user: User) -> list[str]:
    """The actions this user can take on this exception now, most likely first."""
    if exception.status == Status.RESOLVED:
        return []
    if exception.status == Status.WAITING_VENDOR:
        ranked = [(a.while_waiting, a) for a in ACTIONS.values() if a.while_waiting is not None]
    else:
        ranked = [
            (a.applies_to[exception.type], a)
            for a in ACTIONS.values()
            if exception.type in a.applies_to
        ]
    line = exception.invoice_line
    return [
        action.name
        for _rank, action in sorted(ranked, key=lambda pair: pair[0])
        if (not action.needs_line or line is not None)
        and (not action.needs_po_line or (line is not None and line.po_line_id is not None))
        and WHO_MAY[action.who](exception, user)
    ]


def require_action(exception: InvoiceException, user: User, name: str) -> None:
    """Raise the clerk-readable reason why this user cannot take this action, if they cannot."""
    if name in actions_for(exception, user):
        return
    if not may_work(exception, user):
        raise NotAllowed("This exception is routed to someone else.")
    if exception.status == Status.WAITING_VENDOR:
        raise DomainError(
            "This exception is waiting for the vendor's credit note; close it with the credit "
            "note, accept the variance, reject the invoice, or stop waiting first."
        )
    action = get_action(name)
    label = action.label.lower()
    if exception.type not in action.applies_to:
        raise DomainError(f"'{label}' does not apply to a {exception.get_type_display().lower()}.")
    line = exception.invoice_line
    if (action.needs_line or action.needs_po_line) and line is None:
        raise DomainError("This exception is about the whole invoice, not one of its lines.")
    if action.needs_po_line and line is not None and line.po_line_id is None:
        raise DomainError("This invoice line bills no PO line; re-code it to one first.")
    raise NotAllowed(REFUSAL.get(action.who, f"Your role cannot {label}."))


def person_name(user: User | None) -> str:
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
    *, exception: InvoiceException, by: User, minutes: int = CLAIM_MINUTES
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


def _take(exception: InvoiceException, by: User, until: dt.datetime) -> None:
    exception.claimed_by = by
    exception.claimed_until = until
    exception.save(update_fields=["claimed_by", "claimed_until"])
    audit_record(
        obj=exception,
        action=AuditAction.CLAIMED,
        by=by,
        changes={"until": timezone.localtime(until).strftime("%d %b %H:%M")},
    )


def exception_claim_next(
    *,
    by: User,
    candidates: InvoiceExceptionQuerySet,
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


def exception_release(*, exception: InvoiceException, by: User) -> InvoiceException:
    """Put a claimed exception back in the queue (its holder, or an AP manager)."""
    with transaction.atomic():
        exception = (
            InvoiceException.objects.select_for_update(of=("self",))
            .select_related("claimed_by")
            .get(pk=exception.pk)
        )
        now = timezone.now()
        if (
            exception.claimed_by_id is None
            or exception.claimed_until is None
            or exception.claimed_until <= now
        ):
            raise DomainError("Nobody holds this exception.")
        if exception.claimed_by_id != by.pk and not roles.may(by, Perm.SUPERVISE_EXCEPTIONS):
            raise NotAllowed(
                f"Only {person_name(exception.claimed_by)} or an AP manager can release this claim."
            )
        exception.claimed_by = None
        exception.claimed_until = None
        exception.save(update_fields=["claimed_by", "claimed_until"])
        audit_record(obj=exception, action=AuditAction.RELEASED, by=by)
    return exception


# --- comments and mentions -----------------------------------------------------------------


def exception_comment(*, exception: InvoiceException, by: User, body: str) -> ExceptionComment:
    """Add a comment; everyone @mentioned is notified and may open the exception."""
    body = body.strip()
    if not body:
        raise DomainError("Write a comment first.")
    if len(body) > COMMENT_MAX_LENGTH:
        raise DomainError(f"Keep comments under {COMMENT_MAX_LENGTH} characters.")
    if not may_view(exception, by):
        raise NotAllowed("This exception is routed to someone else.")
    names = sorted(set(MENTION.findall(body)))
    users = list(User.objects.filter(username__in=names, is_active=True))
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
            action=AuditAction.COMMENTED,
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


def mentions_mark_read(*, by: User, mention_ids: list[int] | None = None) -> int:
    """Mark the user's mentions (or the given ones) as read; returns how many changed."""
    mentions = ExceptionMention.objects.filter(user=by, read_at__isnull=True)
    if mention_ids is not None:
        mentions = mentions.filter(pk__in=mention_ids)
    return mentions.update(read_at=timezone.now())


# --- bulk ----------------------------------------------------------------------------------
