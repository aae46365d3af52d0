# The SQL below is composed from module constants (column and table names), never from input.
# ruff: noqa: S608
"""The KPI rollup: set-based SQL from invoices and exceptions to the daily facts.

Two layers. `metrics_invoicekpi` holds one row per invoice with the day of each KPI event
(captured, first matched, approved, paid, discount counted) and its flags and amounts. A
rollup over a window recomputes the rows of every invoice that may have changed in it (its
audit trail moved, or one of its days falls in the window), and collects the days those rows
held before and hold now. Exactly those days, plus the window, are then re-aggregated into
the four fact tables at every grain with one GROUPING SETS query each, and upserted: rows
that did not change are not rewritten, rows whose group vanished are deleted.

Everything runs in one transaction under an advisory lock, so running it twice, or twice at
once, leaves exactly one copy of every fact; readers see the old facts or the new, never half.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Literal, overload

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from metrics.models import KPI_COUNT_COLUMNS, KPI_MONEY_COLUMNS, Grain, Measure
from p2p.sql import quoted
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.payments import Payment

_ROLLUP_LOCK = 724_001

# Columns of metrics_invoicekpi the rollup computes (all but invoice_id and refreshed_at).
_SNAPSHOT_COLUMNS = (
    "vendor_id",
    "cost_center_id",
    "buyer_id",
    "purchase_order_id",
    "currency",
    "captured_day",
    "matched",
    "had_exception",
    "first_match_day",
    "first_pass",
    "approved_day",
    "touchless",
    "approve_days",
    "paid_day",
    "on_time",
    "pay_days",
    "due_date",
    "discount_date",
    "discount_day",
    "discount_available",
    "discount_taken",
    "spend",
    "on_po",
)
_DAY_COLUMNS = ("captured_day", "first_match_day", "approved_day", "paid_day", "discount_day")

_SETUP = """
DROP TABLE IF EXISTS pg_temp.kpi_candidates;
CREATE TEMP TABLE kpi_candidates (invoice_id bigint PRIMARY KEY) ON COMMIT DROP;
DROP TABLE IF EXISTS pg_temp.kpi_dirty;
CREATE TEMP TABLE kpi_dirty (day date PRIMARY KEY) ON COMMIT DROP;
INSERT INTO kpi_dirty SELECT d::date FROM generate_series(%(start)s::date, %(end)s::date, '1 day') d;
"""

# Invoices whose KPI row may have changed in the window, found without scanning invoices:
# their audit trail (capture, match, payment, exception work) or a day of their KPI row.
_CANDIDATES_FROM_TRAIL = """
INSERT INTO kpi_candidates
SELECT a.object_id FROM p2p_auditevent a
WHERE a.object_type = 'payables.invoice' AND a.at >= %(ts_start)s AND a.at < %(ts_end)s
UNION
SELECT x.invoice_id FROM p2p_auditevent a
JOIN payables_invoiceexception x ON x.id = a.object_id
WHERE a.object_type = 'payables.invoiceexception' AND a.at >= %(ts_start)s AND a.at < %(ts_end)s
UNION
SELECT p.invoice_id FROM p2p_auditevent a
JOIN payables_payment p ON p.run_id = a.object_id
WHERE a.object_type = 'payables.paymentrun' AND a.at >= %(ts_start)s AND a.at < %(ts_end)s
UNION
SELECT i.id FROM payables_invoice i
WHERE i.captured_at >= %(ts_start)s AND i.captured_at < %(ts_end)s
UNION
SELECT k.invoice_id FROM metrics_invoicekpi k WHERE k.captured_day BETWEEN %(start)s AND %(end)s
UNION
SELECT k.invoice_id FROM metrics_invoicekpi k WHERE k.first_match_day BETWEEN %(start)s AND %(end)s
UNION
SELECT k.invoice_id FROM metrics_invoicekpi k WHERE k.approved_day BETWEEN %(start)s AND %(end)s
UNION
SELECT k.invoice_id FROM metrics_invoicekpi k WHERE k.paid_day BETWEEN %(start)s AND %(end)s
UNION
SELECT k.invoice_id FROM metrics_invoicekpi k WHERE k.discount_day BETWEEN %(start)s AND %(end)s
UNION
-- A discount window that closed unpaid counts without any event: time passing is enough.
SELECT k.invoice_id FROM metrics_invoicekpi k
WHERE k.discount_date BETWEEN %(start)s::date - 1 AND %(end)s AND k.discount_day IS NULL
ON CONFLICT DO NOTHING;
"""

# The full check for a rebuild: every invoice with an event in the window, and every invoice
# the rollup has never seen (loaded in bulk, or from before the rollup existed).
_CANDIDATES_FROM_INVOICES = """
INSERT INTO kpi_candidates
SELECT i.id FROM payables_invoice i
WHERE (i.first_matched_at >= %(ts_start)s AND i.first_matched_at < %(ts_end)s)
   OR (i.approved_at >= %(ts_start)s AND i.approved_at < %(ts_end)s)
   OR (i.paid_at >= %(ts_start)s AND i.paid_at < %(ts_end)s)
   OR i.discount_date BETWEEN %(start)s::date - 1 AND %(end)s
   OR NOT EXISTS (SELECT 1 FROM metrics_invoicekpi k WHERE k.invoice_id = i.id)
ON CONFLICT DO NOTHING;
"""

_SNAPSHOT = """
ANALYZE kpi_candidates;
DROP TABLE IF EXISTS pg_temp.kpi_new;
CREATE TEMP TABLE kpi_new ON COMMIT DROP AS
WITH first_lines AS (
    -- The invoice's cost center: its first line's (re-coded by AP, else the PO line's).
    SELECT DISTINCT ON (il.invoice_id) il.invoice_id,
           COALESCE(il.cost_center_id, pol.cost_center_id) AS cost_center_id
    FROM kpi_candidates c
    JOIN payables_invoiceline il ON il.invoice_id = c.invoice_id
    LEFT JOIN procurement_purchaseorderline pol ON pol.id = il.po_line_id
    ORDER BY il.invoice_id, il.line_no
),
excepted AS (
    SELECT DISTINCT x.invoice_id
    FROM kpi_candidates c JOIN payables_invoiceexception x ON x.invoice_id = c.invoice_id
),
paid_discounts AS (
    SELECT p.invoice_id, SUM(p.discount_taken) AS taken
    FROM kpi_candidates c JOIN payables_payment p ON p.invoice_id = c.invoice_id
    WHERE p.status = {payment_paid}
    GROUP BY p.invoice_id
),
base AS (
    SELECT i.id AS invoice_id, i.vendor_id,
           COALESCE(fl.cost_center_id, pr.cost_center_id) AS cost_center_id,
           po.buyer_id, i.purchase_order_id, i.currency, i.status, i.document_type,
           i.first_pass, i.touchless, i.due_date, i.discount_date, i.discount_amount,
           i.total_amount, COALESCE(pd.taken, 0) AS taken,
           (i.captured_at AT TIME ZONE %(tz)s)::date AS captured_day,
           (i.first_matched_at AT TIME ZONE %(tz)s)::date AS first_match_day,
           -- Counted once, on the day it was (last) approved; paid invoices keep theirs.
           CASE WHEN i.status IN ({matched})
                THEN (i.approved_at AT TIME ZONE %(tz)s)::date END AS approved_day,
           CASE WHEN i.status = {invoice_paid} THEN (i.paid_at AT TIME ZONE %(tz)s)::date END AS paid_day,
           ex.invoice_id IS NOT NULL AS had_exception
    FROM kpi_candidates c
    JOIN payables_invoice i ON i.id = c.invoice_id
    LEFT JOIN procurement_purchaseorder po ON po.id = i.purchase_order_id
    LEFT JOIN procurement_purchaserequest pr ON pr.id = po.request_id
    LEFT JOIN first_lines fl ON fl.invoice_id = i.id
    LEFT JOIN paid_discounts pd ON pd.invoice_id = i.id
    LEFT JOIN excepted ex ON ex.invoice_id = i.id
)
SELECT b.invoice_id, b.vendor_id, b.cost_center_id, b.buyer_id, b.purchase_order_id, b.currency,
       b.captured_day,
       b.status IN ({matched}) AS matched,
       b.had_exception,
       b.first_match_day,
       CASE WHEN b.first_match_day IS NOT NULL THEN COALESCE(b.first_pass, false) END AS first_pass,
       b.approved_day,
       b.approved_day IS NOT NULL AND b.touchless AS touchless,
       b.approved_day - b.captured_day AS approve_days,
       b.paid_day,
       CASE WHEN b.paid_day IS NOT NULL THEN b.paid_day <= b.due_date END AS on_time,
       b.paid_day - b.captured_day AS pay_days,
       b.due_date, b.discount_date,
       -- Discounts count on the day paid within the window, else on the day the window closed
       -- (only once it has closed): "window closed or paid in the period".
       CASE WHEN dc.counts THEN LEAST(COALESCE(b.paid_day, b.discount_date), b.discount_date)
            END AS discount_day,
       CASE WHEN dc.counts THEN b.discount_amount ELSE 0 END AS discount_available,
       CASE WHEN dc.counts THEN b.taken ELSE 0 END AS discount_taken,
       CASE WHEN b.status = {rejected} THEN 0
            WHEN b.document_type = {credit_note} THEN -b.total_amount
            ELSE b.total_amount END AS spend,
       b.purchase_order_id IS NOT NULL AS on_po
FROM base b
CROSS JOIN LATERAL (
    SELECT b.document_type = {invoice} AND b.discount_amount > 0 AND b.discount_date IS NOT NULL
           AND b.status <> {rejected}
           AND (b.paid_day IS NOT NULL OR b.discount_date < %(today)s) AS counts
) dc;
ALTER TABLE kpi_new ADD PRIMARY KEY (invoice_id);
ANALYZE kpi_new;

DROP TABLE IF EXISTS pg_temp.kpi_changed;
CREATE TEMP TABLE kpi_changed ON COMMIT DROP AS
SELECT n.invoice_id FROM kpi_new n
LEFT JOIN metrics_invoicekpi o ON o.invoice_id = n.invoice_id
WHERE o.invoice_id IS NULL OR ({old_columns}) IS DISTINCT FROM ({new_columns})
UNION ALL
SELECT c.invoice_id FROM kpi_candidates c
JOIN metrics_invoicekpi o ON o.invoice_id = c.invoice_id
WHERE NOT EXISTS (SELECT 1 FROM kpi_new n WHERE n.invoice_id = c.invoice_id);
ANALYZE kpi_changed;

-- Every day a changed row counted on, before and after, must be summed again.
INSERT INTO kpi_dirty
SELECT DISTINCT d FROM (
    SELECT unnest(ARRAY[{old_days}]) AS d
    FROM metrics_invoicekpi o JOIN kpi_changed ch ON ch.invoice_id = o.invoice_id
    UNION ALL
    SELECT unnest(ARRAY[{new_days}])
    FROM kpi_new n JOIN kpi_changed ch ON ch.invoice_id = n.invoice_id
    UNION ALL
    -- The exceptions of a changed invoice take its new dimensions with them ...
    SELECT unnest(ARRAY[(x.opened_at AT TIME ZONE %(tz)s)::date,
                        (x.resolved_at AT TIME ZONE %(tz)s)::date])
    FROM payables_invoiceexception x JOIN kpi_changed ch ON ch.invoice_id = x.invoice_id
    UNION ALL
    -- ... and an exception worked in the window (resolved, root cause recorded) may have
    -- moved while its invoice's row stayed the same.
    SELECT unnest(ARRAY[(x.opened_at AT TIME ZONE %(tz)s)::date,
                        (x.resolved_at AT TIME ZONE %(tz)s)::date])
    FROM p2p_auditevent a JOIN payables_invoiceexception x ON x.id = a.object_id
    WHERE a.object_type = 'payables.invoiceexception'
      AND a.at >= %(ts_start)s AND a.at < %(ts_end)s
) days
WHERE d IS NOT NULL
ON CONFLICT DO NOTHING;
ANALYZE kpi_dirty;

DELETE FROM metrics_invoicekpi o USING kpi_changed ch
WHERE o.invoice_id = ch.invoice_id
  AND NOT EXISTS (SELECT 1 FROM kpi_new n WHERE n.invoice_id = o.invoice_id);

INSERT INTO metrics_invoicekpi (invoice_id, {columns}, refreshed_at)
SELECT n.invoice_id, {new_columns}, %(now)s
FROM kpi_new n JOIN kpi_changed ch ON ch.invoice_id = n.invoice_id
ON CONFLICT (invoice_id) DO UPDATE SET {updates}, refreshed_at = EXCLUDED.refreshed_at;
""".format(
    payment_paid=quoted(Payment.Status.PAID),
    matched=quoted(*Invoice.MATCHED_STATUSES),
    invoice_paid=quoted(Invoice.Status.PAID),
    rejected=quoted(Invoice.Status.REJECTED),
    invoice=quoted(Invoice.DocumentType.INVOICE),
    credit_note=quoted(Invoice.DocumentType.CREDIT_NOTE),
    columns=", ".join(_SNAPSHOT_COLUMNS),
    old_columns=", ".join(f"o.{c}" for c in _SNAPSHOT_COLUMNS),
    new_columns=", ".join(f"n.{c}" for c in _SNAPSHOT_COLUMNS),
    old_days=", ".join(f"o.{c}" for c in _DAY_COLUMNS),
    new_days=", ".join(f"n.{c}" for c in _DAY_COLUMNS),
    updates=", ".join(f"{c} = EXCLUDED.{c}" for c in _SNAPSHOT_COLUMNS),
)

# Exceptions that matter for the dirty days: opened or resolved on one, or open across one.
_RESOLVED = quoted(InvoiceException.Status.RESOLVED)
_EXCEPTIONS = f"""
DROP TABLE IF EXISTS pg_temp.kpi_exc;
CREATE TEMP TABLE kpi_exc ON COMMIT DROP AS
SELECT x.id, x.type, x.owner, x.amount_at_stake,
       COALESCE(NULLIF(x.root_cause, ''), x.suggested_root_cause, '') AS root_cause,
       (x.opened_at AT TIME ZONE %(tz)s)::date AS opened_day,
       CASE WHEN x.status = {_RESOLVED} THEN (x.resolved_at AT TIME ZONE %(tz)s)::date END
           AS resolved_day,
       CASE WHEN x.status = {_RESOLVED}
            THEN FLOOR(EXTRACT(EPOCH FROM x.resolved_at - x.opened_at) / 3600)::int END
           AS resolve_hours,
       k.vendor_id, k.cost_center_id, k.buyer_id, k.currency
FROM payables_invoiceexception x
JOIN metrics_invoicekpi k ON k.invoice_id = x.invoice_id
WHERE x.opened_at < ((SELECT MAX(day) FROM kpi_dirty) + 1)::timestamp AT TIME ZONE %(tz)s
  AND (x.status <> {_RESOLVED}
       OR x.resolved_at >= (SELECT MIN(day) FROM kpi_dirty)::timestamp AT TIME ZONE %(tz)s);
ANALYZE kpi_exc;
"""

_GRAIN = f"""CASE GROUPING(vendor_id, cost_center_id, buyer_id)
    WHEN 0 THEN {quoted(Grain.DETAIL)} WHEN 5 THEN {quoted(Grain.COST_CENTER)}
    WHEN 6 THEN {quoted(Grain.BUYER)} ELSE {quoted(Grain.COMPANY)} END"""


def _grouping_sets(extra: tuple[str, ...]) -> str:
    """The four grains as grouping sets; `extra` keys (type, measure...) are in every one."""
    tail = "".join(f", {key}" for key in extra)
    return (
        "GROUPING SETS ("
        f"(day, currency{tail}), "
        f"(day, cost_center_id, currency{tail}), "
        f"(day, buyer_id, currency{tail}), "
        f"(day, vendor_id, cost_center_id, buyer_id, currency{tail}))"
    )


_KPI_EVENTS = """
SELECT k.captured_day AS day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
       1 AS captured, k.matched::int AS matched, (NOT k.had_exception)::int AS clean,
       0 AS attempts, 0 AS first_pass, 0 AS approved, 0 AS touchless, 0 AS approve_days,
       0 AS exc_opened, 0 AS exc_resolved, 0 AS paid, 0 AS on_time, 0 AS pay_days,
       0::numeric AS disc_available, 0::numeric AS disc_taken,
       k.spend, CASE WHEN k.on_po THEN k.spend ELSE 0 END AS spend_po
FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.captured_day
UNION ALL
SELECT k.first_match_day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
       0, 0, 0, 1, k.first_pass::int, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.first_match_day
UNION ALL
SELECT k.approved_day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
       0, 0, 0, 0, 0, 1, k.touchless::int, k.approve_days, 0, 0, 0, 0, 0, 0, 0, 0, 0
FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.approved_day
UNION ALL
SELECT k.paid_day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, k.on_time::int, k.pay_days, 0, 0, 0, 0
FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.paid_day
UNION ALL
SELECT k.discount_day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
       0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, k.discount_available, k.discount_taken, 0, 0
FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.discount_day
UNION ALL
SELECT e.opened_day, e.vendor_id, e.cost_center_id, e.buyer_id, e.currency,
       0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0
FROM kpi_exc e JOIN kpi_dirty d ON d.day = e.opened_day
UNION ALL
SELECT e.resolved_day, e.vendor_id, e.cost_center_id, e.buyer_id, e.currency,
       0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0
FROM kpi_exc e JOIN kpi_dirty d ON d.day = e.resolved_day
"""

_KPI_FACTS = f"""
SELECT {_GRAIN} AS grain, day, vendor_id, cost_center_id, buyer_id, currency,
       SUM(captured)::int AS invoices_captured, SUM(matched)::int AS invoices_matched,
       SUM(clean)::int AS invoices_without_exception,
       SUM(attempts)::int AS first_match_attempts, SUM(first_pass)::int AS first_pass_matches,
       SUM(approved)::int AS invoices_approved, SUM(touchless)::int AS touchless_approvals,
       SUM(approve_days)::int AS approve_days_sum,
       SUM(exc_opened)::int AS exceptions_opened, SUM(exc_resolved)::int AS exceptions_resolved,
       SUM(paid)::int AS invoices_paid, SUM(on_time)::int AS paid_on_time,
       SUM(pay_days)::int AS pay_days_sum,
       SUM(disc_available) AS discount_available, SUM(disc_taken) AS discount_taken,
       SUM(spend) AS spend_total, SUM(spend_po) AS spend_on_po
FROM ({_KPI_EVENTS}) events
GROUP BY {_grouping_sets(())}
"""

_EXCEPTION_FACTS = f"""
SELECT {_GRAIN} AS grain, day, vendor_id, cost_center_id, buyer_id, currency,
       type, owner, root_cause,
       SUM(opened)::int AS opened, SUM(resolved)::int AS resolved,
       SUM(hours)::int AS resolve_hours_sum, SUM(amount) AS amount_opened
FROM (
    SELECT e.opened_day AS day, e.vendor_id, e.cost_center_id, e.buyer_id, e.currency,
           e.type, e.owner, e.root_cause, 1 AS opened, 0 AS resolved, 0 AS hours,
           e.amount_at_stake AS amount
    FROM kpi_exc e JOIN kpi_dirty d ON d.day = e.opened_day
    UNION ALL
    SELECT e.resolved_day, e.vendor_id, e.cost_center_id, e.buyer_id, e.currency,
           e.type, e.owner, e.root_cause, 0, 1, e.resolve_hours, 0
    FROM kpi_exc e JOIN kpi_dirty d ON d.day = e.resolved_day
) events
GROUP BY {_grouping_sets(("type", "owner", "root_cause"))}
"""

_OPEN_FACTS = f"""
SELECT {_GRAIN} AS grain, day, vendor_id, cost_center_id, buyer_id, currency,
       type, owner, age_bucket, COUNT(*)::int AS open_count, SUM(amount) AS open_amount
FROM (
    SELECT open_days.day, e.vendor_id, e.cost_center_id, e.buyer_id, e.currency, e.type,
           e.owner, e.amount_at_stake AS amount,
           CASE WHEN open_days.day - e.opened_day <= 2 THEN 'd00_02'
                WHEN open_days.day - e.opened_day <= 7 THEN 'd03_07'
                WHEN open_days.day - e.opened_day <= 14 THEN 'd08_14'
                WHEN open_days.day - e.opened_day <= 30 THEN 'd15_30'
                ELSE 'd31' END AS age_bucket
    FROM kpi_exc e
    -- Open at the end of a day: opened by then and not resolved by then.
    CROSS JOIN LATERAL generate_series(
        GREATEST(e.opened_day, (SELECT MIN(day) FROM kpi_dirty)),
        LEAST(COALESCE(e.resolved_day - 1, %(today)s), (SELECT MAX(day) FROM kpi_dirty)),
        interval '1 day'
    ) AS g(moment)
    CROSS JOIN LATERAL (SELECT g.moment::date AS day) open_days
    JOIN kpi_dirty d ON d.day = open_days.day
) events
GROUP BY {_grouping_sets(("type", "owner", "age_bucket"))}
"""

_DURATION_FACTS = f"""
SELECT {_GRAIN} AS grain, day, vendor_id, cost_center_id, buyer_id, currency,
       measure, value, COUNT(*)::int AS count
FROM (
    SELECT k.approved_day AS day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
           {quoted(Measure.APPROVE_DAYS)} AS measure, k.approve_days AS value
    FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.approved_day
    UNION ALL
    SELECT k.paid_day, k.vendor_id, k.cost_center_id, k.buyer_id, k.currency,
           {quoted(Measure.PAY_DAYS)}, k.pay_days
    FROM metrics_invoicekpi k JOIN kpi_dirty d ON d.day = k.paid_day
    UNION ALL
    SELECT e.resolved_day, e.vendor_id, e.cost_center_id, e.buyer_id, e.currency,
           'resolve_hours_' || e.owner, e.resolve_hours
    FROM kpi_exc e JOIN kpi_dirty d ON d.day = e.resolved_day
) events
GROUP BY {_grouping_sets(("measure", "value"))}
"""

_DIMENSIONS = ("grain", "day", "vendor_id", "cost_center_id", "buyer_id", "currency")
_FACT_TABLES = (
    # table, unique constraint, extra keys, values, the SELECT producing the new rows
    (
        "metrics_dailykpifact",
        "kpi_fact_grain_unique",
        (),
        (*KPI_COUNT_COLUMNS, *KPI_MONEY_COLUMNS),
        _KPI_FACTS,
    ),
    (
        "metrics_dailyexceptionfact",
        "exception_fact_grain_unique",
        ("type", "owner", "root_cause"),
        ("opened", "resolved", "resolve_hours_sum", "amount_opened"),
        _EXCEPTION_FACTS,
    ),
    (
        "metrics_openexceptionfact",
        "open_exception_fact_grain_unique",
        ("type", "owner", "age_bucket"),
        ("open_count", "open_amount"),
        _OPEN_FACTS,
    ),
    (
        "metrics_durationfact",
        "duration_fact_grain_unique",
        ("measure", "value"),
        ("count",),
        _DURATION_FACTS,
    ),
)


def _upsert_sql(table: str, constraint: str, extra: tuple[str, ...], values: tuple[str, ...]):
    """Upsert the new rows of `table`, then delete its rows on dirty days that have no new row."""
    keys = (*_DIMENSIONS, *extra)
    columns = ", ".join((*keys, *values))
    changed = ", ".join(f"{table}.{v}" for v in values)
    incoming = ", ".join(f"EXCLUDED.{v}" for v in values)
    updates = ", ".join(f"{v} = EXCLUDED.{v}" for v in values)
    # COALESCE keeps the anti-join hashable: ids are positive, so 0 stands for NULL.
    same_key = " AND ".join(
        f"COALESCE(n.{k}, 0) = COALESCE(t.{k}, 0)" if k.endswith("_id") else f"n.{k} = t.{k}"
        for k in keys
    )
    return f"""
INSERT INTO {table} ({columns}, updated_at)
SELECT {columns}, %(now)s FROM new_facts
ON CONFLICT ON CONSTRAINT {constraint} DO UPDATE SET {updates}, updated_at = EXCLUDED.updated_at
WHERE ({changed}) IS DISTINCT FROM ({incoming});

DELETE FROM {table} t USING kpi_dirty d
WHERE t.day = d.day AND NOT EXISTS (SELECT 1 FROM new_facts n WHERE {same_key});
"""


@dataclass(frozen=True)
class RollupResult:
    """What one rollup did: invoices looked at and changed, and days summed again."""

    candidates: int
    changed: int
    days: int
    kpi_rows: int


@overload
def rollup_window(
    start: dt.date, end: dt.date, *, scan_invoices: bool = True, wait: Literal[True] = True
) -> RollupResult: ...


@overload
def rollup_window(
    start: dt.date, end: dt.date, *, scan_invoices: bool = True, wait: bool
) -> RollupResult | None: ...


def rollup_window(
    start: dt.date, end: dt.date, *, scan_invoices: bool = True, wait: bool = True
) -> RollupResult | None:
    """Bring the facts of [start, end] (and any day a changed invoice touches) up to date.

    `scan_invoices=False` finds candidates from the audit trail and the KPI rows only, which
    is cheap enough to run every half minute for today. `wait=False` gives up (None) when
    another rollup holds the lock: it will have seen the same changes, or the next one will.
    """
    if start > end:
        raise ValueError("start must be on or before end")
    tz = settings.TIME_ZONE
    zone = timezone.get_default_timezone()
    params: dict[str, dt.date | str] = {
        "start": start,
        "end": end,
        "ts_start": dt.datetime.combine(start, dt.time.min, tzinfo=zone),
        "ts_end": dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone),
        "tz": tz,
        "today": timezone.localdate(),
        "now": timezone.now(),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ROLLUP_LOCK])
        else:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [_ROLLUP_LOCK])
            if not cursor.fetchone()[0]:
                return None
        # Sorting and hashing a year of events wants more than the default 4 MB.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # Compiling these one-off statements costs more than it saves.
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_SETUP, params)
        cursor.execute(_CANDIDATES_FROM_TRAIL, params)
        if scan_invoices:
            cursor.execute(_CANDIDATES_FROM_INVOICES, params)
        cursor.execute(_SNAPSHOT, params)
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM kpi_candidates), (SELECT COUNT(*) FROM kpi_changed), "
            "(SELECT COUNT(*) FROM kpi_dirty)"
        )
        candidates, changed, days = cursor.fetchone()
        cursor.execute(_EXCEPTIONS, params)
        for table, constraint, extra, values, select in _FACT_TABLES:
            cursor.execute(
                "DROP TABLE IF EXISTS pg_temp.new_facts; "
                f"CREATE TEMP TABLE new_facts ON COMMIT DROP AS {select}; ANALYZE new_facts;",
                params,
            )
            cursor.execute(_upsert_sql(table, constraint, extra, values), params)
        cursor.execute(
            "SELECT COUNT(*) FROM metrics_dailykpifact WHERE grain = %s AND day BETWEEN %s AND %s",
            [Grain.DETAIL, start, end],
        )
        kpi_rows = cursor.fetchone()[0]
    return RollupResult(candidates=candidates, changed=changed, days=days, kpi_rows=kpi_rows)


def rebuild_facts(start: dt.date, end: dt.date) -> int:
    """Recompute the daily facts for every day in [start, end]; returns the detail rows there."""
    result = rollup_window(start, end, scan_invoices=True, wait=True)
    assert result is not None  # waiting for the lock never gives up
    return result.kpi_rows
