"""AP pages: invoices and their match evidence, the exception queue, payment runs."""

from decimal import Decimal, InvalidOperation
from itertools import groupby
from operator import attrgetter

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.db.models import Count, Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from p2p import roles
from p2p.exceptions import DomainError
from p2p.models import AuditEvent
from p2p.money import ZERO, line_amount
from p2p.roles import role_required
from payables import selectors, services
from payables.filters import InvoiceExceptionFilter, InvoiceFilter
from payables.forms import (
    FREE_LINES,
    ExceptionResolveForm,
    InvoiceHeaderForm,
    InvoiceLineFormSet,
    PaymentRunProposeForm,
    suggested_tax,
)
from payables.models import Invoice, InvoiceException, PaymentRun
from procurement.models import PurchaseOrder
from vendors.models import BankAccount, Vendor

PAGE_SIZE = 50
# Who may open the exceptions page; what each of them sees is narrowed by the selector.
EXCEPTION_READERS = (roles.AP_CLERK, roles.AP_MANAGER, roles.BUYER, roles.REQUESTER)
LINES_PREFIX = "lines"


def _page(request: HttpRequest, queryset: QuerySet) -> Page:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- invoices ------------------------------------------------------------------------------


@role_required(*roles.INVOICE_READERS)
def invoice_list(request: HttpRequest) -> HttpResponse:
    """All invoices, newest first, filtered by search text, status and vendor."""
    invoice_filter = InvoiceFilter(request.GET or None, queryset=selectors.invoice_list_queryset())
    fields = invoice_filter.form.fields
    fields["status"].choices = [("", "Any status"), *Invoice.Status.choices]
    fields["vendor"].empty_label = "Any vendor"
    return render(
        request,
        "payables/invoice_list.html",
        {
            "filter": invoice_filter,
            "page": _page(request, invoice_filter.qs),
            "can_enter": roles.has_role(request.user, *roles.AP),
            "filtered": any(request.GET.get(key) for key in ("q", "status", "vendor")),
        },
    )


def _find_po(params: QueryDict) -> tuple[PurchaseOrder | None, str]:
    """The PO chosen in step 1 (typed number wins over the select), or why there is none."""
    number = params.get("po_number", "").strip()
    candidates = PurchaseOrder.objects.select_related("vendor", "payment_terms")
    if number:
        po = candidates.filter(number__iexact=number).first()
        if po is None:
            return None, (
                f"There is no purchase order {number}. Check the number on the invoice, "
                "or enter the invoice without a PO."
            )
    else:
        try:
            po = candidates.filter(pk=int(params.get("po", ""))).first()
        except ValueError:
            return None, ""
        if po is None:
            return None, "That purchase order does not exist."
    if po.status not in PurchaseOrder.OPEN_STATUSES:
        return (
            None,
            f"{po.number} is {po.get_status_display().lower()}; invoices cannot be entered against it.",
        )
    return po, ""


def _plain(number: Decimal) -> str:
    """'1800.0000' → '1800' and '2.5000' → '2.5', never '1.8E+3', for prefilled inputs."""
    return f"{number.normalize():f}" if number else "0"


def _as_decimal(value: object) -> Decimal | None:
    try:
        number = Decimal(str(value).replace(",", "").strip())
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _entry_context(
    *, po: PurchaseOrder | None, header: InvoiceHeaderForm, formset, po_lines: list
) -> dict:
    """The line forms with their PO line figures and running amounts, for the entry section."""
    currency = str(header["currency"].value() or (po.currency if po else "")).upper()
    by_id = {line.pk: line for line in po_lines}
    net = ZERO
    for form in formset:
        po_line = str(form["po_line"].value() or "")
        form.po_line_info = by_id.get(int(po_line)) if po_line.isdigit() else None
        quantity, price = (
            _as_decimal(form["quantity"].value()),
            _as_decimal(form["unit_price"].value()),
        )
        form.amount_hint = (
            line_amount(quantity, price, currency or "EUR")
            if None not in (quantity, price)
            else None
        )
        net += form.amount_hint or ZERO
    if po is None:
        header.fields["vendor"].required = True
    if header.is_bound:
        # What the clerk keyed stays; the page script only suggests tax on a fresh form.
        header.fields["tax_amount"].widget.attrs["data-touched"] = "1"
    tax = _as_decimal(header["tax_amount"].value()) or ZERO
    return {
        "po": po,
        "header": header,
        "formset": formset,
        "currency_hint": currency,
        "net_hint": net,
        "total_hint": net + tax,
        "entry_open": True,
    }


@role_required(*roles.AP)
def invoice_create(request: HttpRequest) -> HttpResponse:
    """Enter a paper or PDF invoice: pick the PO, get its lines prefilled, adjust, capture."""
    if request.method == "POST":
        return _invoice_create_post(request)
    context: dict = {
        "open_pos": selectors.open_purchase_orders()[:300],
        "po_number": request.GET.get("po_number", ""),
        "entry_open": False,
    }
    po, lookup_error = (
        _find_po(request.GET)
        if (request.GET.get("po") or request.GET.get("po_number"))
        else (None, "")
    )
    if lookup_error:
        context["lookup_error"] = lookup_error
    if po is not None:
        po_lines = selectors.po_lines_with_open_to_bill(po)
        initial_lines = [
            {
                "po_line": line.pk,
                "description": line.description,
                "quantity": _plain(line.open_to_bill),
                "unit_price": _plain(line.unit_price),
            }
            for line in po_lines
        ]
        net = sum((line.open_to_bill * line.unit_price for line in po_lines), ZERO)
        header = InvoiceHeaderForm(
            initial={
                "purchase_order": po.pk,
                "currency": po.currency,
                "tax_amount": suggested_tax(net, po.currency),
            }
        )
        formset = InvoiceLineFormSet(initial=initial_lines, prefix=LINES_PREFIX)
        context.update(_entry_context(po=po, header=header, formset=formset, po_lines=po_lines))
        context["selected_po"] = po.pk
    elif request.GET.get("no_po"):
        header = InvoiceHeaderForm(initial={"currency": "EUR", "tax_amount": Decimal("0.00")})
        formset = InvoiceLineFormSet(initial=[{}] * FREE_LINES, prefix=LINES_PREFIX)
        context.update(_entry_context(po=None, header=header, formset=formset, po_lines=[]))
    if request.htmx:
        return render(request, "payables/_invoice_entry.html", context)
    return render(request, "payables/invoice_create.html", context)


def _invoice_create_post(request: HttpRequest) -> HttpResponse:
    header = InvoiceHeaderForm(request.POST)
    formset = InvoiceLineFormSet(request.POST, prefix=LINES_PREFIX)
    if header.is_valid() and formset.is_valid():
        data = header.cleaned_data
        po = data["purchase_order"]
        lines = [
            services.InvoiceLineInput(
                description=form.cleaned_data["description"].strip(),
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                po_line_id=form.cleaned_data["po_line"] if po else None,
            )
            for form in formset
            if not form.is_skipped()
        ]
        try:
            invoice = services.invoice_capture(
                by=request.user,
                vendor=po.vendor if po else data["vendor"],
                number=data["number"],
                invoice_date=data["invoice_date"],
                currency=data["currency"],
                lines=lines,
                tax_amount=data["tax_amount"],
                purchase_order=po,
                po_reference="" if po else data["po_reference"],
                source=Invoice.Source.FORM,
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request, f"Invoice {invoice.number} captured — matching runs in the background."
            )
            return redirect("payables:invoice_detail", pk=invoice.pk)
    po_value = header["purchase_order"].value()
    po = (
        PurchaseOrder.objects.select_related("vendor").filter(pk=po_value).first()
        if str(po_value or "").isdigit()
        else None
    )
    po_lines = selectors.po_lines_with_open_to_bill(po) if po else []
    context = {
        "open_pos": selectors.open_purchase_orders()[:300],
        "selected_po": po.pk if po else None,
        **_entry_context(po=po, header=header, formset=formset, po_lines=po_lines),
    }
    return render(request, "payables/invoice_create.html", context)


@role_required(*roles.INVOICE_READERS)
def invoice_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One invoice: header, lines beside their match evidence, exceptions, payments, history."""
    invoice = get_object_or_404(
        Invoice.objects.select_related(
            "vendor", "purchase_order", "purchase_order__buyer", "captured_by"
        ),
        pk=pk,
    )
    if request.htmx and request.GET.get("part") == "status":
        # Once the engine has decided, reload the whole page so the evidence shows too.
        if invoice.status != Invoice.Status.PENDING_MATCH:
            return HttpResponseClientRefresh()
        return render(request, "payables/_invoice_status.html", {"invoice": invoice})
    lines = list(
        invoice.lines.select_related("po_line", "match_result", "match_result__policy").order_by(
            "line_no"
        )
    )
    exceptions = list(
        invoice.exceptions.select_related("owner_user", "resolved_by", "invoice_line").order_by(
            "opened_at", "id"
        )
    )
    payments = list(invoice.payments.select_related("run").order_by("id"))
    refs = [("payables.invoice", invoice.pk)]
    refs += [("payables.invoiceexception", exception.pk) for exception in exceptions]
    refs += [("payables.payment", payment.pk) for payment in payments]
    return render(
        request,
        "payables/invoice_detail.html",
        {
            "invoice": invoice,
            "lines": lines,
            "exceptions": exceptions,
            "open_exceptions": sum(
                1 for e in exceptions if e.status == InvoiceException.Status.OPEN
            ),
            "payments": payments,
            "can_read_runs": roles.has_role(request.user, *roles.PAYMENT_READERS),
            "events": AuditEvent.objects.for_objects(refs),
        },
    )


# --- exceptions ----------------------------------------------------------------------------


QUEUE_TITLES = {
    "ap": ("Exception queue", "Every open problem on an invoice, what costs money first."),
    "buyer": ("My disputes", "Price and quantity disputes on your purchase orders."),
    "requester": ("Receipts needed", "Invoices waiting for you to record what arrived."),
    "buyer+requester": (
        "My disputes and receipts",
        "Disputes on your POs and receipts you still owe.",
    ),
}


@role_required(*EXCEPTION_READERS)
def exception_list(request: HttpRequest) -> HttpResponse:
    """The AP queue; buyers see their disputes, requesters the receipts they owe."""
    scoped, scope = selectors.exception_scope(request.user)
    data = request.GET.copy()
    data.setdefault("status", InvoiceException.Status.OPEN)
    exception_filter = InvoiceExceptionFilter(data, queryset=scoped)
    # The type tiles count every type under the other filters, so they work as a type switch.
    without_type = data.copy()
    without_type.pop("type", None)
    counts = selectors.exception_counts_by_type(
        InvoiceExceptionFilter(without_type, queryset=scoped).qs
    )
    today = timezone.localdate()
    title, subtitle = QUEUE_TITLES.get(scope, ("Exceptions", ""))
    is_ap = scope == "ap"
    return render(
        request,
        "payables/exception_list.html",
        {
            "filter": exception_filter,
            "page": _page(request, selectors.exception_queue(exception_filter.qs, today)),
            "counts": counts,
            "total_count": sum(row["count"] for row in counts),
            "current_type": data.get("type", ""),
            "current_status": data.get("status", ""),
            "vendors": (
                Vendor.objects.filter(invoices__exceptions__status=InvoiceException.Status.OPEN)
                .distinct()
                .order_by("name")
                .only("id", "name")
                if is_ap
                else []
            ),
            "is_ap": is_ap,
            "can_read_invoices": roles.has_role(request.user, *roles.INVOICE_READERS),
            "scope": scope,
            "title": title,
            "subtitle": subtitle,
            "today": today,
        },
    )


def _may_view_exception(user, exception: InvoiceException) -> bool:
    if roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER):
        return True
    if exception.owner_user_id == user.pk:
        return True
    return exception.owner == InvoiceException.Owner.BUYER and roles.has_role(user, roles.BUYER)


@role_required(*EXCEPTION_READERS)
def exception_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One exception with its evidence side by side and the form that resolves it."""
    exception = get_object_or_404(
        InvoiceException.objects.select_related(
            "invoice",
            "invoice__vendor",
            "invoice__purchase_order",
            "invoice__purchase_order__vendor",
            "invoice_line",
            "invoice_line__po_line",
            "invoice_line__match_result",
            "invoice_line__match_result__policy",
            "owner_user",
            "resolved_by",
        ),
        pk=pk,
    )
    user = request.user
    if not _may_view_exception(user, exception):
        raise PermissionDenied("This exception is routed to someone else.")
    is_open = exception.status == InvoiceException.Status.OPEN
    # Requesters answer a missing receipt by recording it, not by judging the invoice.
    can_resolve = is_open and (
        roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER)
        or (roles.has_role(user, roles.BUYER) and exception.owner == InvoiceException.Owner.BUYER)
    )
    can_receive = (
        is_open
        and exception.type == InvoiceException.Type.MISSING_RECEIPT
        and exception.invoice.purchase_order_id is not None
        and roles.has_role(user, roles.REQUESTER, roles.BUYER)
    )
    form = ExceptionResolveForm(initial={"root_cause": exception.suggested_root_cause})
    status = 200
    if request.method == "POST":
        if not can_resolve:
            raise PermissionDenied("You cannot resolve this exception.")
        form = ExceptionResolveForm(request.POST)
        if form.is_valid():
            try:
                services.exception_resolve(
                    exception=exception,
                    by=user,
                    resolution=form.cleaned_data["resolution"],
                    root_cause=form.cleaned_data["root_cause"],
                    note=form.cleaned_data["note"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
                status = exc.status_code
            else:
                messages.success(
                    request,
                    f"{exception.get_type_display()} on {exception.invoice.number} resolved "
                    f"({dict(ExceptionResolveForm.RESOLUTIONS)[form.cleaned_data['resolution']].lower()}).",
                )
                return redirect("payables:exception_list")
    line = exception.invoice_line
    refs = [("payables.invoiceexception", exception.pk), ("payables.invoice", exception.invoice_id)]
    return render(
        request,
        "payables/exception_detail.html",
        {
            "exception": exception,
            "invoice": exception.invoice,
            "line": line,
            "po_line": line.po_line if line else None,
            "result": getattr(line, "match_result", None) if line else None,
            "form": form,
            "can_resolve": can_resolve,
            "can_receive": can_receive,
            "can_read_invoices": roles.has_role(user, *roles.INVOICE_READERS),
            "needs_manager": exception.amount_at_stake > services.VARIANCE_APPROVAL_THRESHOLD,
            "threshold": services.VARIANCE_APPROVAL_THRESHOLD,
            "events": AuditEvent.objects.for_objects(refs),
        },
        status=status,
    )


# --- payment runs --------------------------------------------------------------------------


@role_required(*roles.PAYMENT_READERS)
def run_list(request: HttpRequest) -> HttpResponse:
    """Payment runs, the cash calendar, and the form that proposes the next run."""
    can_propose = roles.has_role(request.user, *roles.AP)
    today = timezone.localdate()
    form = PaymentRunProposeForm(today=today)
    if request.method == "POST":
        roles.require_role(request.user, *roles.AP)
        form = PaymentRunProposeForm(request.POST, today=today)
        if form.is_valid():
            try:
                run = services.payment_run_propose(
                    by=request.user,
                    pay_date=form.cleaned_data["pay_date"],
                    horizon_date=form.cleaned_data["horizon_date"],
                    currency=form.cleaned_data["currency"],
                )
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"{run.number} proposed: {run.payments.count()} invoices. Another approver must approve it.",
                )
                return redirect("payables:run_detail", pk=run.pk)
    runs = (
        PaymentRun.objects.select_related("prepared_by", "approved_by")
        .annotate(invoice_count=Count("payments"))
        .order_by("-id")
    )
    return render(
        request,
        "payables/run_list.html",
        {
            "page": _page(request, runs),
            "form": form,
            "can_propose": can_propose,
            "calendar": selectors.cash_calendar(today),
            "awaiting_approval": (
                []
                if can_propose
                else PaymentRun.objects.filter(status=PaymentRun.Status.PROPOSED)
                .select_related("prepared_by")
                .annotate(invoice_count=Count("payments"))
                .order_by("pay_date", "id")[:5]
            ),
            "today": today,
        },
    )


@role_required(*roles.PAYMENT_READERS)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One run per vendor: invoices, discounts taken, subtotals, and the approve/pay/cancel steps."""
    run = get_object_or_404(PaymentRun.objects.select_related("prepared_by", "approved_by"), pk=pk)
    payments = list(
        run.payments.select_related("invoice", "vendor")
        .prefetch_related(
            Prefetch(
                "vendor__bank_accounts",
                queryset=BankAccount.objects.filter(status=BankAccount.Status.VERIFIED),
                to_attr="verified_accounts",
            )
        )
        .order_by("vendor__name", "vendor_id", "invoice__due_date", "id")
    )
    vendors = []
    for vendor, rows in groupby(payments, key=attrgetter("vendor")):
        rows = list(rows)
        vendors.append(
            {
                "vendor": vendor,
                "account": vendor.verified_accounts[0] if vendor.verified_accounts else None,
                "payments": rows,
                "gross": sum((p.gross_amount for p in rows), ZERO),
                "discount": sum((p.discount_taken for p in rows), ZERO),
                "net": sum((p.net_amount for p in rows), ZERO),
            }
        )
    user = request.user
    status = run.status
    return render(
        request,
        "payables/run_detail.html",
        {
            "run": run,
            "vendors": vendors,
            "payment_count": len(payments),
            "is_preparer": run.prepared_by_id == user.pk,
            "can_approve": status == PaymentRun.Status.PROPOSED
            and roles.has_role(user, roles.AP_MANAGER, roles.FINANCE_LEADER),
            "can_mark_paid": status == PaymentRun.Status.APPROVED
            and roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER),
            "can_cancel": status in (PaymentRun.Status.PROPOSED, PaymentRun.Status.APPROVED)
            and roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER),
            "events": AuditEvent.objects.for_objects([("payables.paymentrun", run.pk)]),
        },
    )


def _run_step(request: HttpRequest, pk: int, step, success: str) -> HttpResponse:
    run = get_object_or_404(PaymentRun, pk=pk)
    try:
        run = step(run=run, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, success.format(run=run))
    return redirect(reverse("payables:run_detail", args=[pk]))


@require_POST
@role_required(roles.AP_MANAGER, roles.FINANCE_LEADER)
def run_approve(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve a proposed run (never by its preparer: the service refuses)."""
    return _run_step(
        request, pk, services.payment_run_approve, "{run.number} approved; it can now be paid."
    )


@require_POST
@role_required(roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER)
def run_mark_paid(request: HttpRequest, pk: int) -> HttpResponse:
    """The bank executed the run: its invoices become paid."""
    return _run_step(request, pk, services.payment_run_mark_paid, "{run.number} marked paid.")


@require_POST
@role_required(roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER)
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Drop an unpaid run; its invoices become payable again."""
    return _run_step(
        request,
        pk,
        services.payment_run_cancel,
        "{run.number} cancelled; its invoices are payable again.",
    )
