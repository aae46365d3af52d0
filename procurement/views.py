"""Procurement pages: requests, the approval inbox, purchase orders, their life and receipts.

Views parse input with a form, call one service and turn DomainError into a message;
PermissionDenied from a service bubbles up as a 403.
"""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from p2p import roles
from p2p.exceptions import DomainError
from p2p.models import AuditEvent
from payables.views import EXCEPTION_READERS
from procurement import selectors, services
from procurement.filters import PurchaseOrderFilter, PurchaseRequestFilter
from procurement.forms import (
    LINES_PREFIX,
    RECEIPT_PREFIX,
    DecisionForm,
    PurchaseOrderForm,
    PurchaseRequestForm,
    ReceiptHeaderForm,
    ReceiptLineFormSet,
    RequestLineFormSet,
)
from procurement.models import ApprovalStep, PurchaseOrder, PurchaseRequest

PAGE_SIZE = 50
SUBMITTABLE = (PurchaseRequest.Status.DRAFT, PurchaseRequest.Status.RETURNED)
WITHDRAWABLE = (*SUBMITTABLE, PurchaseRequest.Status.PENDING_APPROVAL)
INBOX_ROLES = (roles.APPROVER, roles.FINANCE_LEADER)


def _tidy_filters(form, *, order: list[str], drop: tuple[str, ...] = ()) -> None:
    """Lay out a FilterSet's form for the filter bar: chosen fields, 'Any …' blanks, date pickers."""
    for name in drop:
        form.fields.pop(name, None)
    form.order_fields(order)
    for field in form.fields.values():
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


@roles.role_required(roles.REQUESTER)
@require_http_methods(["GET", "POST"])
def request_create(request: HttpRequest) -> HttpResponse:
    """A new request: header and lines; saved as a draft or straight into approval."""
    if request.method == "POST":
        form = PurchaseRequestForm(request.POST)
        lines = RequestLineFormSet(request.POST, prefix=LINES_PREFIX)
        if form.is_valid() and lines.is_valid():
            data = form.cleaned_data
            try:
                purchase_request = services.request_create(
                    by=request.user,
                    title=data["title"],
                    cost_center=data["cost_center"],
                    gl_account=data["gl_account"],
                    category=data["category"],
                    currency=data["currency"],
                    needed_by=data["needed_by"],
                    justification=data["justification"],
                    preferred_vendor=data["preferred_vendor"],
                    lines=lines.line_inputs(),
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                if request.POST.get("action") != "submit":
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
    else:
        form = PurchaseRequestForm()
        lines = RequestLineFormSet(prefix=LINES_PREFIX)
    return render(request, "procurement/request_form.html", {"form": form, "lines": lines})


@roles.role_required(roles.REQUESTER)
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


def _visible_request(request: HttpRequest, pk: int) -> PurchaseRequest:
    purchase_request = selectors.request_for_detail(request.user, pk)
    if purchase_request is None:
        raise Http404("No such request.")
    return purchase_request


@roles.role_required(*roles.PO_READERS)
@require_GET
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One request: header, lines, approval steps, its POs, the audit trail and what can be done."""
    purchase_request = _visible_request(request, pk)
    approvals = list(purchase_request.approvals.all())
    refs = [("procurement.purchaserequest", purchase_request.pk)]
    refs += [("procurement.approvalstep", step.pk) for step in approvals]
    is_requester = purchase_request.requester_id == request.user.pk
    decidable = next(
        (
            step
            for step in approvals
            if step.status == ApprovalStep.Status.PENDING
            and not is_requester
            and services.can_decide(step, request.user)
        ),
        None,
    )
    return render(
        request,
        "procurement/request_detail.html",
        {
            "pr": purchase_request,
            "lines": list(purchase_request.lines.all()),
            "approvals": approvals,
            "orders": list(purchase_request.purchase_orders.all()),
            "events": list(AuditEvent.objects.for_objects(refs)),
            "can_submit": is_requester and purchase_request.status in SUBMITTABLE,
            "can_withdraw": is_requester and purchase_request.status in WITHDRAWABLE,
            "can_order": purchase_request.status == PurchaseRequest.Status.APPROVED
            and roles.has_role(request.user, roles.BUYER),
            "decidable": decidable,
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


# ---------- approvals ----------


@roles.role_required(*INBOX_ROLES)
@require_GET
def approval_inbox(request: HttpRequest) -> HttpResponse:
    """Pending approval steps this user can decide, oldest submission first."""
    page, query = _page(request, selectors.decidable_steps(request.user))
    return render(request, "procurement/approval_inbox.html", {"page": page, "query": query})


@roles.role_required(*INBOX_ROLES)
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve, reject or return one step; htmx gets the row back, a plain form a redirect."""
    step = get_object_or_404(
        ApprovalStep.objects.select_related(
            "request__requester", "request__cost_center", "approver_user", "approver_group"
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
        outcome = _decision_outcome(decided)
    if request.htmx:
        return render(
            request,
            "procurement/_approval_row.html",
            {
                "step": decided or step,
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
    return redirect("procurement:approval_inbox")


def _decision_outcome(step: ApprovalStep) -> str:
    number = step.request.number
    if step.status == ApprovalStep.Status.APPROVED:
        if step.request.status == PurchaseRequest.Status.APPROVED:
            return f"{number} approved; it is ready for a buyer to order."
        return f"Step {step.step} of {number} approved; it moves on to the next approver."
    if step.status == ApprovalStep.Status.RETURNED:
        return f"{number} returned to the requester for changes."
    return f"{number} rejected."


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
    may_receive = is_buyer or (
        roles.has_role(user, roles.REQUESTER)
        and po.request_id
        and po.request.requester_id == user.pk
    )
    return render(
        request,
        "procurement/po_detail.html",
        {
            "life": life,
            "po": po,
            "pr": po.request,
            "can_issue": is_buyer and po.status == PurchaseOrder.Status.DRAFT,
            "can_receive": bool(may_receive) and po.status in PurchaseOrder.RECEIVABLE_STATUSES,
            # Link AP documents only for roles that may open them; others see plain text.
            "link_invoices": roles.has_role(user, *roles.INVOICE_READERS),
            "link_exceptions": roles.has_role(user, *EXCEPTION_READERS),
            "link_runs": roles.has_role(user, *roles.PAYMENT_READERS),
        },
    )


@roles.role_required(roles.BUYER)
@require_POST
def po_issue(request: HttpRequest, pk: int) -> HttpResponse:
    """Issue a draft PO to its vendor."""
    po = get_object_or_404(PurchaseOrder, pk=pk)
    try:
        services.po_issue(po=po, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{po.number} issued to {po.vendor.name}.")
    return redirect("procurement:po_detail", pk=pk)


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
