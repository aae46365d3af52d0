"""The beat tasks and the rollup command: today moves without a scan, busy rollups skip."""

import datetime as dt
import threading
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.utils import timezone

from metrics import selectors, tasks
from metrics.models import InvoiceKpi
from metrics.rollup import _ROLLUP_LOCK
from p2p.audit import audit_record
from p2p.models import AuditAction
from tests import factories
from tests.metrics.builders import at, make_invoice

pytestmark = pytest.mark.django_db


def today_totals() -> selectors.KpiTotals:
    today = timezone.localdate()
    return selectors.daily_kpis(selectors.Scope(), today, today).between(today, today)


def test_today_moves_after_a_capture_and_a_late_match(people, setup_org):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    now = timezone.now()
    make_invoice(vendor, captured=now - dt.timedelta(minutes=5), total="100.00")
    older = make_invoice(
        vendor, captured=at(timezone.localdate() - dt.timedelta(days=9)), total="50.00",
        status="exception", first_matched=at(timezone.localdate() - dt.timedelta(days=9), 11),
        first_pass=False,
    )  # fmt: skip
    tasks.rollup_recent_days.delay()
    assert today_totals().invoices_captured == 1
    # The older invoice is approved today: only its trail says so.
    older.status, older.approved_at = "approved", now
    older.save(update_fields=["status", "approved_at"])
    audit_record(
        obj=older, action=AuditAction.STATUS, by=None, from_status="exception", to_status="approved"
    )
    assert tasks.rollup_today.delay().get() == 1
    assert today_totals().invoices_approved == 1
    assert InvoiceKpi.objects.get(invoice=older).approve_days == 9


def test_rollup_today_skips_while_another_rollup_runs(people, setup_org):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    make_invoice(vendor, captured=timezone.now() - dt.timedelta(minutes=5), total="100.00")
    held, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [_ROLLUP_LOCK])
            held.set()
            release.wait(timeout=30)
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ROLLUP_LOCK])
        connections["default"].close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    try:
        assert held.wait(timeout=30)
        assert tasks.rollup_today.delay().get() == 0
        assert today_totals().invoices_captured == 0
    finally:
        release.set()
        holder.join(timeout=30)
    assert tasks.rollup_today.delay().get() == 1
    assert today_totals().invoices_captured == 1
    assert connection.connection is not None


def test_the_command_rebuilds_a_range_and_says_what_it_did(people, setup_org):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    day = dt.date(2026, 3, 3)
    make_invoice(vendor, captured=at(day), total="100.00")
    out = StringIO()
    call_command("rollup_kpis", "--start", "2026-03-01", "--end", "2026-03-07", stdout=out)
    assert "Rebuilt KPI facts for 2026-03-01 – 2026-03-07" in out.getvalue()
    assert "1 invoices checked, 1 changed" in out.getvalue()
    assert (
        selectors.daily_kpis(selectors.Scope(), day, day).between(day, day).invoices_captured == 1
    )


def test_the_command_refuses_a_reversed_range(db):
    with pytest.raises(CommandError, match="--start must be on or before --end"):
        call_command("rollup_kpis", "--start", "2026-03-07", "--end", "2026-03-01")
