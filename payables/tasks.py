"""Celery tasks for payables: ids in, one service call out."""

from celery import shared_task

from payables import idempotency, matching
from payables.models import Invoice

SWEEP_BATCH = 5000


@shared_task(acks_late=True)
def match_invoices(invoice_ids: list[int]) -> int:
    """Match a batch of invoices (idempotent, so at-least-once delivery is safe)."""
    return matching.match_invoices(invoice_ids)


@shared_task(acks_late=True)
def bulk_resolve(job_id: int) -> int:
    """Apply a bulk job's resolution, one exception per transaction (safe to re-run)."""
    from payables.resolutions import bulk_job_run

    return bulk_job_run(job_id).succeeded


@shared_task(acks_late=True)
def match_sweep() -> int:
    """Catch invoices a lost message left unmatched."""
    ids = list(
        Invoice.objects.awaiting_match().order_by("id").values_list("id", flat=True)[:SWEEP_BATCH]
    )
    return matching.match_invoices(ids)


@shared_task(acks_late=True)
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Key answers past their retention."""
    return idempotency.purge_expired_keys()


@shared_task(acks_late=True)
def import_batch_run(batch_id: int) -> None:
    """Import the files of a browser upload; progress and the report go on the batch row."""
    from payables import capture

    capture.import_batch_run(batch_id=batch_id)


def enqueue_match_for_po(po_id: int) -> None:
    """Re-match the invoices on a PO that are still waiting or in exception (after a receipt)."""
    ids = list(
        Invoice.objects.filter(purchase_order_id=po_id, status__in=matching.MATCHABLE).values_list(
            "id", flat=True
        )
    )
    if ids:
        match_invoices.delay(ids)
