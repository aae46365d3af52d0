"""Procurement pages: requests, the approval inbox, purchase orders, their life and receipts.

Views parse input with a form, call one service and turn DomainError into a message;
PermissionDenied from a service bubbles up as a 403.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from p2p import roles
from p2p.downloads import private_file_response
from p2p.exceptions import DomainError
from p2p.models import AuditEvent
from payables.views.invoices import EXCEPTION_READERS
from procurement import contracts, documents, selectors, services
from procurement.filters import BudgetFilter, PurchaseOrderFilter, PurchaseRequestFilter
from procurement.forms import (
    LINES_PREFIX,
    PO_LINES_PREFIX,
    RECEIPT_PREFIX,
    REVISE_PREFIX,
    ApprovalRuleForm,
    AttachmentForm,
    BudgetForm,
    DecisionForm,
    DelegationForm,
    IssueForm,
    PoHeaderForm,
    PoLineFormSet,
    PoSelectionForm,
    PurchaseOrderForm,
    PurchaseRequestForm,
    ReasonForm,
    ReceiptHeaderForm,
    ReceiptLineFormSet,
    RequestLineFormSet,
    ReviseForm,
    ReviseLineFormSet,
    SendForm,
    po_line_initial,
    request_initial,
)
from procurement.models import (
    ApprovalDelegation,
    ApprovalRule,
    ApprovalStep,
    Budget,
    CostCenter,
    PurchaseOrder,
    PurchaseRequest,
)
from vendors.models import Vendor

PAGE_SIZE = 50
SUBMITTABLE = (PurchaseRequest.Status.DRAFT, PurchaseRequest.Status.RETURNED)
WITHDRAWABLE = (*SUBMITTABLE, PurchaseRequest.Status.PENDING_APPROVAL)
INBOX_ROLES = (roles.APPROVER, roles.FINANCE_LEADER)
RULE_KEEPERS = (roles.FINANCE_LEADER, roles.ADMIN)
BUDGET_READERS = (roles.APPROVER, roles.BUYER, roles.FINANCE_LEADER, roles.ADMIN)
BUDGET_KEEPERS = (roles.FINANCE_LEADER, roles.ADMIN)


def _tidy_filters(form, *, order: list[str], drop: tuple[str, ...] = ()) -> None:
    """Lay out a FilterSet's form for the filter bar: chosen fields, 'Any …' blanks, date pickers."""
    for name in drop:
        form.fields.pop(name, None)
    form.order_fields(order)
    for name, field in form.fields.items():
        if not field.label:
            # Schema generation can leave a declared filter's lazy label unset.
            field.label = name.replace("_", " ").capitalize()
        if getattr(field, "empty_label", None) is not None:
            field.empty_label = f"Any {field.label.lower()}"
            field.widget.choices = field.choices  # the widget keeps its own copy of the choices
        if field.widget.input_type == "text" and "date" in type(field).__name__.lower():
            field.widget.input_type = "date"


def _page(request: HttpRequest, rows) -> tuple:
    """The requested page of rows and the query string without `page`, for the pager links."""
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


# ---------- purchase requests ----------


@roles.role_required(roles.REQUESTER)
@require_GET
def request_list(request: HttpRequest) -> HttpResponse:
    """'My requests': the requester's own requests, where each sits and who must act."""
    request_filter = PurchaseRequestFilter(
        request.GET, queryset=selectors.request_list(request.user)
    )
    _tidy_filters(
        request_filter.form, order=["q", "status", "category", "cost_center"], drop=("requester",)
    )
    request_filter.form.fields["submitted_after"].label = "Submitted from"
    page, query = _page(request, request_filter.qs)
    return render(
        request,
        "procurement/request_list.html",
        {
            "filter": request_filter,
            "page": page,
            "query": query,
        },
    )


def _request_form_context(
    request: HttpRequest, form, lines, *, purchase_request: PurchaseRequest | None = None
) -> dict:
    vendor_id = form["preferred_vendor"].value()
    vendor = Vendor.objects.filter(pk=vendor_id).first() if vendor_id else None
    return {
        "form": form,
        "lines": lines,
        "pr": purchase_request,
        "contract_items": contracts.contract_items(vendor),
        "contract_vendor": vendor,
        "budget": _budget_hint(form),
    }


def _budget_hint(form) -> selectors.BudgetPosition | None:
    cost_center, gl_account = form["cost_center"].value(), form["gl_account"].value()
    try:
        return selectors.budget_position_for(
            cost_center_id=int(cost_center), gl_account_id=int(gl_account) if gl_account else None
        )
    except (TypeError, ValueError):
        return None


def _save_request(request: HttpRequest, form, lines, purchase_request=None):
    """Create or update from valid forms; returns the request or None after a message."""
    data = form.cleaned_data
    values = {
        "by": request.user,
        "title": data["title"],
        "cost_center": data["cost_center"],
        "gl_account": data["gl_account"],
        "category": data["category"],
        "currency": data["currency"],
        "needed_by": data["needed_by"],
        "justification": data["justification"],
        "preferred_vendor": data["preferred_vendor"],
        "lines": lines.line_inputs(),
        "attachments": data.get("attachments") or [],
    }
    try:
        if purchase_request is None:
            return services.request_create(**values)
        return services.request_update(request=purchase_request, **values)
    except DomainError as exc:
        messages.error(request, exc.message)
        return None


def _after_save(request: HttpRequest, purchase_request: PurchaseRequest) -> HttpResponse:
    wants_submit = request.POST.get("action") == "submit"
    if not wants_submit or purchase_request.status == PurchaseRequest.Status.PENDING_APPROVAL:
        if purchase_request.status == PurchaseRequest.Status.PENDING_APPROVAL:
            messages.success(request, f"{purchase_request.number} saved; approval starts again.")
        else:
            messages.success(request, f"{purchase_request.number} saved as a draft.")
        return redirect("procurement:request_detail", pk=purchase_request.pk)
    try:
        services.request_submit(request=purchase_request, by=request.user)
    except DomainError as exc:
        # The draft is kept; the requester can submit it once the problem is fixed.
        messages.warning(
            request,
            f"{purchase_request.number} was saved as a draft but not submitted: {exc.message}",
        )
    else:
        messages.success(request, f"{purchase_request.number} sent for approval.")
    return redirect("procurement:request_detail", pk=purchase_request.pk)


@roles.role_required(roles.REQUESTER)
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    """A new request: header, lines and quotes; saved as a draft or straight into approval."""
    if request.method == "POST":
        form = PurchaseRequestForm(request.POST, request.FILES)
        lines = RequestLineFormSet(request.POST, prefix=LINES_PREFIX)
        if form.is_valid() and lines.is_valid():
            purchase_request = _save_request(request, form, lines)
            if purchase_request is not None:
                return _after_save(request, purchase_request)
    else:
        form = PurchaseRequestForm()
        lines = RequestLineFormSet(prefix=LINES_PREFIX)
    return render(
        request, "procurement/request_form.html", _request_form_context(request, form, lines)
    )


@roles.role_required(*roles.PO_READERS)
@require_http_methods(["GET", "POST"])
def request_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a request: the requester's draft or returned request, or — during approval —
    the requester or an approver it waits on (who then cannot approve it)."""
    purchase_request = _visible_request(request, pk)
    if not services.can_edit_request(purchase_request, request.user):
        messages.error(
            request,
            f"{purchase_request.number} is {purchase_request.get_status_display().lower()}; "
            "you cannot change it now.",
        )
        return redirect("procurement:request_detail", pk=pk)
    if request.method == "POST":
        form = PurchaseRequestForm(request.POST, request.FILES)
        lines = RequestLineFormSet(request.POST, prefix=LINES_PREFIX)
        if form.is_valid() and lines.is_valid():
            saved = _save_request(request, form, lines, purchase_request)
            if saved is not None:
                return _after_save(request, saved)
    else:
        header, line_rows = request_initial(purchase_request)
        form = PurchaseRequestForm(initial=header)
        lines = RequestLineFormSet(prefix=LINES_PREFIX, initial=line_rows)
    context = _request_form_context(request, form, lines, purchase_request=purchase_request)
    context["is_requester"] = purchase_request.requester_id == request.user.pk
    return render(request, "procurement/request_form.html", context)


@roles.role_required(*roles.PO_READERS)
@require_GET
def request_line_row(request: HttpRequest) -> HttpResponse:
    """htmx: one empty line row for the request form, plus the formset's new form count."""
    try:
        index = max(int(request.GET.get(f"{LINES_PREFIX}-TOTAL_FORMS", "1")), 0)
    except ValueError:
        index = 1
    formset = RequestLineFormSet(prefix=LINES_PREFIX)
    line = formset.empty_form
    line.prefix = formset.add_prefix(index)
    return render(
        request,
        "procurement/_request_line_row.html",
        {
            "line": line,
            "next_total": index + 1,
            "prefix": LINES_PREFIX,
            "oob": True,
        },
    )


@roles.role_required(*roles.PO_READERS)
@require_GET
def request_form_hints(request: HttpRequest) -> HttpResponse:
    """htmx: the contract items of the chosen vendor and the budget of the chosen coding."""
    form = PurchaseRequestForm(request.GET)
    context = _request_form_context(request, form, None)
    return render(request, "procurement/_request_hints.html", context)


def _visible_request(request: HttpRequest, pk: int) -> PurchaseRequest:
    purchase_request = selectors.request_for_detail(request.user, pk)
    if purchase_request is None:
        raise Http404("No such request.")
    return purchase_request


@roles.role_required(*roles.PO_READERS)
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: header, lines, quotes, budget, approval steps, its POs and the trail."""
    purchase_request = _visible_request(request, pk)
    approvals = list(purchase_request.approvals.all())
    refs = [("procurement.purchaserequest", purchase_request.pk)]
    refs += [("procurement.approvalstep", step.pk) for step in approvals]
    user = request.user
    is_requester = purchase_request.requester_id == user.pk
    decidable, on_behalf_of = None, None
    for step in approvals:
        if step.status == ApprovalStep.Status.PENDING and not is_requester:
            may_decide, on_behalf_of = services.decision_capacity(step, user)
            if may_decide:
                decidable = step
                break
    editors = list(purchase_request.editors.all())
    events = list(AuditEvent.objects.for_objects(refs))
    status = purchase_request.status
    return render(
        request,
        "procurement/request_detail.html",
        {
            "pr": purchase_request,
            "lines": list(purchase_request.lines.all()),
            "approvals": approvals,
            "orders": list(purchase_request.orders.all()),
            "attachments": list(purchase_request.attachments.all()),
            "removed_attachments": selectors.removed_attachments(purchase_request.pk)
            if roles.has_role(user, *roles.AUDIT_READERS)
            else [],
            "attachment_form": AttachmentForm(),
            "events": events,
            # Changes the requester did not make, each with who, when and old → new.
            "changes_by_others": [
                event
                for event in events
                if event.action == "edited"
                and event.object_type == "procurement.purchaserequest"
                and event.actor_id != purchase_request.requester_id
            ],
            "budget": selectors.budget_position_for(
                cost_center_id=purchase_request.cost_center_id,
                gl_account_id=purchase_request.gl_account_id,
            ),
            "editors": editors,
            "can_submit": is_requester and status in SUBMITTABLE,
            "can_withdraw": is_requester and status in WITHDRAWABLE,
            "can_edit": services.can_edit_request(purchase_request, user),
            "can_copy": roles.has_role(user, roles.REQUESTER),
            "can_attach": services.can_change_attachments(purchase_request, user),
            "can_order": status == PurchaseRequest.Status.APPROVED
            and roles.has_role(user, roles.BUYER),
            "decidable": decidable,
            "on_behalf_of": on_behalf_of,
            "edited_by_me": any(editor.pk == user.pk for editor in editors),
        },
    )


@roles.role_required(roles.REQUESTER)
@require_POST
def request_submit(request: HttpRequest, pk: int) -> HttpResponse:
    """Send a draft or returned request into approval."""
    purchase_request = _visible_request(request, pk)
    try:
        services.request_submit(request=purchase_request, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{purchase_request.number} sent for approval.")
    return redirect("procurement:request_detail", pk=pk)


@roles.role_required(roles.REQUESTER)
@require_POST
def request_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Take back a request that has not been ordered."""
    purchase_request = _visible_request(request, pk)
    try:
        services.request_withdraw(request=purchase_request, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{purchase_request.number} withdrawn.")
    return redirect("procurement:request_detail", pk=pk)


@roles.role_required(roles.REQUESTER)
@require_POST
def request_copy(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a new draft from a previous request, then open it for changes."""
    source = _visible_request(request, pk)
    try:
        copy = services.request_copy(request=source, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("procurement:request_detail", pk=pk)
    messages.success(request, f"{copy.number} is a copy of {source.number}; check it and submit.")
    return redirect("procurement:request_edit", pk=copy.pk)


@roles.role_required(*roles.PO_READERS)
@require_POST
def request_attach(request: HttpRequest, pk: int) -> HttpResponse:
    """Add quotes or specifications to a request."""
    purchase_request = _visible_request(request, pk)
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid() or not form.cleaned_data["files"]:
        messages.error(request, "Choose a file to attach.")
    else:
        try:
            saved = services.request_attachment_add(
                request=purchase_request, by=request.user, uploads=form.cleaned_data["files"]
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"{len(saved)} file{'s' if len(saved) != 1 else ''} attached."
            )
    return redirect("procurement:request_detail", pk=pk)


@roles.role_required(*roles.PO_READERS)
@require_GET
def request_attachment(request: HttpRequest, pk: int, attachment_pk: int) -> FileResponse:
    """Download an attachment — only for users who may see the request (never a public URL)."""
    attachment = selectors.attachment_for(request.user, pk, attachment_pk)
    if attachment is None or (
        attachment.removed_at is not None and not roles.has_role(request.user, *roles.AUDIT_READERS)
    ):
        raise Http404("No such attachment.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file is missing from storage.") from None
    return private_file_response(
        handle,
        filename=attachment.original_name,
        content_type=attachment.content_type,
        inline=request.GET.get("inline") == "1" and attachment.content_type == "application/pdf",
    )


@roles.role_required(*roles.PO_READERS)
@require_POST
def request_attachment_remove(request: HttpRequest, pk: int, attachment_pk: int) -> HttpResponse:
    """Take an attachment off a request that can still change, saying why."""
    attachment = selectors.attachment_for(request.user, pk, attachment_pk)
    if attachment is None:
        raise Http404("No such attachment.")
    try:
        services.request_attachment_remove(
            attachment=attachment, by=request.user, reason=request.POST.get("reason", "")
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{attachment.original_name} removed.")
    return redirect("procurement:request_detail", pk=pk)


# ---------- approvals ----------


@roles.role_required(*INBOX_ROLES)
@require_GET
def approval_inbox(request: HttpRequest) -> HttpResponse:
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
            "can_keep_rules": roles.has_role(request.user, *RULE_KEEPERS),
        },
    )


@roles.role_required(*INBOX_ROLES)
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
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
            decided = services.approval_decide(
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
        shown.budget = selectors.budget_position_for(
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
    if step.purchase_order_id:
        po = step.purchase_order
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


@roles.role_required(*INBOX_ROLES)
@require_http_methods(["GET", "POST"])
def delegation_list(request: HttpRequest) -> HttpResponse:
    """Who stands in for me while I am away (and for whom I stand in)."""
    user = request.user
    if request.method == "POST":
        form = DelegationForm(request.POST, user=user)
        if form.is_valid():
            data = form.cleaned_data
            try:
                delegation = services.delegation_create(
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


@roles.role_required(*INBOX_ROLES)
@require_POST
def delegation_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """End a delegation early."""
    delegation = get_object_or_404(ApprovalDelegation, pk=pk)
    try:
        services.delegation_cancel(delegation=delegation, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Delegation cancelled; approvals come to you again.")
    return redirect("procurement:delegation_list")


@roles.role_required(*INBOX_ROLES, *RULE_KEEPERS)
@require_GET
def rule_list(request: HttpRequest) -> HttpResponse:
    """The approval rules, step by step: who approves what, for which cost center and band."""
    rules = ApprovalRule.objects.select_related(
        "cost_center", "approver_group", "approver_user"
    ).order_by("-active", "step", "min_amount", "id")
    return render(
        request,
        "procurement/rule_list.html",
        {"rules": rules, "can_edit": roles.has_role(request.user, *RULE_KEEPERS)},
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


@roles.role_required(*RULE_KEEPERS)
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Add or change an approval rule (finance leaders)."""
    rule = get_object_or_404(ApprovalRule, pk=pk) if pk else None
    if request.method == "POST":
        form = ApprovalRuleForm(request.POST)
        if form.is_valid():
            try:
                saved = services.approval_rule_save(by=request.user, rule=rule, **form.cleaned_data)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Rule “{saved.name}” saved.")
                return redirect("procurement:rule_list")
    else:
        form = ApprovalRuleForm(initial=_rule_initial(rule) if rule else None)
    return render(request, "procurement/rule_form.html", {"form": form, "rule": rule})


# ---------- budgets ----------


@roles.role_required(*BUDGET_READERS)
@require_GET
def budget_list(request: HttpRequest) -> HttpResponse:
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
            "can_edit": roles.has_role(request.user, *BUDGET_KEEPERS),
        },
    )


@roles.role_required(*BUDGET_READERS)
@require_GET
def budget_cost_center(request: HttpRequest, pk: int) -> HttpResponse:
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
    spending = list(selectors.budget_spending(chosen)[:200]) if chosen else []
    return render(
        request,
        "procurement/budget_cost_center.html",
        {
            "cost_center": cost_center,
            "budgets": budgets,
            "chosen": chosen,
            "commitments": commitments,
            "spending": spending,
            "can_edit": roles.has_role(request.user, *BUDGET_KEEPERS),
            "today": today,
        },
    )


@roles.role_required(*BUDGET_KEEPERS)
@require_http_methods(["GET", "POST"])
def budget_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """Set a budget for a cost center and period (finance leaders)."""
    budget = get_object_or_404(Budget, pk=pk) if pk else None
    if request.method == "POST":
        form = BudgetForm(request.POST)
        if form.is_valid():
            try:
                saved = services.budget_set(by=request.user, budget=budget, **form.cleaned_data)
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


# ---------- purchase orders ----------


@roles.role_required(*roles.PO_READERS)
@require_GET
def po_list(request: HttpRequest) -> HttpResponse:
    """Purchase orders with filters; buyers also see approved requests still waiting for a PO."""
    po_filter = PurchaseOrderFilter(request.GET, queryset=selectors.po_list(request.user))
    _tidy_filters(po_filter.form, order=["q", "status", "vendor", "buyer", "currency"])
    po_filter.form.fields["buyer"].queryset = (
        get_user_model().objects.filter(groups__name=roles.BUYER).order_by("first_name", "username")
    )
    page, query = _page(request, po_filter.qs)
    is_buyer = roles.has_role(request.user, roles.BUYER)
    return render(
        request,
        "procurement/po_list.html",
        {
            "filter": po_filter,
            "page": page,
            "query": query,
            "is_buyer": is_buyer,
            "own_only": not selectors.sees_everything(request.user),
            "awaiting": list(selectors.requests_awaiting_po()[:PAGE_SIZE]) if is_buyer else [],
        },
    )


@roles.role_required(roles.BUYER)
@require_http_methods(["GET", "POST"])
def po_select(request: HttpRequest) -> HttpResponse:
    """Turn one or more approved requests into draft POs, one per vendor."""
    awaiting = list(selectors.requests_awaiting_po()[:200])
    if request.method == "POST":
        form = PoSelectionForm(request.POST, requests=awaiting)
        if form.is_valid():
            selections = [
                services.OrderSelection(request=pr, vendor=vendor)
                for pr, vendor in form.cleaned_data["chosen"]
            ]
            try:
                orders = services.po_create_from_requests(
                    selections=selections,
                    by=request.user,
                    payment_terms=form.cleaned_data["payment_terms"],
                    ship_to=form.cleaned_data["ship_to"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                numbers = ", ".join(po.number for po in orders)
                messages.success(
                    request,
                    f"Draft {numbers} created; check {'them' if len(orders) > 1 else 'it'} "
                    "and issue to the vendor.",
                )
                if len(orders) == 1:
                    return redirect("procurement:po_detail", pk=orders[0].pk)
                return redirect(f"{reverse('procurement:po_list')}?status=draft")
    else:
        form = PoSelectionForm(requests=awaiting)
    return render(request, "procurement/po_select.html", {"form": form, "awaiting": awaiting})


@roles.role_required(roles.BUYER)
@require_http_methods(["GET", "POST"])
def po_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Turn an approved request into a draft PO: vendor, payment terms, ship-to."""
    purchase_request = get_object_or_404(
        PurchaseRequest.objects.select_related(
            "requester", "cost_center", "gl_account", "preferred_vendor"
        ),
        pk=pk,
    )
    if request.method == "POST":
        form = PurchaseOrderForm(request.POST, request=purchase_request)
        if form.is_valid():
            try:
                po = services.po_create_from_request(
                    request=purchase_request,
                    vendor=form.cleaned_data["vendor"],
                    payment_terms=form.cleaned_data["payment_terms"],
                    ship_to=form.cleaned_data["ship_to"],
                    by=request.user,
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request, f"Draft {po.number} created; check it and issue it to the vendor."
                )
                return redirect("procurement:po_detail", pk=po.pk)
    else:
        form = PurchaseOrderForm(
            request=purchase_request,
            initial={
                "vendor": purchase_request.preferred_vendor_id,
            },
        )
    return render(
        request,
        "procurement/po_form.html",
        {
            "form": form,
            "pr": purchase_request,
            "lines": list(purchase_request.lines.all()),
            "orderable": purchase_request.status == PurchaseRequest.Status.APPROVED,
        },
    )


@roles.role_required(*roles.PO_READERS)
@require_GET
def po_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The lifecycle page: one PO's whole life from request to payment on one page."""
    life = selectors.po_life(request.user, pk)
    if life is None:
        raise Http404("No such purchase order.")
    po = life.po
    user = request.user
    is_buyer = roles.has_role(user, roles.BUYER)
    requester_ids = {pr.requester_id for pr in life.requests}
    may_receive = is_buyer or (roles.has_role(user, roles.REQUESTER) and user.pk in requester_ids)
    is_draft = po.status == PurchaseOrder.Status.DRAFT
    is_open = po.status in PurchaseOrder.OPEN_STATUSES
    decidable = None
    for step in life.po_approvals:
        if step.status == ApprovalStep.Status.PENDING and services.can_decide(step, user):
            decidable = step
    deviations = selectors.contract_price_deviations(po, life.lines) if is_draft else []
    return render(
        request,
        "procurement/po_detail.html",
        {
            "life": life,
            "po": po,
            "pr": po.request,
            "is_buyer": is_buyer,
            "can_issue": is_buyer and is_draft and not po.awaiting_reapproval,
            "can_edit": is_buyer and is_draft and not po.awaiting_reapproval,
            "needs_reapproval": is_buyer
            and is_draft
            and not po.awaiting_reapproval
            and po.total_amount > po.approved_amount,
            "can_revise": is_buyer and is_open and not po.awaiting_reapproval,
            "can_close": is_buyer and is_open and not po.awaiting_reapproval,
            "can_cancel": is_buyer
            and po.status in (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.ISSUED),
            "can_send": is_buyer and (is_open or po.status == PurchaseOrder.Status.CLOSED),
            "can_receive": bool(may_receive) and po.status in PurchaseOrder.RECEIVABLE_STATUSES,
            "deviations": deviations,
            "issue_form": IssueForm(initial={"send_to_vendor": bool(po.vendor.email)}),
            "decidable": decidable,
            "open_commitment": life.totals["committed"] if is_open else None,
            # Link AP documents only for roles that may open them; others see plain text.
            "link_invoices": roles.has_role(user, *roles.INVOICE_READERS),
            "link_exceptions": roles.has_role(user, *EXCEPTION_READERS),
            "link_runs": roles.has_role(user, *roles.PAYMENT_READERS),
        },
    )


def _buyer_po(pk: int) -> PurchaseOrder:
    return get_object_or_404(PurchaseOrder.objects.select_related("vendor"), pk=pk)


@roles.role_required(roles.BUYER)
@require_http_methods(["GET", "POST"])
def po_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a draft PO: terms, ship-to and each line's quantity, price, coding and match type."""
    po = _buyer_po(pk)
    lines = list(po.lines.select_related("gl_account", "cost_center").order_by("line_no"))
    if request.method == "POST":
        header = PoHeaderForm(request.POST)
        formset = PoLineFormSet(request.POST, prefix=PO_LINES_PREFIX)
        if header.is_valid() and formset.is_valid():
            try:
                services.po_update_draft(
                    po=po,
                    by=request.user,
                    lines=formset.line_edits(),
                    payment_terms=header.cleaned_data["payment_terms"],
                    ship_to=header.cleaned_data["ship_to"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"{po.number} saved.")
                return redirect("procurement:po_detail", pk=po.pk)
    else:
        header = PoHeaderForm(
            initial={
                "payment_terms": po.payment_terms_id
                if po.payment_terms_id != po.vendor.payment_terms_id
                else None,
                "ship_to": po.ship_to,
            }
        )
        formset = PoLineFormSet(
            prefix=PO_LINES_PREFIX, initial=[po_line_initial(line) for line in lines]
        )
    by_id = {str(line.pk): line for line in lines}
    rows = [(by_id.get(str(form["po_line_id"].value())), form) for form in formset.forms]
    deviations = {
        d.line.pk: d.contract_price for d in selectors.contract_price_deviations(po, lines)
    }
    return render(
        request,
        "procurement/po_edit.html",
        {
            "po": po,
            "header": header,
            "formset": formset,
            "rows": rows,
            "deviations": deviations,
            "editable": po.status == PurchaseOrder.Status.DRAFT and not po.awaiting_reapproval,
        },
    )


@roles.role_required(roles.BUYER)
@require_POST
def po_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue a draft PO to its vendor (and email it when asked)."""
    po = _buyer_po(pk)
    form = IssueForm(request.POST)
    form.is_valid()
    send = form.cleaned_data.get("send_to_vendor", False)
    try:
        services.po_issue(
            po=po,
            by=request.user,
            confirm_contract_prices=form.cleaned_data.get("confirm_contract_prices", False),
            send_to_vendor=send,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        note = ""
        if send and po.vendor.email:
            note = f" and emailed to {po.vendor.email}"
        elif send:
            note = "; the vendor has no email address, so send or print it yourself"
        messages.success(request, f"{po.number} issued to {po.vendor.name}{note}.")
    return redirect("procurement:po_detail", pk=pk)


@roles.role_required(roles.BUYER)
@require_POST
def po_reapproval(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask the approvers to approve a draft PO above its approved amount."""
    po = _buyer_po(pk)
    try:
        services.po_request_reapproval(po=po, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{po.number} sent for re-approval.")
    return redirect("procurement:po_detail", pk=pk)


@roles.role_required(roles.BUYER)
@require_http_methods(["GET", "POST"])
def po_revise(request: HttpRequest, pk: int) -> HttpResponse:
    """A change order on an issued PO: new quantities or prices, with a reason."""
    po = _buyer_po(pk)
    lines = list(po.lines.order_by("line_no"))
    if request.method == "POST":
        form = ReviseForm(request.POST)
        formset = ReviseLineFormSet(request.POST, prefix=REVISE_PREFIX)
        if form.is_valid() and formset.is_valid():
            try:
                po = services.po_revise(
                    po=po,
                    by=request.user,
                    lines=formset.changes(),
                    reason=form.cleaned_data["reason"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                if po.awaiting_reapproval:
                    messages.warning(
                        request,
                        f"The change raises {po.number} above its approved amount; it waits "
                        "for approval and applies once approved.",
                    )
                else:
                    messages.success(request, f"{po.number} is now revision {po.revision}.")
                return redirect("procurement:po_detail", pk=po.pk)
    else:
        form = ReviseForm()
        formset = ReviseLineFormSet(
            prefix=REVISE_PREFIX, initial=[{"po_line_id": line.pk} for line in lines]
        )
    by_id = {str(line.pk): line for line in lines}
    rows = [(by_id.get(str(f["po_line_id"].value())), f) for f in formset.forms]
    return render(
        request,
        "procurement/po_revise.html",
        {
            "po": po,
            "form": form,
            "formset": formset,
            "rows": rows,
            "revisable": po.status in PurchaseOrder.OPEN_STATUSES and not po.awaiting_reapproval,
        },
    )


def _po_reason_action(request: HttpRequest, pk: int, action, done: str) -> HttpResponse:
    """Run a buyer's PO step that takes an optional reason, then back to the PO page."""
    po = _buyer_po(pk)
    form = ReasonForm(request.POST)
    form.is_valid()
    try:
        action(po=po, by=request.user, reason=form.cleaned_data.get("reason", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{po.number} {done}")
    return redirect("procurement:po_detail", pk=pk)


@roles.role_required(roles.BUYER)
@require_POST
def po_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close an issued PO and release what it still commits."""
    return _po_reason_action(
        request, pk, services.po_close, "closed; its open commitment is released."
    )


@roles.role_required(roles.BUYER)
@require_POST
def po_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel a PO nothing was received or invoiced on; its requests can be ordered again."""
    return _po_reason_action(
        request, pk, services.po_cancel, "cancelled; its requests are back with the buyers."
    )


@roles.role_required(roles.BUYER)
@require_POST
def po_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Email the PO document to the vendor (or to the addresses typed) now."""
    po = _buyer_po(pk)
    form = SendForm(request.POST)
    form.is_valid()
    try:
        po = services.po_send(po=po, by=request.user, recipients=form.recipients())
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{po.number} emailed with the PDF attached.")
    return redirect("procurement:po_detail", pk=pk)


def _document(request: HttpRequest, pk: int) -> selectors.PurchaseOrderDocument:
    document = selectors.po_document(pk, request.user)
    if document is None:
        raise Http404("No such purchase order.")
    return document


@roles.role_required(*roles.PO_READERS)
@require_GET
def po_document(request: HttpRequest, pk: int) -> HttpResponse:
    """The printable PO as the vendor receives it."""
    document = _document(request, pk)
    return render(
        request,
        "procurement/po_document.html",
        {"doc": document, "po": document.po, "lines": document.lines},
    )


@roles.role_required(*roles.PO_READERS)
@require_GET
def po_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The PO as a PDF file."""
    document = _document(request, pk)
    response = HttpResponse(documents.render_po_pdf(document), content_type="application/pdf")
    disposition = "inline" if request.GET.get("inline") == "1" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{document.po.number}.pdf"'
    return response


# ---------- receipts ----------


@roles.role_required(roles.REQUESTER, roles.BUYER)
@require_http_methods(["GET", "POST"])
def receipt_create(request: HttpRequest, pk: int) -> HttpResponse:
    """Record what arrived (or went back) on a PO, line by line."""
    po = selectors.receivable_po(request.user, pk)
    if po is None:
        raise Http404("No such purchase order.")
    po_lines = list(po.lines.order_by("line_no"))
    if request.method == "POST":
        header = ReceiptHeaderForm(request.POST)
        formset = ReceiptLineFormSet(request.POST, prefix=RECEIPT_PREFIX)
        if header.is_valid() and formset.is_valid():
            try:
                receipt = services.receipt_post(
                    po=po,
                    by=request.user,
                    lines=formset.line_inputs(),
                    received_on=header.cleaned_data["received_on"],
                    note=header.cleaned_data["note"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"Receipt {receipt.number} recorded on {po.number}.")
                return redirect("procurement:po_detail", pk=po.pk)
    else:
        header = ReceiptHeaderForm(initial={"received_on": timezone.localdate()})
        formset = ReceiptLineFormSet(
            prefix=RECEIPT_PREFIX, initial=[{"po_line_id": line.pk} for line in po_lines]
        )
    forms_by_line = {}
    for line_form in formset.forms:
        line_id = line_form["po_line_id"].value()
        forms_by_line[str(line_id)] = line_form
    rows = [(line, forms_by_line.get(str(line.pk))) for line in po_lines]
    return render(
        request,
        "procurement/receipt_form.html",
        {
            "po": po,
            "header": header,
            "formset": formset,
            "rows": rows,
            "receivable": po.status in PurchaseOrder.RECEIVABLE_STATUSES,
            "tolerance": services.RECEIPT_OVER_TOLERANCE_PCT,
            "cancel_url": reverse("procurement:po_detail", args=[po.pk]),
        },
    )
