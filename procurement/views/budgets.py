"""Budget pages: the list with committed, spent and available, one cost center, and edit."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement import invoicing, selectors
from procurement.filters import BudgetFilter
from procurement.forms import BudgetForm
from procurement.models import Budget, CostCenter
from procurement.services import budgets as budget_services
from procurement.views.common import _page, _tidy_filters


@roles.role_required(Perm.READ_BUDGETS)
@require_GET
def budget_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Budget position per cost center: budget, committed, spent and available."""
    budget_filter = BudgetFilter(request.GET, queryset=selectors.budgets_with_position())
    _tidy_filters(budget_filter.form, order=["cost_center", "on_date", "currency"])
    page, query = _page(request, budget_filter.qs)
    rows = list(page.object_list)
    for budget in rows:
        used = budget.committed + budget.spent
        budget.used_pct = int(used * 100 / budget.amount) if budget.amount else (100 if used else 0)
        budget.used_bar = max(0, min(budget.used_pct, 100))
    return render(
        request,
        "procurement/budget_list.html",
        {
            "filter": budget_filter,
            "page": page,
            "rows": rows,
            "query": query,
            "can_edit": roles.may(request.user, Perm.KEEP_BUDGETS),
        },
    )


@roles.role_required(Perm.READ_BUDGETS)
@require_GET
def budget_cost_center(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One cost center's budgets by period, and what commits and consumes the chosen one."""
    cost_center = get_object_or_404(CostCenter, pk=pk)
    budgets = list(selectors.budgets_with_position(Budget.objects.filter(cost_center=cost_center)))
    today = timezone.localdate()
    chosen = None
    wanted = request.GET.get("budget")
    if wanted and wanted.isdigit():
        chosen = next((b for b in budgets if b.pk == int(wanted)), None)
    if chosen is None:
        chosen = next(
            (b for b in budgets if b.period_start <= today <= b.period_end and not b.gl_account_id),
            next((b for b in budgets if b.period_start <= today <= b.period_end), None),
        ) or (budgets[0] if budgets else None)
    commitments = list(selectors.budget_commitments(chosen)[:200]) if chosen else []
    spending = list(invoicing.budget_spending(chosen)[:200]) if chosen else []
    return render(
        request,
        "procurement/budget_cost_center.html",
        {
            "cost_center": cost_center,
            "budgets": budgets,
            "chosen": chosen,
            "commitments": commitments,
            "spending": spending,
            "can_edit": roles.may(request.user, Perm.KEEP_BUDGETS),
            "today": today,
        },
    )


@roles.role_required(Perm.KEEP_BUDGETS)
@require_http_methods(["GET", "POST"])
def budget_edit(request: AuthenticatedHttpRequest, pk: int | None = None) -> HttpResponse:
    """Set a budget for a cost center and period (finance leaders)."""
    budget = get_object_or_404(Budget, pk=pk) if pk else None
    if request.method == "POST":
        form = BudgetForm(request.POST)
        if form.is_valid():
            try:
                saved = budget_services.budget_set(
                    by=request.user, budget=budget, **form.cleaned_data
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Budget {saved} saved.")
                return redirect(
                    f"{reverse('procurement:budget_cost_center', args=[saved.cost_center_id])}"
                    f"?budget={saved.pk}"
                )
    else:
        if budget is not None:
            initial = {
                "cost_center": budget.cost_center_id,
                "gl_account": budget.gl_account_id,
                "period_start": budget.period_start,
                "period_end": budget.period_end,
                "amount": budget.amount,
                "currency": budget.currency,
                "overrun_policy": budget.overrun_policy,
                "note": budget.note,
            }
        else:
            year = timezone.localdate().year
            initial = {
                "cost_center": request.GET.get("cost_center"),
                "period_start": timezone.localdate().replace(year=year, month=1, day=1),
                "period_end": timezone.localdate().replace(year=year, month=12, day=31),
            }
        form = BudgetForm(initial=initial)
    return render(request, "procurement/budget_form.html", {"form": form, "budget": budget})
