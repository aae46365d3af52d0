"""Change orders on an issued PO."""

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from procurement.forms import REVISE_PREFIX, ReviseForm, ReviseLineFormSet
from procurement.models import PurchaseOrder
from procurement.services import revisions as revision_services
from procurement.views.orders import _buyer_po


@roles.role_required(Perm.MANAGE_ORDERS)
@require_http_methods(["GET", "POST"])
def po_revise(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A change order on an issued PO: new quantities or prices, with a reason."""
    po = _buyer_po(pk)
    lines = list(po.lines.order_by("line_no"))
    if request.method == "POST":
        form = ReviseForm(request.POST)
        formset = ReviseLineFormSet(request.POST, prefix=REVISE_PREFIX)
        if form.is_valid() and formset.is_valid():
            try:
                po = revision_services.po_revise(
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
