"""Celery tasks for the KPI rollup: recent days every ten minutes, today every half minute.

Today's run finds what changed from the audit trail (every match, payment and exception
writes one) instead of scanning invoices, so it costs little even with millions of them;
see bench/dashboard.py for its measured cost.
"""

import datetime as dt

from celery import shared_task
from django.utils import timezone

from metrics.rollup import rollup_window

RECENT_DAYS = 3


@shared_task(acks_late=True)
def rollup_recent_days() -> int:
    """Refresh the last few days' facts, checking every invoice (the safety net)."""
    today = timezone.localdate()
    result = rollup_window(today - dt.timedelta(days=RECENT_DAYS), today)
    return result.kpi_rows if result else 0


@shared_task(acks_late=True)
def rollup_today() -> int:
    """Refresh today's facts from today's audit trail; skipped if another rollup is running."""
    today = timezone.localdate()
    result = rollup_window(today, today, scan_invoices=False, wait=False)
    return result.changed if result else 0
