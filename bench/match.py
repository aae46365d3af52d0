"""Benchmark: match N invoices (3 lines each) through the Celery task path.

Generates the data once (bench/generate.py), resets every bench invoice to pending_match,
starts a real Celery worker on a private queue, sends the ids in batches to
payables.tasks.match_invoices and waits until none is pending. For scale it also times one
hand-written SQL statement that does the same joins and writes the same verdicts (the
floor), inside a transaction that is rolled back.

Runs in its own database p2p_bench on DATABASE_URL's server (created and migrated if needed,
refused if it holds anything else; bench/database.py), whatever database DATABASE_URL names.
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
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")
os.environ.setdefault("CELERY_QUEUE", f"bench-match-{os.getpid()}")

from bench.database import checkpoint, use_bench_database  # noqa: E402

use_bench_database("p2p_bench")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402

from bench.generate import generate  # noqa: E402
from p2p.celery import app  # noqa: E402
from payables.tasks import match_invoices  # noqa: E402

# The floor: one hand-written statement with the engine's joins (PO line and PO, request,
# policy by item, category, vendor and organisation, contract price, earlier billing,
# header checks, duplicates by number and by amount, bank accounts shared across vendors)
# that writes only the verdict. The engine also writes evidence per line, exceptions and
# the audit trail, in batches, through Celery; the ratio is the price of all that.
FLOOR = """
WITH prior AS (
    SELECT il.po_line_id,
           SUM(CASE WHEN i.document_type = 'credit_note' THEN -il.quantity ELSE il.quantity END) AS qty
    FROM payables_invoiceline il
    JOIN payables_invoice i ON i.id = il.invoice_id
    WHERE i.status IN ('approved', 'scheduled', 'paid')
    GROUP BY il.po_line_id
),
lines AS (
    SELECT il.invoice_id, il.amount, il.unit_price,
           COALESCE(cl.unit_price, pol.unit_price) AS ref_price,
           CASE WHEN pol.match_type = 'two_way' THEN pol.quantity ELSE pol.received_qty END
               AS billable, mp.price_tolerance_pct, mp.price_tolerance_abs, mp.qty_tolerance_pct,
           mp.qty_tolerance_abs, mp.combine,
           COALESCE(prior.qty, 0) + SUM(
               CASE WHEN i.document_type = 'credit_note' THEN -il.quantity ELSE il.quantity END
           ) OVER (PARTITION BY il.po_line_id ORDER BY il.invoice_id, il.id) AS billed_cum
    FROM payables_invoice i
    JOIN payables_invoiceline il ON il.invoice_id = i.id
    JOIN procurement_purchaseorderline pol ON pol.id = il.po_line_id
    JOIN procurement_purchaseorder po ON po.id = pol.purchase_order_id
    LEFT JOIN procurement_purchaserequest pr ON pr.id = po.request_id
    LEFT JOIN payables_matchpolicy ip
        ON ip.scope = 'item' AND ip.active AND ip.item_code = pol.item_code
    LEFT JOIN payables_matchpolicy cp
        ON cp.scope = 'category' AND cp.active AND cp.category = pr.category
    LEFT JOIN payables_matchpolicy vp
        ON vp.scope = 'vendor' AND vp.active AND vp.vendor_id = i.vendor_id
    JOIN payables_matchpolicy mp ON mp.id = COALESCE(ip.id, cp.id, vp.id, (
        SELECT id FROM payables_matchpolicy WHERE scope = 'organisation' AND active
        ORDER BY id LIMIT 1))
    LEFT JOIN (vendors_contract c JOIN vendors_contractline cl ON cl.contract_id = c.id)
        ON c.status = 'active' AND c.vendor_id = po.vendor_id AND cl.item_code = pol.item_code
       AND c.currency = i.currency AND i.invoice_date BETWEEN c.valid_from AND c.valid_to
    LEFT JOIN prior ON prior.po_line_id = il.po_line_id
    WHERE i.number LIKE 'BINV-%%' AND i.status = 'pending_match'
),
line_verdicts AS (
    SELECT invoice_id, SUM(amount) AS line_total, bool_and(
        ABS(unit_price - ref_price) <= CASE WHEN combine = 'looser'
            THEN GREATEST(ABS(ref_price) * price_tolerance_pct / 100, price_tolerance_abs)
            ELSE LEAST(ABS(ref_price) * price_tolerance_pct / 100, price_tolerance_abs) END
        AND billed_cum <= billable + CASE WHEN combine = 'looser'
            THEN GREATEST(billable * qty_tolerance_pct / 100, qty_tolerance_abs)
            ELSE LEAST(billable * qty_tolerance_pct / 100, qty_tolerance_abs) END) AS ok
    FROM lines GROUP BY invoice_id
),
batch AS (
    SELECT * FROM payables_invoice WHERE number LIKE 'BINV-%%' AND status = 'pending_match'
),
shared_account AS (
    SELECT DISTINCT mine.vendor_id, other.vendor_id AS other_vendor_id
    FROM vendors_bankaccount mine
    JOIN vendors_bankaccount other ON other.iban = mine.iban AND other.vendor_id <> mine.vendor_id
    WHERE mine.status IN ('verified', 'pending') AND other.status IN ('verified', 'pending')
),
duplicates AS (
    SELECT b.id FROM batch b
    JOIN payables_invoice d ON d.vendor_id = b.vendor_id AND d.normalized_number = b.normalized_number
    WHERE d.id < b.id AND d.status <> 'rejected' AND d.document_type = b.document_type
    UNION
    SELECT b.id FROM batch b
    JOIN payables_invoice d ON d.vendor_id = b.vendor_id AND d.total_amount = b.total_amount
    WHERE d.invoice_date BETWEEN b.invoice_date - 3 AND b.invoice_date + 3
      AND d.id < b.id AND d.status <> 'rejected' AND d.document_type = b.document_type
    UNION
    SELECT b.id FROM batch b
    JOIN shared_account sa ON sa.vendor_id = b.vendor_id
    JOIN payables_invoice d ON d.vendor_id = sa.other_vendor_id
    WHERE d.id < b.id AND d.status <> 'rejected' AND d.document_type = b.document_type
      AND (d.normalized_number = b.normalized_number
           OR (d.total_amount = b.total_amount
               AND d.invoice_date BETWEEN b.invoice_date - 3 AND b.invoice_date + 3))
),
verdicts AS (
    SELECT b.id, lv.ok AND po.vendor_id = b.vendor_id AND po.currency = b.currency
        AND po.status IN ('issued', 'partially_received', 'received', 'closed')
        AND ABS(b.total_amount - b.net_amount - b.tax_amount) <= mp.total_tolerance_abs
        AND ABS(b.net_amount - lv.line_total) <= mp.total_tolerance_abs
        AND dup.id IS NULL AS ok
    FROM batch b
    JOIN line_verdicts lv ON lv.invoice_id = b.id
    JOIN procurement_purchaseorder po ON po.id = b.purchase_order_id
    JOIN payables_matchpolicy mp ON mp.scope = 'organisation' AND mp.active
    LEFT JOIN duplicates dup ON dup.id = b.id
)
UPDATE payables_invoice i SET status = CASE WHEN v.ok THEN 'approved' ELSE 'exception' END
FROM verdicts v WHERE v.id = i.id
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
        # Rewritten compact, as generated: every run starts from the same table and indexes,
        # not from the bloat of the runs before it.
        cursor.execute("VACUUM FULL ANALYZE payables_invoice")
        cursor.execute("VACUUM ANALYZE payables_invoiceline, procurement_purchaseorderline")
        cursor.execute("SELECT id FROM payables_invoice WHERE number LIKE 'BINV-%%' ORDER BY id")
        return [row[0] for row in cursor.fetchall()]


def bench_statuses() -> dict[str, int]:
    """How many bench invoices are in each status (the floor's and the engine's verdicts)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT status, COUNT(*) FROM payables_invoice WHERE number LIKE 'BINV-%%' GROUP BY 1"
        )
        return dict(cursor.fetchall())


def time_floor() -> tuple[float, dict[str, int]]:
    """Seconds for the floor statement and the verdicts it reached (then rolled back)."""
    checkpoint()
    with transaction.atomic(), connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(FLOOR)
        elapsed = time.perf_counter() - started
        verdicts = bench_statuses()
        transaction.set_rollback(True)
    return elapsed, verdicts


TASK_SECONDS: list[float] = []
TASKS_DONE = threading.Condition()


def _drain(worker: subprocess.Popen) -> None:
    for line in worker.stdout:
        if "succeeded in" in line:
            with TASKS_DONE:
                TASK_SECONDS.append(float(line.split("succeeded in ", 1)[1].split("s:", 1)[0]))
                TASKS_DONE.notify_all()
        elif " ERROR/" in line or "Traceback" in line:
            print(line, end="")


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
    """Whether any bench invoice still waits (one scan, after every task has reported)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM payables_invoice WHERE status = 'pending_match' "
            "AND number LIKE 'BINV-%%')"
        )
        return cursor.fetchone()[0]


def wal_position() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")
        return int(cursor.fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000, help="invoice ids per task")
    parser.add_argument("--concurrency", type=int, default=2, help="worker processes")
    args = parser.parse_args()

    generate(args.n)
    ids = reset()[: args.n]
    # Each timed phase starts just after a checkpoint, so neither pays for one mid-run.
    floor, verdicts = time_floor()
    print(f"floor: one SQL statement over {len(ids)} invoices in {floor:.2f} s: {verdicts}")
    checkpoint()

    worker = start_worker(args.concurrency)
    try:
        app.conf.task_default_queue = os.environ["CELERY_QUEUE"]
        # The client's first connection to the broker (and the queue's declaration) is set
        # up before the clock starts: it is the benchmark's own start-up, not matching.
        with app.producer_or_acquire() as producer:
            producer.connection.ensure_connection()
            app.amqp.queues[app.conf.task_default_queue].bind(producer.channel).declare()
        wal_before = wal_position()
        started = time.perf_counter()
        for start in range(0, len(ids), args.batch):
            match_invoices.delay(ids[start : start + args.batch])
        # The worker's log says when each task finished, so nothing polls the database
        # while it works; the status check after that is the ground truth.
        tasks = -(-len(ids) // args.batch)
        with TASKS_DONE:
            TASKS_DONE.wait_for(lambda: len(TASK_SECONDS) >= tasks, timeout=3600)
        while pending():
            time.sleep(0.05)
        elapsed = time.perf_counter() - started
        wal_bytes = wal_position() - wal_before
    finally:
        os.killpg(worker.pid, 15)
        worker.wait(timeout=30)
        time.sleep(0.2)  # let the log reader catch up
    with connection.cursor() as cursor:
        print("statuses:", bench_statuses())
        cursor.execute("SELECT type, COUNT(*) FROM payables_invoiceexception GROUP BY 1 ORDER BY 1")
        print("exceptions:", dict(cursor.fetchall()))
    print(f"write-ahead log written while matching: {wal_bytes / 2**20:,.0f} MB")
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
