"""Emails procurement sends after commit: approvers of a waiting step, the requester of a
decision or a change, the buyer of a PO re-approval outcome."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from p2p.models import AuditEvent
from procurement.models import ApprovalDelegation, ApprovalStep, PurchaseOrder, PurchaseRequest
from procurement.services.common import _money, _name


def _recipients_for(step: ApprovalStep) -> list[str]:
    User = get_user_model()
    if step.approver_user_id:
        approvers = User.objects.filter(pk=step.approver_user_id, is_active=True)
    elif step.approver_group_id:
        approvers = User.objects.filter(groups=step.approver_group_id, is_active=True)
    else:
        return []
    approver_ids = list(approvers.values_list("pk", flat=True))
    delegate_ids = ApprovalDelegation.objects.active_on(timezone.localdate()).filter(
        from_user__in=approver_ids
    )
    emails = User.objects.filter(
        Q(pk__in=approver_ids) | Q(pk__in=delegate_ids.values("to_user")), is_active=True
    ).values_list("email", flat=True)
    return sorted({email for email in emails if email})


def _send(subject: str, body: str, recipients: list[str]) -> None:
    if recipients:
        send_mail(
            subject=subject,
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
            fail_silently=True,
        )


def _notify_approvers(step_id: int) -> None:
    """Email everyone who may decide a step that now waits (delegates included)."""
    step = (
        ApprovalStep.objects.select_related(
            "request__requester", "purchase_order", "approver_group", "approver_user"
        )
        .filter(pk=step_id, status=ApprovalStep.Status.PENDING)
        .first()
    )
    if step is None:
        return
    request = step.request
    inbox = f"{settings.SITE_URL}{reverse('procurement:approval_inbox')}"
    po = step.purchase_order
    if po is not None:
        subject = f"Approval needed: {po.number} is above its approved amount"
        body = (
            f"{_name(step.raised_by)} asks to raise {po.number} ({po.vendor}) to "
            f"{_money(step.amount, po.currency)}; approved so far "
            f"{_money(po.approved_amount, po.currency)}.\n{step.reason}\nReview it: {inbox}"
        )
    else:
        subject = f"Approval needed: {request.number} {request.title}"
        body = (
            f"{_name(request.requester)} asks for "
            f"{_money(request.total_amount, request.currency)}.\n"
            + (f"{step.reason}\n" if step.reason else "")
            + f"Review it: {inbox}"
        )
    _send(subject, body, _recipients_for(step))


def _notify_requester(request_id: int) -> None:
    request = PurchaseRequest.objects.select_related("requester").get(pk=request_id)
    last = (
        request.approvals.filter(decided_at__isnull=False, purchase_order__isnull=True)
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )
    comment = (
        f"\nComment from {_name(last.decided_by)}: {last.comment}" if last and last.comment else ""
    )
    link = f"{settings.SITE_URL}{reverse('procurement:request_detail', args=[request.pk])}"
    _send(
        f"{request.number} {request.get_status_display().lower()}",
        f"Your request {request.number} ({request.title}) is "
        f"{request.get_status_display().lower()}.{comment}\n{link}",
        [request.requester.email] if request.requester.email else [],
    )


def _notify_requester_of_change(event_id: int) -> None:
    """Tell the requester who changed their request and what changed, old → new."""
    event = AuditEvent.objects.select_related("actor").get(pk=event_id)
    request = PurchaseRequest.objects.select_related("requester").get(pk=event.object_id)
    editor = _name(event.actor) if event.actor else event.actor_name
    body = [f"{editor} changed your request {request.number} ({request.title}):"]
    body += [f"  {field}: {value}" for field, value in event.changes.items()]
    body += [event.note] if event.note else []
    body.append(f"{settings.SITE_URL}{reverse('procurement:request_detail', args=[request.pk])}")
    _send(
        f"{request.number} changed by {editor}",
        "\n".join(body),
        [request.requester.email] if request.requester.email else [],
    )


def _notify_buyer(po_id: int, outcome: str) -> None:
    po = PurchaseOrder.objects.select_related("buyer").get(pk=po_id)
    link = f"{settings.SITE_URL}{reverse('procurement:po_detail', args=[po.pk])}"
    _send(
        f"{po.number}: {outcome}",
        f"{po.number} ({po.vendor}): {outcome}.\n{link}",
        [po.buyer.email] if po.buyer.email else [],
    )
