"""Bulk resolution: one action over many exceptions, run in the background item by item."""

from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.celery import enqueue
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import parse_decimal
from p2p.roles import Perm
from payables.models.exceptions import BulkJob, BulkJobItem, InvoiceException
from payables.services.exceptions import ACTIONS, ActionInput
from payables.services.resolutions import rematch_on_commit, require_root_cause

BULK_MAX_ITEMS = 1000


def bulk_resolve_start(
    *,
    by: User,
    exception_ids: list[int],
    action: str,
    root_cause: str,
    note: str = "",
    max_amount: Decimal | None = None,
) -> BulkJob:
    """Queue one resolution for many exceptions; a worker applies it one exception at a time."""
    roles.require(by, Perm.RESOLVE_IN_BULK)
    entry = ACTIONS.get(action)
    if entry is None or not entry.bulk:
        offered = [entry.label.lower() for entry in ACTIONS.values() if entry.bulk]
        raise DomainError(f"In bulk you can {', '.join(offered[:-1])} or {offered[-1]}.")
    root_cause = require_root_cause(root_cause)
    ids = sorted({int(pk) for pk in exception_ids})
    if not ids:
        raise DomainError("Select at least one exception.")
    if len(ids) > BULK_MAX_ITEMS:
        raise DomainError(f"Select at most {BULK_MAX_ITEMS} exceptions at once.")
    note = note.strip()
    # A bulk job carries a root cause and a note; an action that needs more is not offered.
    for field, missing in entry.required:
        if field == "note" and not note:
            raise DomainError(missing)
    if max_amount is not None:
        max_amount = parse_decimal(max_amount, "Limit")
        if max_amount < 0:
            raise DomainError("The limit cannot be negative.")
    with transaction.atomic():
        found = list(
            InvoiceException.objects.filter(pk__in=ids).order_by("pk").values_list("pk", flat=True)
        )
        if len(found) != len(ids):
            raise DomainError("Some of the selected exceptions no longer exist; reload the queue.")
        job = BulkJob.objects.create(
            resolution=action,
            root_cause=root_cause,
            note=note,
            max_amount=max_amount,
            created_by=by,
            created_at=timezone.now(),
            total=len(found),
        )
        BulkJobItem.objects.bulk_create(BulkJobItem(job=job, exception_id=pk) for pk in found)
        audit_record(
            obj=job,
            action=AuditAction.CREATED,
            by=by,
            to_status=job.status,
            changes={"action": action, "exceptions": len(found), "limit": max_amount},
            note=note,
        )
        job_id = job.pk
        transaction.on_commit(lambda: enqueue("payables.tasks.bulk_resolve", job_id))
    return job


def _apply_bulk(job: BulkJob, exception: InvoiceException, by: User) -> None:
    # The job re-matches every invoice it resolved once at the end, not one task per item.
    answer = ActionInput(
        root_cause=job.root_cause, note=job.note, max_amount=job.max_amount, enqueue=False
    )
    ACTIONS[job.resolution].perform(exception, by, answer)


def bulk_job_run(job_id: int) -> BulkJob:
    """Work through a bulk job; each exception is all or nothing, failures are kept per item.

    Safe to run again after a crash: finished items are skipped, and every resolved invoice
    is handed to the engine in one batch at the end.
    """
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().select_related("created_by").get(pk=job_id)
        if job.status == BulkJob.Status.DONE:
            return job
        if job.status == BulkJob.Status.QUEUED:
            transition(job, BulkJob.Status.RUNNING, by=None)
    by = job.created_by
    items = list(job.items.filter(status=BulkJobItem.Status.PENDING).order_by("pk"))
    for item in items:
        try:
            with transaction.atomic():
                exception = InvoiceException.objects.get(pk=item.exception_id)
                _apply_bulk(job, exception, by)
                # An item's outcome is the job's bookkeeping, not a document's state: the
                # exception it resolved carries the trail, and the job's end records the counts.
                BulkJobItem.objects.filter(pk=item.pk).update(status=BulkJobItem.Status.DONE)
                BulkJob.objects.filter(pk=job.pk).update(succeeded=F("succeeded") + 1)
        except (DomainError, PermissionDenied) as exc:
            message = exc.message if isinstance(exc, DomainError) else str(exc)
            with transaction.atomic():
                BulkJobItem.objects.filter(pk=item.pk).update(
                    status=BulkJobItem.Status.FAILED, message=message[:300]
                )
                BulkJob.objects.filter(pk=job.pk).update(failed=F("failed") + 1)
    with transaction.atomic():
        job = BulkJob.objects.select_for_update().get(pk=job_id)
        job.finished_at = timezone.now()
        transition(
            job,
            BulkJob.Status.DONE,
            by=None,
            extra_fields=["finished_at"],
            changes={"succeeded": job.succeeded, "failed": job.failed},
        )
        if ACTIONS[job.resolution].rematches:
            rematch_on_commit(
                list(
                    InvoiceException.objects.filter(
                        pk__in=job.items.filter(status=BulkJobItem.Status.DONE).values(
                            "exception_id"
                        )
                    ).values_list("invoice_id", flat=True)
                )
            )
    return job
