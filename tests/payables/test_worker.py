"""Matching through a real Celery worker on Redis, triggered by the on-commit hook."""

import os
import signal
import time

import pytest
from django.db import connection
from django.db.models import Count

from bench.generate import generate
from p2p.models import AuditEvent
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchResult
from payables.tasks import match_invoices
from tests.flow import invoice, issued_po, receive
from tests.worker import Worker, wait_for

N_KILL = 2000

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def worker():
    running = Worker().start()
    yield running
    running.stop()


def test_captured_invoice_is_matched_by_a_real_worker(people, setup_org, worker):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    # Committed in autocommit mode: on_commit fires at once and .delay() goes to Redis.
    inv = invoice(po, people, "INV-2026-0201", {1: ("40", "23.50")})

    def settled():
        return (
            Invoice.objects.filter(pk=inv.pk).exclude(status=Invoice.Status.PENDING_MATCH).exists()
        )

    assert wait_for(settled, timeout=60), "the worker did not match the invoice"
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED
    assert inv.touchless is True
    assert inv.match_results.count() == 1


def _match_running_elsewhere() -> bool:
    """True while another connection is inside the matching engine's statements."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state = 'active' "
            "AND datname = current_database() AND query LIKE '%%match_%%'"
        )
        return cursor.fetchone() is not None


def _assert_matched_exactly_once(invoice_ids: list[int]) -> None:
    invoices = Invoice.objects.filter(pk__in=invoice_ids)
    assert not invoices.filter(status=Invoice.Status.PENDING_MATCH).exists()
    assert MatchResult.objects.filter(invoice_id__in=invoice_ids).count() == 3 * len(invoice_ids)
    # One move out of pending_match per invoice in the audit trail: the killed run left nothing.
    moves = AuditEvent.objects.filter(
        object_type="payables.invoice", object_id__in=invoice_ids, from_status="pending_match"
    )
    assert moves.count() == len(invoice_ids)
    assert moves.values("object_id").distinct().count() == len(invoice_ids)
    open_per_problem = (
        InvoiceException.objects.filter(invoice_id__in=invoice_ids, status="open")
        .values("invoice_id", "invoice_line_id", "type")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
    )
    assert not open_per_problem.exists()
    assert invoices.filter(match_attempts=1).count() == len(invoice_ids)


@pytest.mark.parametrize("what", ["pool process", "whole worker"])
def test_killed_worker_loses_nothing_and_matches_each_invoice_once(what):
    generate(N_KILL)  # bench data: POs, receipts and 10% problem invoices
    ids = list(
        Invoice.objects.filter(number__startswith="BINV-")
        .order_by("id")
        .values_list("id", flat=True)
    )
    # A short visibility timeout so a message held by a dead worker comes back within the test.
    env = {"CELERY_VISIBILITY_TIMEOUT": "6"}
    first = Worker(concurrency=1, env=env).start()
    first.wait_ready()
    try:
        match_invoices.delay(ids)
        assert wait_for(_match_running_elsewhere, timeout=60, interval=0.01), (
            "the batch never started"
        )
        if what == "pool process":
            for pid in first.child_pids():
                os.kill(pid, signal.SIGKILL)  # the parent sees the loss and requeues the task
            survivor = first
        else:
            first.kill_hard()  # parent and children die; Redis hands the message out again
            survivor = Worker(concurrency=1, env=env, queue=first.queue).start()
        assert Invoice.objects.filter(
            pk__in=ids, status=Invoice.Status.PENDING_MATCH
        ).count() == len(ids), "the killed run must not have committed anything"
        assert wait_for(
            lambda: (
                not Invoice.objects.filter(pk__in=ids, status=Invoice.Status.PENDING_MATCH).exists()
            ),
            timeout=120,
        ), "the task was not redelivered"
        _assert_matched_exactly_once(ids)
    finally:
        first.stop()
        if what != "pool process":
            survivor.stop()


def test_after_a_killed_worker_the_sweep_has_every_invoice_matched_once_within_90_seconds():
    generate(N_KILL)
    ids = list(
        Invoice.objects.filter(number__startswith="BINV-")
        .order_by("id")
        .values_list("id", flat=True)
    )
    # The visibility timeout keeps its production hour: only the sweep can bring the batch back.
    # A 20 s stuck age instead of the default 60 s keeps the suite short; the 90 s bound holds
    # for the default too (60 s plus the 30 s sweep interval).
    env = {"MATCH_STUCK_AFTER": "20"}
    first = Worker(concurrency=1, env=env).start()
    first.wait_ready()
    survivor = None
    try:
        match_invoices.delay(ids)
        assert wait_for(_match_running_elsewhere, timeout=60, interval=0.01), (
            "the batch never started"
        )
        first.kill_hard()
        killed_at = time.monotonic()
        assert Invoice.objects.filter(
            pk__in=ids, status=Invoice.Status.PENDING_MATCH
        ).count() == len(ids), "the killed run must not have committed anything"
        survivor = Worker(concurrency=1, env=env, queue=first.queue, beat=True).start()
        assert wait_for(
            lambda: (
                not Invoice.objects.filter(pk__in=ids, status=Invoice.Status.PENDING_MATCH).exists()
            ),
            timeout=90,
            interval=0.5,
        ), "the sweep did not re-queue the killed batch within 90 s"
        print(f"recovered {len(ids)} invoices {time.monotonic() - killed_at:.1f} s after SIGKILL")
        _assert_matched_exactly_once(ids)
    finally:
        first.stop()
        if survivor is not None:
            survivor.stop()


def _other_backends() -> dict[int, object]:
    """Client backends on the test database other than this one: pid -> start time."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        return dict(cursor.fetchall())


def test_a_worker_keeps_its_database_connection_between_batches():
    """The second batch runs on the backend the first one opened, not on a new one."""
    from django.utils import timezone

    generate(20)
    ids = list(
        Invoice.objects.filter(number__startswith="BINV-")
        .order_by("id")
        .values_list("id", flat=True)
    )
    already_there = set(_other_backends())
    running = Worker(env={"DB_CONN_MAX_AGE": "60"}).start()
    try:
        running.wait_ready()

        def matched(batch):
            return lambda: (
                not Invoice.objects.filter(
                    pk__in=batch, status=Invoice.Status.PENDING_MATCH
                ).exists()
            )

        match_invoices.delay(ids[:10])
        assert wait_for(matched(ids[:10]), timeout=60), "the first batch was not matched"
        between = timezone.now()
        match_invoices.delay(ids[10:])
        assert wait_for(matched(ids[10:]), timeout=60), "the second batch was not matched"
        worker_backends = {
            pid: started for pid, started in _other_backends().items() if pid not in already_there
        }
        assert len(worker_backends) == 1
        assert all(started < between for started in worker_backends.values())
    finally:
        running.stop()
