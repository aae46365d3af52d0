"""Purchase order pages: list, create from approved requests, the PO's life, edit the draft,
issue, re-approval, close and cancel."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement import selectors
from procurement.filters import PurchaseOrderFilter
from procurement.forms import (
    PO_LINES_PREFIX,
    IssueForm,
    PoHeaderForm,
    PoLineFormSet,
    PoSelectionForm,
    PurchaseOrderForm,
    ReasonForm,
    po_line_initial,
)
from procurement.models import ApprovalStep, PurchaseOrder, PurchaseRequest
from procurement.services import approvals as approval_services
from procurement.services import orders as order_services
from procurement.views.common import PAGE_SIZE, _page, _tidy_filters


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def po_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Purchase orders with filters; buyers also see approved requests still waiting for a PO."""
    po_filter = PurchaseOrderFilter(request.GET, queryset=selectors.po_list(request.user))
    _tidy_filters(po_filter.form, order=["q", "status", "vendor", "buyer", "currency"])
    po_filter.form.fields["buyer"].queryset = (
        get_user_model().objects.filter(groups__name=roles.BUYER).order_by("first_name", "username")
    )
    page, query = _page(request, po_filter.qs)
    is_buyer = roles.may(request.user, Perm.MANAGE_ORDERS)
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


@roles.role_required(Perm.MANAGE_ORDERS)
@require_http_methods(["GET", "POST"])
def po_select(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Turn one or more approved requests into draft POs, one per vendor."""
    awaiting = list(selectors.requests_awaiting_po()[:200])
    if request.method == "POST":
        form = PoSelectionForm(request.POST, requests=awaiting)
        if form.is_valid():
            selections = [
                order_services.OrderSelection(request=pr, vendor=vendor)
                for pr, vendor in form.cleaned_data["chosen"]
            ]
            try:
                orders = order_services.po_create_from_requests(
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


@roles.role_required(Perm.MANAGE_ORDERS)
@require_http_methods(["GET", "POST"])
def po_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
                po = order_services.po_create_from_request(
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


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def po_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The lifecycle page: one PO's whole life from request to payment on one page."""
    life = selectors.po_life(request.user, pk)
    if life is None:
        raise Http404("No such purchase order.")
    po = life.po
    user = request.user
    is_buyer = roles.may(user, Perm.MANAGE_ORDERS)
    requester_ids = {pr.requester_id for pr in life.requests}
    may_receive = is_buyer or (roles.may(user, Perm.RAISE_REQUEST) and user.pk in requester_ids)
    is_draft = po.status == PurchaseOrder.Status.DRAFT
    is_open = po.status in PurchaseOrder.OPEN_STATUSES
    decidable = None
    for step in life.po_approvals:
        if step.status == ApprovalStep.Status.PENDING and approval_services.can_decide(step, user):
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
            "link_invoices": roles.may(user, Perm.READ_INVOICES),
            "link_exceptions": roles.may(user, Perm.READ_EXCEPTIONS),
            "link_runs": roles.may(user, Perm.READ_PAYMENTS),
        },
    )


def _buyer_po(pk: int) -> PurchaseOrder:
    return get_object_or_404(PurchaseOrder.objects.select_related("vendor"), pk=pk)


@roles.role_required(Perm.MANAGE_ORDERS)
@require_http_methods(["GET", "POST"])
def po_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Edit a draft PO: terms, ship-to and each line's quantity, price, coding and match type."""
    po = _buyer_po(pk)
    lines = list(po.lines.select_related("gl_account", "cost_center").order_by("line_no"))
    if request.method == "POST":
        header = PoHeaderForm(request.POST)
        formset = PoLineFormSet(request.POST, prefix=PO_LINES_PREFIX)
        if header.is_valid() and formset.is_valid():
            try:
                order_services.po_update_draft(
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


@roles.role_required(Perm.MANAGE_ORDERS)
@require_POST
def po_issue(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Issue a draft PO to its vendor (and email it when asked)."""
    po = _buyer_po(pk)
    form = IssueForm(request.POST)
    form.is_valid()
    send = form.cleaned_data.get("send_to_vendor", False)
    try:
        order_services.po_issue(
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


@roles.role_required(Perm.MANAGE_ORDERS)
@require_POST
def po_reapproval(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Ask the approvers to approve a draft PO above its approved amount."""
    po = _buyer_po(pk)
    try:
        order_services.po_request_reapproval(po=po, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{po.number} sent for re-approval.")
    return redirect("procurement:po_detail", pk=pk)


def _po_reason_action(
    request: AuthenticatedHttpRequest, pk: int, action, done: str
) -> HttpResponse:
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


@roles.role_required(Perm.MANAGE_ORDERS)
@require_POST
def po_close(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Close an issued PO and release what it still commits."""
    return _po_reason_action(
        request, pk, order_services.po_close, "closed; its open commitment is released."
    )


@roles.role_required(Perm.MANAGE_ORDERS)
@require_POST
def po_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Cancel a PO nothing was received or invoiced on; its requests can be ordered again."""
    return _po_reason_action(
        request, pk, order_services.po_cancel, "cancelled; its requests are back with the buyers."
    )
