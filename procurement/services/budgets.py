"""Budgets: setting a budget (finance) and the extra approval step a request over budget
takes."""

import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import parse_decimal, round_money
from p2p.roles import Perm
from procurement import selectors
from procurement.models import ApprovalStep, Budget, CostCenter, GLAccount, PurchaseRequest
from procurement.services.common import _check_currency, _group, _money

# Who takes the extra step when a request goes over budget (policy "approve").
BUDGET_APPROVER_ROLE = roles.FINANCE_LEADER


def _budget_step(request: PurchaseRequest, after_step: int) -> ApprovalStep | None:
    """An extra finance step when the request does not fit its budget; raises when blocked."""
    position = selectors.budget_position_for(
        cost_center_id=request.cost_center_id,
        gl_account_id=request.gl_account_id,
        on_date=timezone.localdate(),
    )
    if position is None:
        return None
    budget = position.budget
    if budget.currency != request.currency:
        # No exchange rates here: a person checks a request the budget cannot measure.
        reason = (
            f"Budget {budget} is kept in {budget.currency}; the request is in "
            f"{request.currency}, so finance checks it."
        )
    elif request.total_amount <= position.available:
        return None
    else:
        short = request.total_amount - position.available
        if budget.overrun_policy == Budget.Overrun.BLOCK:
            raise DomainError(
                f"Over budget: {request.cost_center.code} has "
                f"{_money(position.available, budget.currency)} available until "
                f"{budget.period_end:%d %b %Y}; this request needs "
                f"{_money(request.total_amount, request.currency)}. The budget does not allow "
                "overruns: reduce the request or ask finance to raise the budget."
            )
        reason = (
            f"{_money(short, budget.currency)} more than the "
            f"{_money(position.available, budget.currency)} available in {budget}."
        )
    return ApprovalStep(
        step=after_step + 1,
        kind=ApprovalStep.Kind.BUDGET,
        approver_group=_group(BUDGET_APPROVER_ROLE),
        status=ApprovalStep.Status.WAITING,
        reason=reason,
    )


def budget_set(
    *,
    by: User,
    cost_center: CostCenter,
    period_start: dt.date,
    period_end: dt.date,
    amount: Decimal,
    currency: str = "EUR",
    gl_account: GLAccount | None = None,
    overrun_policy: str = Budget.Overrun.APPROVE,
    note: str = "",
    budget: Budget | None = None,
) -> Budget:
    """Create or change a budget for a cost center (optionally one GL account) and period."""
    roles.require(by, Perm.KEEP_BUDGETS)
    currency = _check_currency(currency)
    amount = round_money(parse_decimal(amount, "The budget"), currency)
    if amount < 0:
        raise DomainError("A budget cannot be negative.")
    if period_end < period_start:
        raise DomainError("The period ends before it starts.")
    if overrun_policy not in Budget.Overrun.values:
        raise DomainError("Choose what happens when a request goes over budget.")
    with transaction.atomic():
        overlapping = (
            Budget.objects.select_for_update(of=("self",))
            .filter(
                cost_center=cost_center,
                gl_account=gl_account,
                period_start__lte=period_end,
                period_end__gte=period_start,
            )
            .order_by("pk")
        )
        if budget is not None:
            overlapping = overlapping.exclude(pk=budget.pk)
        clash = overlapping.first()
        if clash is not None:
            raise DomainError(
                f"{clash} already covers part of this period; change that budget instead."
            )
        values = {
            "cost_center": cost_center,
            "gl_account": gl_account,
            "period_start": period_start,
            "period_end": period_end,
            "amount": amount,
            "currency": currency,
            "overrun_policy": overrun_policy,
            "note": note.strip()[:200],
        }
        if budget is None:
            budget = Budget.objects.create(updated_by=by, **values)
            audit_record(obj=budget, action=AuditAction.CREATED, by=by, changes=values)
        else:
            budget = Budget.objects.select_for_update().get(pk=budget.pk)
            changes = {
                key: f"{getattr(budget, key)} → {value}"
                for key, value in values.items()
                if getattr(budget, key) != value
            }
            for key, value in values.items():
                setattr(budget, key, value)
            budget.updated_by = by
            budget.save()
            audit_record(obj=budget, action=AuditAction.EDITED, by=by, changes=changes)
    return budget
