"""Purchase request pages: list, create, edit, detail, submit, withdraw and copy."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.models import AuditAction, AuditEvent
from p2p.roles import Perm
from procurement import contracts, selectors
from procurement.filters import PurchaseRequestFilter
from procurement.forms import (
    LINES_PREFIX,
    AttachmentForm,
    PurchaseRequestForm,
    RequestLineFormSet,
    request_initial,
)
from procurement.models import ApprovalStep, PurchaseRequest
from procurement.services import approvals as approval_services
from procurement.services import attachments as attachment_services
from procurement.services import requests as request_services
from procurement.views.common import _page, _tidy_filters
from vendors.models import Vendor

SUBMITTABLE = (PurchaseRequest.Status.DRAFT, PurchaseRequest.Status.RETURNED)
WITHDRAWABLE = (*SUBMITTABLE, PurchaseRequest.Status.PENDING_APPROVAL)


@roles.role_required(Perm.RAISE_REQUEST)
@require_GET
def request_list(request: AuthenticatedHttpRequest) -> HttpResponse:
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
    request: AuthenticatedHttpRequest,
    form,
    lines,
    *,
    purchase_request: PurchaseRequest | None = None,
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


def _save_request(request: AuthenticatedHttpRequest, form, lines, purchase_request=None):
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
            return request_services.request_create(**values)
        return request_services.request_update(request=purchase_request, **values)
    except DomainError as exc:
        messages.error(request, exc.message)
        return None


def _after_save(
    request: AuthenticatedHttpRequest, purchase_request: PurchaseRequest
) -> HttpResponse:
    wants_submit = request.POST.get("action") == "submit"
    if not wants_submit or purchase_request.status == PurchaseRequest.Status.PENDING_APPROVAL:
        if purchase_request.status == PurchaseRequest.Status.PENDING_APPROVAL:
            messages.success(request, f"{purchase_request.number} saved; approval starts again.")
        else:
            messages.success(request, f"{purchase_request.number} saved as a draft.")
        return redirect("procurement:request_detail", pk=purchase_request.pk)
    try:
        request_services.request_submit(request=purchase_request, by=request.user)
    except DomainError as exc:
        # The draft is kept; the requester can submit it once the problem is fixed.
        messages.warning(
            request,
            f"{purchase_request.number} was saved as a draft but not submitted: {exc.message}",
        )
    else:
        messages.success(request, f"{purchase_request.number} sent for approval.")
    return redirect("procurement:request_detail", pk=purchase_request.pk)


@roles.role_required(Perm.RAISE_REQUEST)
@require_http_methods(["GET", "POST"])
def request_create(request: AuthenticatedHttpRequest) -> HttpResponse:
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


@roles.role_required(Perm.READ_PURCHASING)
@require_http_methods(["GET", "POST"])
def request_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Change a request: the requester's draft or returned request, or — during approval —
    the requester or an approver it waits on (who then cannot approve it)."""
    purchase_request = _visible_request(request, pk)
    if not request_services.can_edit_request(purchase_request, request.user):
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


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def request_line_row(request: AuthenticatedHttpRequest) -> HttpResponse:
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


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def request_form_hints(request: AuthenticatedHttpRequest) -> HttpResponse:
    """htmx: the contract items of the chosen vendor and the budget of the chosen coding."""
    form = PurchaseRequestForm(request.GET)
    context = _request_form_context(request, form, None)
    return render(request, "procurement/_request_hints.html", context)


def _visible_request(request: AuthenticatedHttpRequest, pk: int) -> PurchaseRequest:
    purchase_request = selectors.request_for_detail(request.user, pk)
    if purchase_request is None:
        raise Http404("No such request.")
    return purchase_request


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def request_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
            may_decide, on_behalf_of = approval_services.decision_capacity(step, user)
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
            if roles.may(user, Perm.READ_REMOVED)
            else [],
            "attachment_form": AttachmentForm(),
            "events": events,
            # Changes the requester did not make, each with who, when and old → new.
            "changes_by_others": [
                event
                for event in events
                if event.action == AuditAction.EDITED
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
            "can_edit": request_services.can_edit_request(purchase_request, user),
            "can_copy": roles.may(user, Perm.RAISE_REQUEST),
            "can_attach": attachment_services.can_change_attachments(purchase_request, user),
            "can_order": status == PurchaseRequest.Status.APPROVED
            and roles.may(user, Perm.MANAGE_ORDERS),
            "decidable": decidable,
            "on_behalf_of": on_behalf_of,
            "edited_by_me": any(editor.pk == user.pk for editor in editors),
        },
    )


@roles.role_required(Perm.RAISE_REQUEST)
@require_POST
def request_submit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Send a draft or returned request into approval."""
    purchase_request = _visible_request(request, pk)
    try:
        request_services.request_submit(request=purchase_request, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{purchase_request.number} sent for approval.")
    return redirect("procurement:request_detail", pk=pk)


@roles.role_required(Perm.RAISE_REQUEST)
@require_POST
def request_withdraw(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Take back a request that has not been ordered."""
    purchase_request = _visible_request(request, pk)
    try:
        request_services.request_withdraw(request=purchase_request, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{purchase_request.number} withdrawn.")
    return redirect("procurement:request_detail", pk=pk)


@roles.role_required(Perm.RAISE_REQUEST)
@require_POST
def request_copy(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Start a new draft from a previous request, then open it for changes."""
    source = _visible_request(request, pk)
    try:
        copy = request_services.request_copy(request=source, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("procurement:request_detail", pk=pk)
    messages.success(request, f"{copy.number} is a copy of {source.number}; check it and submit.")
    return redirect("procurement:request_edit", pk=copy.pk)
