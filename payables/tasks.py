"""Celery tasks for payables: ids in, one service call out."""

from celery import shared_task

from payables import matching
from payables.models import Invoice

SWEEP_BATCH = 5000


@shared_task(acks_late=True)
def match_invoices(invoice_ids: list[int]) -> int:
    """Match a batch of invoices (idempotent, so at-least-once delivery is safe)."""
    return matching.match_invoices(invoice_ids)


@shared_task(acks_late=True)
def match_sweep() -> int:
    """Catch invoices a lost message left unmatched."""
    ids = list(
        Invoice.objects.awaiting_match().order_by("id").values_list("id", flat=True)[:SWEEP_BATCH]
    )
    return matching.match_invoices(ids)


def enqueue_match_for_po(po_id: int) -> None:
    """Re-match the invoices on a PO that are still waiting or in exception (after a receipt)."""
    ids = list(
        Invoice.objects.filter(purchase_order_id=po_id, status__in=matching.MATCHABLE).values_list(
            "id", flat=True
        )
    )
    if ids:
        match_invoices.delay(ids)
