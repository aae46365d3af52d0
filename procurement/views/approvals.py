"""The approval inbox: deciding steps, and delegating an inbox while away."""

from django.contrib import messages
from django.db.models import Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement import selectors
from procurement.forms import DecisionForm, DelegationForm
from procurement.models import ApprovalDelegation, ApprovalStep, PurchaseRequest
from procurement.services import approvals as approval_services
from procurement.views.common import PAGE_SIZE, _page


@roles.role_required(Perm.APPROVE_REQUEST)
@require_GET
def approval_inbox(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What waits for this user (or for whom they stand in), oldest first, with the budget."""
    page, query = _page(request, selectors.decidable_steps(request.user))
    steps = list(page.object_list)
    delegators = selectors.delegators_of(request.user)
    positions = selectors.budget_positions_for(
        {(step.request.cost_center_id, step.request.gl_account_id) for step in steps}
    )
    labels = selectors.annotate_on_behalf(steps, request.user, delegators)
    for step, label in zip(steps, labels, strict=True):
        step.on_behalf_label = label
        step.budget = positions.get((step.request.cost_center_id, step.request.gl_account_id))
    return render(
        request,
        "procurement/approval_inbox.html",
        {
            "page": page,
            "steps": steps,
            "query": query,
            "delegators": delegators,
            "can_keep_rules": roles.may(request.user, Perm.KEEP_APPROVAL_RULES),
        },
    )


@roles.role_required(Perm.APPROVE_REQUEST)
@require_POST
def approval_decide(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Approve, reject or return one step; htmx gets the row back, a plain form a redirect."""
    step = get_object_or_404(
        ApprovalStep.objects.select_related(
            "request__requester",
            "request__cost_center",
            "approver_user",
            "approver_group",
            "purchase_order__vendor",
        ),
        pk=pk,
    )
    form = DecisionForm(request.POST)
    error = outcome = ""
    decided = None
    if not form.is_valid():
        error = "Choose approve, reject or return."
    else:
        try:
            decided = approval_services.approval_decide(
                step=step,
                by=request.user,
                decision=form.cleaned_data["decision"],
                comment=form.cleaned_data["comment"],
            )
        except DomainError as exc:
            error = exc.message
    if decided is not None:
        decided = ApprovalStep.objects.select_related(
            "request__requester", "request__cost_center", "purchase_order__vendor", "on_behalf_of"
        ).get(pk=decided.pk)
        outcome = _decision_outcome(decided)
    if request.htmx:
        shown = decided or step
        # The row template reads the budget off the step, as the inbox sets it.
        shown.budget = selectors.budget_position_for(  # type: ignore[attr-defined]
            cost_center_id=shown.request.cost_center_id,
            gl_account_id=shown.request.gl_account_id,
        )
        return render(
            request,
            "procurement/_approval_row.html",
            {
                "step": shown,
                "decided": decided is not None,
                "error": error,
                "comment": request.POST.get("comment", ""),
                "outcome": outcome,
            },
        )
    if error:
        messages.error(request, error)
    else:
        messages.success(request, outcome)
    next_url = request.POST.get("next")
    if next_url == "detail":
        return redirect("procurement:request_detail", pk=step.request_id)
    if next_url == "po" and step.purchase_order_id:
        return redirect("procurement:po_detail", pk=step.purchase_order_id)
    return redirect("procurement:approval_inbox")


def _decision_outcome(step: ApprovalStep) -> str:
    po = step.purchase_order
    if po is not None:
        if step.status == ApprovalStep.Status.APPROVED:
            if not po.awaiting_reapproval:
                return f"The change to {po.number} is approved."
            return f"Step {step.step} of the change to {po.number} approved; it moves on."
        return f"The change to {po.number} was not approved; the buyer is told."
    number = step.request.number
    if step.status == ApprovalStep.Status.APPROVED:
        if step.request.status == PurchaseRequest.Status.APPROVED:
            return f"{number} approved; it is ready for a buyer to order."
        return f"Step {step.step} of {number} approved; it moves on to the next approver."
    if step.status == ApprovalStep.Status.RETURNED:
        return f"{number} returned to the requester for changes."
    return f"{number} rejected."


@roles.role_required(Perm.APPROVE_REQUEST)
@require_http_methods(["GET", "POST"])
def delegation_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Who stands in for me while I am away (and for whom I stand in)."""
    user = request.user
    if request.method == "POST":
        form = DelegationForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                delegation = approval_services.delegation_create(
                    by=user,
                    to_user=data["to_user"],
                    start_date=data["start_date"],
                    end_date=data["end_date"],
                    reason=data["reason"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"{delegation.to_user.get_full_name() or delegation.to_user.username} stands in "
                    f"for you from {delegation.start_date:%d %b} to {delegation.end_date:%d %b %Y}.",
                )
                return redirect("procurement:delegation_list")
    else:
        today = timezone.localdate()
        form = DelegationForm(user=user, initial={"start_date": today, "end_date": today})
    delegations = (
        ApprovalDelegation.objects.filter(Q(from_user=user) | Q(to_user=user))
        .select_related("from_user", "to_user")
        .order_by("-start_date", "-id")[:PAGE_SIZE]
    )
    return render(
        request,
        "procurement/delegations.html",
        {"form": form, "delegations": delegations, "today": timezone.localdate()},
    )


@roles.role_required(Perm.APPROVE_REQUEST)
@require_POST
def delegation_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """End a delegation early."""
    delegation = get_object_or_404(ApprovalDelegation, pk=pk)
    try:
        approval_services.delegation_cancel(delegation=delegation, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Delegation cancelled; approvals come to you again.")
    return redirect("procurement:delegation_list")
