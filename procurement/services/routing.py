"""Approval routing: which rules apply to a request or a PO change, the approval steps they
plan, starting an approval round, and keeping the rules (finance)."""

from decimal import Decimal
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import parse_decimal, round_money
from p2p.roles import Perm
from procurement.models import (
    ApprovalRule,
    ApprovalStep,
    Category,
    CostCenter,
    PurchaseOrder,
    PurchaseOrderRevision,
    PurchaseRequest,
)
from procurement.services.budgets import _budget_step
from procurement.services.common import _group, _name
from procurement.services.notifications import _notify_approvers


def _specificity(rule: ApprovalRule) -> tuple[bool, bool, bool]:
    return (rule.cost_center_id is not None, bool(rule.department), bool(rule.category))


def route_rules(*, cost_center: CostCenter, category: str, amount: Decimal) -> list[ApprovalRule]:
    """The approval rules that apply, one per step in step order: at each step the most
    specific rule whose band, cost center, department and category all fit wins."""
    rules = (
        ApprovalRule.objects.filter(active=True, min_amount__lte=amount)
        .filter(Q(max_amount__isnull=True) | Q(max_amount__gt=amount))
        .filter(Q(cost_center__isnull=True) | Q(cost_center=cost_center.pk))
        .filter(Q(department="") | Q(department__iexact=cost_center.department))
        .filter(Q(category="") | Q(category=category))
        .select_related("approver_group", "approver_user")
        .order_by("step", "id")
    )
    chosen: dict[int, ApprovalRule] = {}
    for rule in rules:
        best = chosen.get(rule.step)
        if best is None or _specificity(rule) > _specificity(best):
            chosen[rule.step] = rule
    return [chosen[step] for step in sorted(chosen)]


def _route(request: PurchaseRequest) -> list[ApprovalRule]:
    """The approval rules for a request, one per step."""
    return route_rules(
        cost_center=request.cost_center, category=request.category, amount=request.total_amount
    )


def _plan_steps(
    rules: list[ApprovalRule], *, requester_id: int, **step_fields: Any
) -> list[ApprovalStep]:
    """Unsaved steps for the rules; the first is pending, the rest wait their turn."""
    steps = []
    for i, rule in enumerate(rules):
        group, user, reason = rule.approver_group, rule.approver_user, ""
        if user is not None and user.pk == requester_id:
            # Nobody approves their own request: the step falls to the rule's group.
            group, user = rule.approver_group or _group(roles.APPROVER), None
            reason = f"{_name(rule.approver_user)} raised it, so any {group.name} decides."
        steps.append(
            ApprovalStep(
                step=rule.step,
                rule=rule,
                approver_group=group,
                approver_user=user,
                status=ApprovalStep.Status.PENDING if i == 0 else ApprovalStep.Status.WAITING,
                reason=reason,
                **step_fields,
            )
        )
    return steps


def _start_round(request: PurchaseRequest, *, by: User, restart: bool = False) -> None:
    """Cancel open steps and route the request afresh; the first step is notified."""
    rules = _route(request)
    if not rules:
        raise DomainError("No approval rule covers this request; ask an administrator to add one.")
    steps = _plan_steps(
        rules, requester_id=request.requester_id, request=request, amount=request.total_amount
    )
    budget_step = _budget_step(request, after_step=steps[-1].step)
    if budget_step is not None:
        budget_step.request = request
        budget_step.amount = request.total_amount
        steps.append(budget_step)
    transition_many(
        request.approvals.filter(
            status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING],
            purchase_order__isnull=True,
        ).select_related("request"),
        ApprovalStep.Status.CANCELLED,
        by=by,
        note="Replaced by a new approval round",
    )
    steps = ApprovalStep.objects.bulk_create(steps)
    note = f"Routed to {len(steps)} approval step(s)"
    if budget_step is not None:
        note += f"; over budget: {budget_step.reason}"
    if restart:
        audit_record(obj=request, action=AuditAction.REROUTED, by=by, note=note)
    else:
        request.submitted_at = timezone.now()
        transition(
            request,
            PurchaseRequest.Status.PENDING_APPROVAL,
            by=by,
            extra_fields=["submitted_at"],
            note=note,
        )
    first_id = steps[0].pk
    transaction.on_commit(lambda: _notify_approvers(first_id))


def approval_rule_save(
    *,
    by: User,
    name: str,
    step: int,
    min_amount: Decimal,
    max_amount: Decimal | None = None,
    cost_center: CostCenter | None = None,
    department: str = "",
    category: str = "",
    approver_group: Group | None = None,
    approver_user: User | None = None,
    active: bool = True,
    rule: ApprovalRule | None = None,
) -> ApprovalRule:
    """Create or change an approval rule (finance leaders and administrators)."""
    roles.require(by, Perm.KEEP_APPROVAL_RULES)
    if not name.strip():
        raise DomainError("Give the rule a name.")
    if step < 1:
        raise DomainError("Steps are numbered from 1.")
    min_amount = round_money(parse_decimal(min_amount, "The lower bound"))
    if min_amount < 0:
        raise DomainError("The lower bound cannot be negative.")
    if max_amount is not None:
        max_amount = round_money(parse_decimal(max_amount, "The upper bound"))
        if max_amount <= min_amount:
            raise DomainError("The upper bound must be above the lower bound.")
    if approver_group is None and approver_user is None:
        raise DomainError("Name an approver: a group, a person, or both.")
    if approver_user is not None and not approver_user.is_active:
        raise DomainError(f"{_name(approver_user)} is no longer active.")
    if category and category not in Category.values:
        raise DomainError("Choose a category from the list.")
    values = {
        "name": name.strip()[:100],
        "step": step,
        "min_amount": min_amount,
        "max_amount": max_amount,
        "cost_center": cost_center,
        "department": department.strip()[:100],
        "category": category,
        "approver_group": approver_group,
        "approver_user": approver_user,
        "active": active,
    }
    with transaction.atomic():
        if rule is None:
            rule = ApprovalRule.objects.create(**values)
            audit_record(obj=rule, action=AuditAction.CREATED, by=by, changes=values)
        else:
            rule = ApprovalRule.objects.select_for_update().get(pk=rule.pk)
            changes = {
                key: f"{getattr(rule, key) if getattr(rule, key) not in (None, '') else '—'} → "
                f"{value if value not in (None, '') else '—'}"
                for key, value in values.items()
                if getattr(rule, key) != value
            }
            for key, value in values.items():
                setattr(rule, key, value)
            rule.save()
            audit_record(obj=rule, action=AuditAction.EDITED, by=by, changes=changes)
    return rule


def _po_route(po: PurchaseOrder, amount: Decimal) -> list[ApprovalRule]:
    request = po.request
    if request is None:
        raise DomainError(f"{po.number} has no request to route its re-approval through.")
    rules = route_rules(cost_center=request.cost_center, category=request.category, amount=amount)
    if not rules:
        raise DomainError("No approval rule covers this amount; ask an administrator to add one.")
    return rules


def _start_po_round(
    po: PurchaseOrder,
    *,
    by: User,
    amount: Decimal,
    reason: str,
    revision: PurchaseOrderRevision | None = None,
) -> None:
    rules = _po_route(po, amount)
    assert po.request is not None  # _po_route refuses a PO without a request
    steps = _plan_steps(
        rules,
        requester_id=po.request.requester_id,
        request_id=po.request_id,
        purchase_order=po,
        revision=revision,
        kind=ApprovalStep.Kind.PO_CHANGE,
        amount=amount,
        raised_by=by,
    )
    for step in steps:
        step.reason = step.reason or reason
    steps = ApprovalStep.objects.bulk_create(steps)
    po.awaiting_reapproval = True
    po.save(update_fields=["awaiting_reapproval"])
    first_id = steps[0].pk
    transaction.on_commit(lambda: _notify_approvers(first_id))
