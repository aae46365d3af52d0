"""AP pages: invoices and their match evidence, the exception queue, payment runs."""

from decimal import Decimal, InvalidOperation

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django_htmx.http import HttpResponseClientRefresh

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.models import AuditEvent
from p2p.money import ZERO, line_amount
from p2p.roles import Perm, role_required
from payables.filters import InvoiceFilter
from payables.forms.capture import AttachmentForm
from payables.forms.invoices import (
    FREE_LINES,
    InvoiceHeaderForm,
    InvoiceLineFormSet,
    suggested_tax,
)
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.selectors import invoices as invoice_selectors
from payables.services import capture
from payables.services.invoices import InvoiceLineInput
from payables.uploads import attachment_limit, limited_uploads, refused_uploads
from procurement.models import PurchaseOrder

PAGE_SIZE = 50
LINES_PREFIX = "lines"


def _page(request: AuthenticatedHttpRequest, queryset: QuerySet) -> Page:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


# --- invoices ------------------------------------------------------------------------------


@role_required(Perm.READ_INVOICES)
def invoice_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """All invoices, newest first, filtered by search text, status and vendor."""
    invoice_filter = InvoiceFilter(
        request.GET or None, queryset=invoice_selectors.invoice_list_queryset()
    )
    fields = invoice_filter.form.fields
    # django-filter puts empty_label first itself; a blank choice of our own would be a second.
    fields["status"].empty_label = "Any status"
    fields["vendor"].empty_label = "Any vendor"
    fields["document_type"].empty_label = "Invoices and credit notes"
    return render(
        request,
        "payables/invoice_list.html",
        {
            "filter": invoice_filter,
            "page": _page(request, invoice_filter.qs),
            "can_enter": roles.may(request.user, Perm.CAPTURE_INVOICE),
            "filtered": any(
                request.GET.get(key) for key in ("q", "status", "vendor", "document_type")
            ),
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
            if quantity is not None and price is not None
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


@role_required(Perm.CAPTURE_INVOICE)
@limited_uploads(attachment_limit)
def invoice_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Enter a paper or PDF invoice: pick the PO, get its lines prefilled, adjust, capture."""
    if request.method == "POST":
        return _invoice_create_post(request)
    context: dict = {
        "open_pos": invoice_selectors.open_purchase_orders()[:300],
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
        po_lines = invoice_selectors.po_lines_with_open_to_bill(po)
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
        context["attachment_form"] = AttachmentForm()
    elif request.GET.get("no_po"):
        header = InvoiceHeaderForm(initial={"currency": "EUR", "tax_amount": Decimal("0.00")})
        formset = InvoiceLineFormSet(initial=[{}] * FREE_LINES, prefix=LINES_PREFIX)
        context.update(_entry_context(po=None, header=header, formset=formset, po_lines=[]))
        context["attachment_form"] = AttachmentForm()
    if request.htmx:
        return render(request, "payables/_invoice_entry.html", context)
    return render(request, "payables/invoice_create.html", context)


def _invoice_create_post(request: AuthenticatedHttpRequest) -> HttpResponse:
    header = InvoiceHeaderForm(request.POST)
    formset = InvoiceLineFormSet(request.POST, prefix=LINES_PREFIX)
    attachment_form = AttachmentForm(request.POST, request.FILES)
    attachments_ok = attachment_form.is_valid()
    for refused in refused_uploads(request):
        attachment_form.add_error("attachments", refused.error)
        attachments_ok = False
    if header.is_valid() and formset.is_valid() and attachments_ok:
        data = header.cleaned_data
        po = data["purchase_order"]
        lines = [
            InvoiceLineInput(
                description=form.cleaned_data["description"].strip(),
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                po_line_id=form.cleaned_data["po_line"] if po else None,
            )
            for form in formset
            if not form.is_skipped()
        ]
        vendor = po.vendor if po else data["vendor"]
        try:
            invoice = capture.invoice_capture_with_attachments(
                attachments=attachment_form.cleaned_data["attachments"],
                by=request.user,
                vendor=vendor,
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
            # A double click sends the form twice: show the invoice the first copy captured.
            twin = capture.recent_duplicate_of(
                vendor_id=vendor.pk,
                number=data["number"],
                invoice_date=data["invoice_date"],
                tax_amount=data["tax_amount"],
                by=request.user,
            )
            if twin is not None:
                messages.info(
                    request,
                    f"Invoice {twin.number} from {vendor.name} was already captured at "
                    f"{timezone.localtime(twin.captured_at):%H:%M} (the form was sent twice); "
                    "here it is.",
                )
                return redirect("payables:invoice_detail", pk=twin.pk)
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
    po_lines = invoice_selectors.po_lines_with_open_to_bill(po) if po else []
    context = {
        "open_pos": invoice_selectors.open_purchase_orders()[:300],
        "selected_po": po.pk if po else None,
        "attachment_form": attachment_form,
        **_entry_context(po=po, header=header, formset=formset, po_lines=po_lines),
    }
    return render(request, "payables/invoice_create.html", context)


@role_required(Perm.READ_INVOICES)
def invoice_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
        invoice.exceptions.select_related(
            "owner_user", "resolved_by", "invoice_line", "credit_note"
        ).order_by("opened_at", "id")
    )
    payments = list(invoice.payments.select_related("run").order_by("id"))
    attachments = list(invoice.attachments.select_related("uploaded_by"))
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
                1 for e in exceptions if e.status in InvoiceException.UNRESOLVED
            ),
            "payments": payments,
            "attachments": attachments,
            "is_credit": invoice.document_type == Invoice.DocumentType.CREDIT_NOTE,
            "can_attach": roles.may(request.user, Perm.CAPTURE_INVOICE),
            "attachment_form": AttachmentForm(),
            "can_read_runs": roles.may(request.user, Perm.READ_PAYMENTS),
            "events": AuditEvent.objects.for_objects(refs),
        },
    )
