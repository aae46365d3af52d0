"""Approval decisions and delegation: who may decide a step, approving, rejecting or
returning it, and delegating an inbox while away."""

import datetime as dt

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditAction
from p2p.roles import Perm
from procurement.models import ApprovalDelegation, ApprovalStep, PurchaseOrder, PurchaseRequest
from procurement.services.common import _name
from procurement.services.notifications import _notify_approvers, _notify_requester
from procurement.services.revisions import _po_round_approved, _po_round_declined

# Roles that may be named as a delegate: only someone who can already work an inbox.


class Decision:
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    ALL = (APPROVE, REJECT, RETURN)


def _holds(step: ApprovalStep, user: User) -> bool:
    if not user.is_active:
        return False
    if step.approver_user_id:
        return step.approver_user_id == user.pk
    group = step.approver_group
    return roles.has_role(user, group.name) if group is not None else False


def decision_capacity(step: ApprovalStep, user: User) -> tuple[bool, User | None]:
    """(may decide, on whose behalf): the user's own authority, or a delegation in force today."""
    if _holds(step, user):
        return True, None
    delegations = ApprovalDelegation.objects.active_on(timezone.localdate()).filter(to_user=user.pk)
    for delegation in delegations.select_related("from_user"):
        if _holds(step, delegation.from_user):
            return True, delegation.from_user
    return False, None


def can_decide(step: ApprovalStep, user: User) -> bool:
    """Whether the user is an approver this step is waiting for (or stands in for one)."""
    return decision_capacity(step, user)[0]


def approval_decide(
    *, step: ApprovalStep, by: User, decision: str, comment: str = ""
) -> ApprovalStep:
    """Approve, reject or return one step; the last approval approves the request (or the
    PO change). Any rejection ends the round; a return sends it back for changes."""
    if decision not in Decision.ALL:
        raise DomainError("Choose approve, reject or return.")
    with transaction.atomic():
        # Lock the request first, then the PO, then the step: the same order everywhere.
        request = PurchaseRequest.objects.select_for_update().get(pk=step.request_id)
        po = None
        if step.purchase_order_id:
            po = PurchaseOrder.objects.select_for_update().get(pk=step.purchase_order_id)
        step = (
            ApprovalStep.objects.select_for_update(of=("self",))
            .select_related("approver_group", "revision")
            .get(pk=step.pk)
        )
        if request.requester_id == by.pk:
            raise SegregationOfDutiesError("You cannot approve a request you raised.")
        may_decide, on_behalf_of = decision_capacity(step, by)
        if not may_decide:
            raise NotAllowed("This approval is not assigned to you.")
        if on_behalf_of is not None and on_behalf_of.pk == request.requester_id:
            raise SegregationOfDutiesError(
                "You stand in for the requester, so you cannot decide their request."
            )
        if po is None and request.status != PurchaseRequest.Status.PENDING_APPROVAL:
            raise DomainError(
                f"{request.number} is {request.get_status_display().lower()}, not awaiting approval."
            )
        if step.status != ApprovalStep.Status.PENDING:
            raise DomainError(
                f"This step is {step.get_status_display().lower()}, not awaiting a decision."
            )
        if decision == Decision.APPROVE:
            deciders = {by.pk} | ({on_behalf_of.pk} if on_behalf_of else set())
            if po is None and request.editors.filter(pk__in=deciders).exists():
                raise SegregationOfDutiesError(
                    "You changed this request, so another approver must approve it."
                )
            if po is not None and step.raised_by_id in deciders:
                raise SegregationOfDutiesError(
                    f"You changed {po.number}, so another approver must approve the change."
                )
        if decision in (Decision.REJECT, Decision.RETURN) and not comment.strip():
            raise DomainError("Say why in a comment, so the requester knows what to change.")
        step.decided_by = by
        step.decided_at = timezone.now()
        step.comment = comment
        step.on_behalf_of = on_behalf_of
        fields = ["decided_by", "decided_at", "comment", "on_behalf_of"]
        behalf = {"on behalf of": _name(on_behalf_of)} if on_behalf_of else None
        round_steps = ApprovalStep.objects.filter(
            request=request, purchase_order=po, revision=step.revision_id
        )
        if decision == Decision.APPROVE:
            transition(
                step,
                ApprovalStep.Status.APPROVED,
                by=by,
                note=comment,
                extra_fields=fields,
                changes=behalf,
            )
            following = (
                round_steps.select_for_update()
                .filter(status=ApprovalStep.Status.WAITING)
                .order_by("step", "id")
                .first()
            )
            if following is not None:
                transition(following, ApprovalStep.Status.PENDING, by=by)
                following_id = following.pk
                transaction.on_commit(lambda: _notify_approvers(following_id))
            elif po is not None:
                _po_round_approved(po, step, by)
            else:
                request.decided_at = step.decided_at
                transition(
                    request, PurchaseRequest.Status.APPROVED, by=by, extra_fields=["decided_at"]
                )
                transaction.on_commit(lambda: _notify_requester(request.pk))
        else:
            step_status = (
                ApprovalStep.Status.REJECTED
                if decision == Decision.REJECT
                else ApprovalStep.Status.RETURNED
            )
            transition(step, step_status, by=by, note=comment, extra_fields=fields, changes=behalf)
            transition_many(
                round_steps.filter(status=ApprovalStep.Status.WAITING).select_related("request"),
                ApprovalStep.Status.CANCELLED,
                by=by,
                note=f"Step {step.step} {step.get_status_display().lower()}",
            )
            if po is not None:
                _po_round_declined(po, step, by, comment)
            else:
                request_status = (
                    PurchaseRequest.Status.REJECTED
                    if decision == Decision.REJECT
                    else PurchaseRequest.Status.RETURNED
                )
                request.decided_at = step.decided_at
                transition(
                    request, request_status, by=by, note=comment, extra_fields=["decided_at"]
                )
                transaction.on_commit(lambda: _notify_requester(request.pk))
    return step


def delegation_create(
    *,
    by: User,
    to_user: User,
    start_date: dt.date,
    end_date: dt.date,
    from_user: User | None = None,
    reason: str = "",
) -> ApprovalDelegation:
    """Hand one's approvals to a colleague for a period; administrators may set it for anyone."""
    from_user = from_user or by
    if from_user.pk != by.pk and not roles.may(by, Perm.DELEGATE_FOR_OTHERS):
        raise NotAllowed("You can only delegate your own approvals.")
    if not roles.may(from_user, Perm.APPROVE_REQUEST):
        raise NotAllowed("Only approvers and finance leaders have approvals to delegate.")
    if to_user.pk == from_user.pk:
        raise DomainError("Choose someone other than yourself to stand in.")
    if not to_user.is_active or not roles.may(to_user, Perm.APPROVE_REQUEST):
        raise DomainError(f"{_name(to_user)} is not an approver and cannot stand in.")
    if end_date < start_date:
        raise DomainError("The last day is before the first day.")
    if end_date < timezone.localdate():
        raise DomainError("The period is already over.")
    with transaction.atomic():
        overlapping = (
            ApprovalDelegation.objects.select_for_update()
            .filter(
                from_user=from_user,
                cancelled_at__isnull=True,
                start_date__lte=end_date,
                end_date__gte=start_date,
            )
            .first()
        )
        if overlapping is not None:
            raise DomainError(
                f"{_name(overlapping.to_user)} already stands in from "
                f"{overlapping.start_date:%d %b %Y} to {overlapping.end_date:%d %b %Y}; "
                "cancel that delegation first."
            )
        delegation = ApprovalDelegation.objects.create(
            from_user=from_user,
            to_user=to_user,
            start_date=start_date,
            end_date=end_date,
            reason=reason.strip()[:200],
            created_by=by,
        )
        audit_record(
            obj=delegation,
            action=AuditAction.CREATED,
            by=by,
            changes={
                "from": from_user.get_username(),
                "to": to_user.get_username(),
                "start": start_date,
                "end": end_date,
            },
        )
    return delegation


def delegation_cancel(*, delegation: ApprovalDelegation, by: User) -> None:
    """End a delegation early (the person is back)."""
    with transaction.atomic():
        delegation = ApprovalDelegation.objects.select_for_update().get(pk=delegation.pk)
        if delegation.from_user_id != by.pk and not roles.may(by, Perm.DELEGATE_FOR_OTHERS):
            raise NotAllowed("Only the person who delegated can cancel it.")
        if delegation.cancelled_at is not None:
            raise DomainError("This delegation is already cancelled.")
        delegation.cancelled_at = timezone.now()
        delegation.save(update_fields=["cancelled_at"])
        audit_record(obj=delegation, action=AuditAction.CANCELLED, by=by)
