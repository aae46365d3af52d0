"""Approval rules (kept by finance): list and edit."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement.forms import ApprovalRuleForm
from procurement.models import ApprovalRule
from procurement.services import routing as routing_services


@roles.role_required(Perm.READ_APPROVAL_RULES)
@require_GET
def rule_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The approval rules, step by step: who approves what, for which cost center and band."""
    rules = ApprovalRule.objects.select_related(
        "cost_center", "approver_group", "approver_user"
    ).order_by("-active", "step", "min_amount", "id")
    return render(
        request,
        "procurement/rule_list.html",
        {"rules": rules, "can_edit": roles.may(request.user, Perm.KEEP_APPROVAL_RULES)},
    )


def _rule_initial(rule: ApprovalRule) -> dict:
    return {
        "name": rule.name,
        "step": rule.step,
        "min_amount": rule.min_amount,
        "max_amount": rule.max_amount,
        "cost_center": rule.cost_center_id,
        "department": rule.department,
        "category": rule.category,
        "approver_group": rule.approver_group_id,
        "approver_user": rule.approver_user_id,
        "active": rule.active,
    }


@roles.role_required(Perm.KEEP_APPROVAL_RULES)
@require_http_methods(["GET", "POST"])
def rule_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    """Add or change an approval rule (finance leaders)."""
    rule = get_object_or_404(ApprovalRule, pk=pk) if pk else None
    if request.method == "POST":
        form = ApprovalRuleForm(request.POST)
        if form.is_valid():
            try:
                saved = routing_services.approval_rule_save(
                    by=request.user, rule=rule, **form.cleaned_data
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Rule “{saved.name}” saved.")
                return redirect("procurement:rule_list")
    else:
        form = ApprovalRuleForm(initial=_rule_initial(rule) if rule else None)
    return render(request, "procurement/rule_form.html", {"form": form, "rule": rule})
