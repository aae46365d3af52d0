"""The PO document (HTML and PDF) and sending it to the vendor."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement import documents, selectors
from procurement.forms import SendForm
from procurement.services import sending as sending_services
from procurement.views.orders import _buyer_po


@roles.role_required(Perm.MANAGE_ORDERS)
@require_POST
def po_send(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Email the PO document to the vendor (or to the addresses typed) now."""
    po = _buyer_po(pk)
    form = SendForm(request.POST)
    form.is_valid()
    try:
        po = sending_services.po_send(po=po, by=request.user, recipients=form.recipients())
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{po.number} emailed with the PDF attached.")
    return redirect("procurement:po_detail", pk=pk)


def _document(request: AuthenticatedHttpRequest, pk: int) -> selectors.PurchaseOrderDocument:
    document = selectors.po_document(pk, request.user)
    if document is None:
        raise Http404("No such purchase order.")
    return document


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def po_document(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The printable PO as the vendor receives it."""
    document = _document(request, pk)
    return render(
        request,
        "procurement/po_document.html",
        {"doc": document, "po": document.po, "lines": document.lines},
    )


@roles.role_required(Perm.READ_PURCHASING)
@require_GET
def po_pdf(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The PO as a PDF file."""
    document = _document(request, pk)
    response = HttpResponse(documents.render_po_pdf(document), content_type="application/pdf")
    disposition = "inline" if request.GET.get("inline") == "1" else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{document.po.number}.pdf"'
    return response
