"""Goods receipts: recording what arrived against a PO."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement import selectors
from procurement.forms import RECEIPT_PREFIX, ReceiptHeaderForm, ReceiptLineFormSet
from procurement.models import PurchaseOrder
from procurement.services import receipts as receipt_services


@roles.role_required(Perm.RECEIVE_GOODS)
@require_http_methods(["GET", "POST"])
def receipt_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
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
                receipt = receipt_services.receipt_post(
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
            "tolerance": receipt_services.RECEIPT_OVER_TOLERANCE_PCT,
            "cancel_url": reverse("procurement:po_detail", args=[po.pk]),
        },
    )
