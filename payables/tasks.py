"""Celery tasks for payables: ids in, one service call out."""

import datetime as dt

from celery import shared_task
from django.conf import settings

from payables import idempotency
from payables.models.invoices import Invoice
from payables.services import capture, matching
from payables.services.bulk import bulk_job_run
from payables.services.importing import MATCH_BATCH

SWEEP_BATCH = 5000


@shared_task(acks_late=True)
def match_invoices(invoice_ids: list[int]) -> int:
    """Match a batch of invoices (idempotent, so at-least-once delivery is safe)."""
    return matching.run_matching(invoice_ids)


@shared_task(acks_late=True)
def bulk_resolve(job_id: int) -> int:
    """Apply a bulk job's resolution, one exception per transaction (safe to re-run)."""
    return bulk_job_run(job_id).succeeded


@shared_task(acks_late=True)
def match_sweep() -> int:
    """Queue again the matches a killed worker or a lost message left pending."""
    older_than = dt.timedelta(seconds=settings.MATCH_STUCK_AFTER)
    ids = matching.claim_stuck(older_than=older_than, limit=SWEEP_BATCH)
    for start in range(0, len(ids), MATCH_BATCH):
        match_invoices.delay(ids[start : start + MATCH_BATCH])
    return len(ids)


@shared_task(acks_late=True)
def purge_idempotency_keys() -> int:
    """Forget Idempotency-Key answers past their retention."""
    return idempotency.purge_expired_keys()


@shared_task(acks_late=True)
def import_batch_run(batch_id: int) -> None:
    """Import the files of a browser upload; progress and the report go on the batch row."""
    capture.import_batch_run(batch_id=batch_id)


@shared_task(acks_late=True)
def match_po_invoices(po_id: int) -> None:
    """Match again a PO's invoices still waiting or in exception: a receipt was posted or an
    approved change order altered the PO (procurement queues this by name)."""
    ids = list(
        Invoice.objects.filter(purchase_order_id=po_id, status__in=matching.MATCHABLE).values_list(
            "id", flat=True
        )
    )
    if ids:
        match_invoices.delay(ids)
