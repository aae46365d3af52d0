"""Celery tasks for procurement: ids in, one service call out."""

from celery import shared_task
from django.contrib.auth import get_user_model

from p2p.exceptions import DomainError
from procurement.models import PurchaseOrder
from procurement.services.sending import po_send


@shared_task(acks_late=True)
def send_purchase_order(po_id: int, user_id: int) -> bool:
    """Email an issued PO to its vendor (after the issue has committed)."""
    po = PurchaseOrder.objects.get(pk=po_id)
    user = get_user_model().objects.get(pk=user_id)
    try:
        po_send(po=po, by=user)
    except DomainError:
        # No address or a refused send: the PO page shows it was not sent, and the buyer
        # can send it on demand; retrying would not change the outcome.
        return False
    return True
