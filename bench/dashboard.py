"""KPI benchmark: rollup times and dashboard render time at 10k and at 1M invoices.

Runs in its own database p2p_kpibench (created and migrated if missing, refused if it holds
anything else; bench/database.py), so the development data is never touched. For each size it grows the generated
invoices (bench/kpi_generate.py, two years of them), then measures:
  - the full rebuild of the facts from nothing (every invoice, every day),
  - the incremental rollup of one day: today from the audit trail (the 30-second beat task)
    and today with a full check of the invoices (the safety net),
  - the dashboard page rendered through Django's test client, 50 requests after a warm-up,
    for the default view (last 30 days, the whole company): median and p95,
and checks that the facts still equal a direct count over the invoices.

Ends with one line: dashboard p95 10k=<ms> ms 1M=<ms> ms ratio <x>
Usage: python bench/dashboard.py [--small 10000] [--large 1000000] [--requests 50]
"""

import argparse
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")
# Production-like rendering: no debug query log, no debug pages.
os.environ.setdefault("DEBUG", "0")


from bench.database import use_bench_database  # noqa: E402

use_bench_database("p2p_kpibench")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.kpi_generate import generate  # noqa: E402
from metrics import selectors  # noqa: E402
from metrics.rollup import rollup_window  # noqa: E402

DAYS = 730
FACT_TABLES = (
    "metrics_dailykpifact",
    "metrics_dailyexceptionfact",
    "metrics_openexceptionfact",
    "metrics_durationfact",
    "metrics_invoicekpi",
)


def timed(label: str, action):
    started = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - started
    print(f"  {label}: {seconds:.2f} s")
    return result, seconds


def full_rebuild() -> float:
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(FACT_TABLES)}")
    today = timezone.localdate()
    result, seconds = timed(
        "full rebuild of the facts",
        lambda: rollup_window(today - dt.timedelta(days=DAYS + 5), today),
    )
    print(f"    {result.candidates} invoices, {result.days} days, {result.kpi_rows} detail rows")
    # What autovacuum does soon after a bulk write: statistics, and the visibility map that
    # lets the dashboard's covering indexes answer without touching the tables.
    with connection.cursor() as cursor:
        for table in FACT_TABLES:
            cursor.execute(f"VACUUM ANALYZE {table}")
    return seconds


def incremental() -> tuple[float, float]:
    today = timezone.localdate()
    _result, trail = timed(
        "incremental rollup of today (from the audit trail, the 30 s beat task)",
        lambda: rollup_window(today, today, scan_invoices=False),
    )
    _result, scan = timed(
        "incremental rollup of today (checking every invoice)",
        lambda: rollup_window(today, today, scan_invoices=True),
    )
    return trail, scan


def check_against_invoices() -> None:
    """The facts of the whole span equal a direct count of captured invoices per currency."""
    today = timezone.localdate()
    start = today - dt.timedelta(days=DAYS + 5)
    totals = selectors.daily_kpis(selectors.Scope(), start, today).between(start, today)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE status IN ('approved','scheduled','paid')) "
            "FROM payables_invoice"
        )
        captured, matched = cursor.fetchone()
    assert (totals.invoices_captured, totals.invoices_matched) == (captured, matched), (
        "facts and invoices disagree"
    )
    print(f"  check: facts count {captured} invoices captured, {matched} matched — as the invoices")


def render_times(client: Client, requests: int, params: dict | None = None) -> list[float]:
    url = reverse("metrics:dashboard")
    for _ in range(3):
        assert client.get(url, params or {}).status_code == 200
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, params or {})
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    return samples


def p95(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[max(0, round(0.95 * len(ordered)) - 1)]


def measure(size: int, requests: int, client: Client) -> float:
    print(f"\n== {size:,} invoices ==")
    timed("generate", lambda: generate(size, DAYS))
    full_rebuild()
    incremental()
    check_against_invoices()
    result = None
    for view in ("overview", "ap", "buyers"):
        samples = render_times(client, requests, {"view": view})
        print(
            f"  dashboard ({view}): median {statistics.median(samples):.1f} ms, "
            f"p95 {p95(samples):.1f} ms over {requests} requests"
        )
        if view == "overview":
            result = p95(samples)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=50)
    arguments = parser.parse_args()
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM payables_invoice WHERE number LIKE 'KPI-%%'")
        have = cursor.fetchone()[0]
    if have > arguments.small:
        # Start over: the small measurement needs the small data set.
        print(f"bench: {have:,} invoices from an earlier run; starting from an empty database")
        call_command("flush", interactive=False, verbosity=0)
    leader, _ = User.objects.get_or_create(username="kpi-fiona", defaults={"first_name": "Fiona"})
    leader.groups.add(Group.objects.get_or_create(name="finance_leader")[0])
    client = Client()
    client.force_login(leader)
    small = measure(arguments.small, arguments.requests, client)
    large = measure(arguments.large, arguments.requests, client)
    print(
        f"\ndashboard p95 {label(arguments.small)}={small:.1f} ms "
        f"{label(arguments.large)}={large:.1f} ms ratio {large / small:.2f}"
    )


def label(size: int) -> str:
    if size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


if __name__ == "__main__":
    main()
