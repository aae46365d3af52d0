"""The KPI rollup: daily facts per (day, vendor, cost center, buyer, currency), set-based.

Rebuilding a range deletes its facts and inserts them again inside one transaction under an
advisory lock, so running it twice, or twice at once, leaves exactly one copy.
"""

import datetime as dt

from django.db import connection, transaction

_ROLLUP_LOCK = 724_001

_REBUILD = """
DELETE FROM metrics_dailykpifact WHERE day BETWEEN %(start)s AND %(end)s;

WITH inv AS (
    SELECT i.*, po.buyer_id, pr.cost_center_id,
           (i.captured_at AT TIME ZONE %(tz)s)::date AS captured_day,
           (i.first_matched_at AT TIME ZONE %(tz)s)::date AS first_match_day,
           (i.approved_at AT TIME ZONE %(tz)s)::date AS approved_day,
           (i.paid_at AT TIME ZONE %(tz)s)::date AS paid_day
    FROM payables_invoice i
    LEFT JOIN procurement_purchaseorder po ON po.id = i.purchase_order_id
    LEFT JOIN procurement_purchaserequest pr ON pr.id = po.request_id
),
events AS (
    SELECT captured_day AS day, vendor_id, cost_center_id, buyer_id, currency,
           1 AS captured, 0 AS first_attempts, 0 AS first_pass, 0 AS approved, 0 AS touchless,
           0 AS exc_opened, 0 AS exc_resolved, 0 AS paid, 0 AS on_time,
           0::numeric AS disc_available, 0::numeric AS disc_taken,
           CASE WHEN document_type = 'credit_note' THEN -total_amount ELSE total_amount END AS spend,
           CASE WHEN purchase_order_id IS NULL THEN 0
                WHEN document_type = 'credit_note' THEN -total_amount ELSE total_amount END AS spend_po
    FROM inv WHERE captured_day BETWEEN %(start)s AND %(end)s
    UNION ALL
    SELECT first_match_day, vendor_id, cost_center_id, buyer_id, currency,
           0, 1, CASE WHEN first_pass THEN 1 ELSE 0 END, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM inv WHERE first_match_day BETWEEN %(start)s AND %(end)s
    UNION ALL
    -- Counted once per invoice, on the day it was (last) approved; paid invoices keep theirs.
    SELECT approved_day, vendor_id, cost_center_id, buyer_id, currency,
           0, 0, 0, 1, CASE WHEN touchless THEN 1 ELSE 0 END, 0, 0, 0, 0, 0, 0, 0, 0
    FROM inv WHERE approved_day BETWEEN %(start)s AND %(end)s
      AND status IN ('approved', 'scheduled', 'paid')
    UNION ALL
    SELECT (x.opened_at AT TIME ZONE %(tz)s)::date, inv.vendor_id, inv.cost_center_id, inv.buyer_id,
           inv.currency, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0
    FROM payables_invoiceexception x JOIN inv ON inv.id = x.invoice_id
    WHERE (x.opened_at AT TIME ZONE %(tz)s)::date BETWEEN %(start)s AND %(end)s
    UNION ALL
    SELECT (x.resolved_at AT TIME ZONE %(tz)s)::date, inv.vendor_id, inv.cost_center_id, inv.buyer_id,
           inv.currency, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
    FROM payables_invoiceexception x JOIN inv ON inv.id = x.invoice_id
    WHERE x.status = 'resolved' AND (x.resolved_at AT TIME ZONE %(tz)s)::date BETWEEN %(start)s AND %(end)s
    UNION ALL
    SELECT paid_day, vendor_id, cost_center_id, buyer_id, currency,
           0, 0, 0, 0, 0, 0, 0, 1, CASE WHEN paid_day <= due_date THEN 1 ELSE 0 END, 0, 0, 0, 0
    FROM inv WHERE status = 'paid' AND paid_day BETWEEN %(start)s AND %(end)s
    UNION ALL
    -- Discounts count on the day the window closed, or the day paid if that came first.
    SELECT LEAST(COALESCE(paid_day, discount_date), discount_date), vendor_id, cost_center_id,
           buyer_id, currency, 0, 0, 0, 0, 0, 0, 0, 0, 0, discount_amount,
           COALESCE((SELECT SUM(p.discount_taken) FROM payables_payment p
                     WHERE p.invoice_id = inv.id AND p.status = 'paid'), 0),
           0, 0
    FROM inv
    WHERE discount_amount > 0 AND status <> 'rejected'
      AND (paid_day IS NOT NULL OR discount_date < %(today)s)
      AND LEAST(COALESCE(paid_day, discount_date), discount_date) BETWEEN %(start)s AND %(end)s
)
INSERT INTO metrics_dailykpifact (
    day, vendor_id, cost_center_id, buyer_id, currency, invoices_captured, first_match_attempts,
    first_pass_matches, invoices_approved, touchless_approvals, exceptions_opened,
    exceptions_resolved, invoices_paid, paid_on_time, discount_available, discount_taken,
    spend_total, spend_on_po, updated_at
)
SELECT day, vendor_id, cost_center_id, buyer_id, currency, SUM(captured), SUM(first_attempts),
       SUM(first_pass), SUM(approved), SUM(touchless), SUM(exc_opened), SUM(exc_resolved),
       SUM(paid), SUM(on_time), SUM(disc_available), SUM(disc_taken), SUM(spend), SUM(spend_po),
       now()
FROM events
GROUP BY day, vendor_id, cost_center_id, buyer_id, currency;
"""


def rebuild_facts(start: dt.date, end: dt.date) -> int:
    """Recompute the daily facts for every day in [start, end]; returns the fact rows written."""
    from django.conf import settings
    from django.utils import timezone

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ROLLUP_LOCK])
        cursor.execute(
            _REBUILD,
            {"start": start, "end": end, "tz": settings.TIME_ZONE, "today": timezone.localdate()},
        )
        cursor.execute(
            "SELECT COUNT(*) FROM metrics_dailykpifact WHERE day BETWEEN %s AND %s", [start, end]
        )
        return cursor.fetchone()[0]
