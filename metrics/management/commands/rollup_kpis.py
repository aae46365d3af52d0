"""Rebuild the daily KPI facts for a date range (after a backfill, an import or a fix)."""

import argparse
import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from metrics.rollup import rollup_window

DEFAULT_DAYS = 120


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date; use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = (
        f"Rebuild daily KPI facts for [--start, --end] (default: the last {DEFAULT_DAYS} days), "
        "checking every invoice; days outside the range that a changed invoice touches are "
        "rebuilt too."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--start", type=_date, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", type=_date, help="last day, YYYY-MM-DD (default today)")

    def handle(
        self, *args: Any, start: dt.date | None, end: dt.date | None, **options: Any
    ) -> None:
        end = end or timezone.localdate()
        start = start or end - dt.timedelta(days=DEFAULT_DAYS)
        if start > end:
            raise CommandError("--start must be on or before --end.")
        started = time.perf_counter()
        result = rollup_window(start, end)
        self.stdout.write(
            f"Rebuilt KPI facts for {start} – {end} in {time.perf_counter() - started:.1f} s: "
            f"{result.candidates} invoices checked, {result.changed} changed, "
            f"{result.days} days summed, {result.kpi_rows} detail fact rows in the range."
        )
