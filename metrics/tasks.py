"""Celery tasks for the KPI rollup."""

import datetime as dt

from celery import shared_task
from django.utils import timezone

from metrics.rollup import rebuild_facts

RECENT_DAYS = 3


@shared_task(acks_late=True)
def rollup_recent_days() -> int:
    """Refresh the last few days' facts (payments and late matches land on earlier days)."""
    today = timezone.localdate()
    return rebuild_facts(today - dt.timedelta(days=RECENT_DAYS), today)
