"""Benchmark: match N invoices (3 lines each) through the Celery task path.

Generates the data once (bench/generate.py), resets every bench invoice to pending_match,
starts a real Celery worker on a private queue, sends the ids in batches to
payables.tasks.match_invoices and waits until none is pending. For scale it also times one
hand-written SQL statement that does the same joins and writes the same verdicts (the
floor), inside a transaction that is rolled back.

Runs against DATABASE_URL, default the database p2p_bench (created and migrated if needed).
Ends with: match N=<n>: <seconds> s, <invoices/s> inv/s, floor <seconds> s, ratio <x>
"""

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/p2p_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")
os.environ.setdefault("CELERY_QUEUE", f"bench-match-{os.getpid()}")


def _ensure_database() -> None:
    import dj_database_url
    import psycopg

    cfg = dj_database_url.parse(os.environ["DATABASE_URL"])
    with psycopg.connect(
        host=cfg["HOST"],
        port=cfg["PORT"] or 5432,
        user=cfg["USER"],
        dbname="postgres",
        autocommit=True,
    ) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [cfg["NAME"]]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{cfg["NAME"]}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0", "--skip-checks"], cwd=ROOT, check=True
    )


_ensure_database()

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from bench.generate import generate  # noqa: E402
from p2p.celery import app  # noqa: E402
from payables.tasks import match_invoices  # noqa: E402

FLOOR = """
WITH lines AS (
    SELECT il.invoice_id, il.quantity, il.unit_price, pol.unit_price AS po_price,
           pol.received_qty, pol.quantity AS ordered_qty, pol.match_type, mp.price_tolerance_pct,
           mp.price_tolerance_abs, mp.qty_tolerance_pct,
           COALESCE(prior.qty, 0) + SUM(il.quantity) OVER (
               PARTITION BY il.po_line_id ORDER BY il.invoice_id, il.id) AS billed_cum
    FROM payables_invoice i
    JOIN payables_invoiceline il ON il.invoice_id = i.id
    JOIN procurement_purchaseorderline pol ON pol.id = il.po_line_id
    JOIN procurement_purchaseorder po ON po.id = pol.purchase_order_id
    LEFT JOIN payables_matchpolicy mp ON mp.scope = 'organisation' AND mp.active
    LEFT JOIN (
        SELECT il2.po_line_id, SUM(il2.quantity) AS qty FROM payables_invoiceline il2
        JOIN payables_invoice i2 ON i2.id = il2.invoice_id
        WHERE i2.status IN ('approved', 'scheduled', 'paid') GROUP BY il2.po_line_id
    ) prior ON prior.po_line_id = il.po_line_id
    WHERE i.number LIKE 'BINV-%%' AND i.status = 'pending_match'
),
verdicts AS (
    SELECT invoice_id, bool_and(
        ABS(unit_price - po_price) <= LEAST(po_price * price_tolerance_pct / 100, price_tolerance_abs)
        AND billed_cum <= CASE WHEN match_type = 'two_way' THEN ordered_qty ELSE received_qty END
                          * (1 + qty_tolerance_pct / 100)) AS ok
    FROM lines GROUP BY invoice_id
)
UPDATE payables_invoice i SET status = CASE WHEN v.ok THEN 'approved' ELSE 'exception' END
FROM verdicts v WHERE v.invoice_id = i.id
"""


def reset() -> list[int]:
    """Every bench invoice back to pending_match, with no results, exceptions or trail."""
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE payables_matchresult, payables_invoiceexception, p2p_auditevent CASCADE"
        )
        cursor.execute(
            "UPDATE payables_invoice SET status = 'pending_match', match_attempts = 0, "
            "first_matched_at = NULL, first_pass = NULL, approved_at = NULL, touchless = false "
            "WHERE number LIKE 'BINV-%%' AND status <> 'pending_match'"
        )
        cursor.execute("VACUUM ANALYZE payables_invoice")
        cursor.execute("VACUUM ANALYZE payables_matchresult")
        cursor.execute("SELECT id FROM payables_invoice WHERE number LIKE 'BINV-%%' ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def time_floor() -> float:
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(FLOOR)
        transaction.set_rollback(True)
    return time.perf_counter() - started


TASK_SECONDS: list[float] = []


def _drain(worker: subprocess.Popen) -> None:
    for line in worker.stdout:
        if "succeeded in" in line:
            TASK_SECONDS.append(float(line.split("succeeded in ", 1)[1].split("s:", 1)[0]))


def start_worker(concurrency: int) -> subprocess.Popen:
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "p2p",
            "worker",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-l",
            "info",
            "-n",
            f"{os.environ['CELERY_QUEUE']}@%h",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen = []
    for line in worker.stdout:
        seen.append(line)
        if " ready." in line:
            # Keep draining the log so the worker never blocks on a full pipe.
            threading.Thread(target=_drain, args=(worker,), daemon=True).start()
            return worker
    raise RuntimeError("the Celery worker did not start:\n" + "".join(seen[-20:]))


def pending() -> bool:
    """Whether any bench invoice still waits; uses the status index so polling stays cheap."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM payables_invoice WHERE status = 'pending_match' "
            "AND number LIKE 'BINV-%%')"
        )
        return cursor.fetchone()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="invoice ids per task")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()

    generate(args.n)
    ids = reset()[: args.n]
    floor = time_floor()
    print(f"floor: one SQL statement over {len(ids)} invoices in {floor:.2f} s")

    worker = start_worker(args.concurrency)
    try:
        app.conf.task_default_queue = os.environ["CELERY_QUEUE"]
        started = time.perf_counter()
        for start in range(0, len(ids), args.batch):
            match_invoices.delay(ids[start : start + args.batch])
        while pending():
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
        time.sleep(0.2)  # let the log reader catch up
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, COUNT(*) FROM payables_invoice WHERE number LIKE 'BINV-%%' GROUP BY 1"
        )
        print("statuses:", dict(cursor.fetchall()))
        cursor.execute("SELECT type, COUNT(*) FROM payables_invoiceexception GROUP BY 1 ORDER BY 1")
        print("exceptions:", dict(cursor.fetchall()))
    if TASK_SECONDS:
        print(
            f"tasks: {len(TASK_SECONDS)}, {sum(TASK_SECONDS):.2f} s in all, "
            f"{min(TASK_SECONDS):.2f}–{max(TASK_SECONDS):.2f} s each"
        )
    print(
        f"match N={len(ids)}: {elapsed:.2f} s, {len(ids) / elapsed:,.0f} inv/s, "
        f"floor {floor:.2f} s, ratio {elapsed / floor:.2f}"
    )


if __name__ == "__main__":
    main()
