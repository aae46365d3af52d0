"""The single place procurement reaches up into payables.

Procurement sits below payables: an invoice points at a PO, never the other way round. A few
needs still go up, and they all go through this module so the arrow is visible in one file:

- a receipt (or a change order on a PO line) re-matches the invoices waiting on that PO;
- a PO with live invoices cannot be cancelled, and AP's corrections of a PO are checked
  against what has been invoiced;
- the PO page and the budgets read what has been invoiced, spent and paid.

It imports only `payables.models` and `payables.tasks`, which import nothing from
procurement's services, so loading it never closes a circle.
"""

from django.db.models import QuerySet

from payables.models import Invoice
from payables.tasks import enqueue_match_for_po
from procurement.models import PurchaseOrder


def rematch_po(po_id: int) -> None:
    """Queue the match again for the PO's invoices still waiting or in exception."""
    enqueue_match_for_po(po_id)


def live_invoices(po: PurchaseOrder) -> QuerySet[Invoice]:
    """The PO's invoices that still count: every one except the rejected."""
    return po.invoices.exclude(status=Invoice.Status.REJECTED)
