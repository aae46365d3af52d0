"""The three-way match: a handful of set-based SQL statements over a batch of invoice ids.

One invoice and a hundred thousand go through the same statements. Re-running on the same
data changes nothing: results are upserted only when they differ, an exception is opened
only if the same problem is not already open, and invoices whose status does not change
are not touched.

Rules (see DESIGN.md):
- price: |invoice unit price − PO unit price| ≤ min(pct × PO price, absolute) of the policy;
- quantity: cumulative billed (earlier approved invoices + this batch in id order) ≤
  received − returned (3-way) or ordered (2-way), plus the policy's quantity tolerance;
- header: total = net + tax and net = Σ lines within the total tolerance; vendor and currency
  equal the PO's; the PO is open;
- duplicate: an earlier live invoice of the same vendor with the same normalised number, or
  with the same total dated within three days.
A variance that a person accepted (resolution accept_variance) no longer blocks approval.
"""

from collections.abc import Sequence

from django.db import connection, transaction

MATCHABLE = ("pending_match", "exception")
DUPLICATE_WINDOW_DAYS = 3

_BATCH = """
DROP TABLE IF EXISTS pg_temp.match_batch;
CREATE TEMP TABLE match_batch (invoice_id bigint PRIMARY KEY) ON COMMIT DROP;
INSERT INTO match_batch
SELECT id FROM payables_invoice
WHERE id = ANY(%(ids)s::bigint[]) AND status = ANY(%(statuses)s)
ORDER BY id
FOR UPDATE;
ANALYZE match_batch;
"""

_LINES = """
DROP TABLE IF EXISTS pg_temp.match_lines;
CREATE TEMP TABLE match_lines ON COMMIT DROP AS
WITH batch_lines AS (
    SELECT il.id AS invoice_line_id, il.invoice_id, il.po_line_id, il.quantity, il.unit_price,
           il.amount, i.vendor_id, i.purchase_order_id AS invoice_po_id,
           CASE WHEN i.document_type = 'credit_note' THEN -il.quantity ELSE il.quantity END AS signed_qty
    FROM match_batch b
    JOIN payables_invoice i ON i.id = b.invoice_id
    JOIN payables_invoiceline il ON il.invoice_id = b.invoice_id
),
prior_billed AS (
    SELECT il.po_line_id,
           SUM(CASE WHEN i.document_type = 'credit_note' THEN -il.quantity ELSE il.quantity END) AS qty
    FROM payables_invoiceline il
    JOIN payables_invoice i ON i.id = il.invoice_id
    WHERE il.po_line_id IN (SELECT DISTINCT po_line_id FROM batch_lines WHERE po_line_id IS NOT NULL)
      AND i.status IN ('approved', 'scheduled', 'paid')
      AND NOT EXISTS (SELECT 1 FROM match_batch b WHERE b.invoice_id = il.invoice_id)
    GROUP BY il.po_line_id
),
org_policy AS (
    SELECT * FROM payables_matchpolicy
    WHERE vendor_id IS NULL AND active ORDER BY id LIMIT 1
)
SELECT bl.invoice_line_id, bl.invoice_id, bl.po_line_id, bl.quantity, bl.unit_price, bl.amount,
       bl.invoice_po_id,
       pol.unit_price AS po_unit_price, pol.quantity AS ordered_qty, pol.received_qty,
       pol.match_type, po.buyer_id, pr.requester_id,
       COALESCE(vp.id, op.id) AS policy_id,
       COALESCE(vp.price_tolerance_pct, op.price_tolerance_pct, 0) AS price_pct,
       COALESCE(vp.price_tolerance_abs, op.price_tolerance_abs, 0) AS price_abs,
       COALESCE(vp.qty_tolerance_pct, op.qty_tolerance_pct, 0) AS qty_pct,
       COALESCE(pb.qty, 0) + SUM(bl.signed_qty) OVER (
           PARTITION BY bl.po_line_id ORDER BY bl.invoice_id, bl.invoice_line_id
       ) AS billed_cum
FROM batch_lines bl
LEFT JOIN procurement_purchaseorderline pol ON pol.id = bl.po_line_id
LEFT JOIN procurement_purchaseorder po ON po.id = pol.purchase_order_id
LEFT JOIN procurement_purchaserequest pr ON pr.id = po.request_id
LEFT JOIN payables_matchpolicy vp ON vp.vendor_id = bl.vendor_id AND vp.active
LEFT JOIN org_policy op ON TRUE
LEFT JOIN prior_billed pb ON pb.po_line_id = bl.po_line_id;

ALTER TABLE match_lines
    ADD COLUMN price_variance numeric(18, 4),
    ADD COLUMN price_tolerance numeric(18, 4),
    ADD COLUMN billable_qty numeric(18, 4),
    ADD COLUMN result varchar(20);
ANALYZE match_lines;

UPDATE match_lines SET
    price_variance = unit_price - po_unit_price,
    price_tolerance = ROUND(LEAST(po_unit_price * price_pct / 100, price_abs), 4),
    billable_qty = CASE WHEN match_type = 'two_way' THEN ordered_qty ELSE received_qty END;

UPDATE match_lines SET result = CASE
    WHEN po_line_id IS NULL THEN 'no_po_line'
    WHEN ABS(price_variance) > price_tolerance THEN 'price_variance'
    WHEN match_type = 'three_way'
         AND billed_cum > received_qty * (1 + qty_pct / 100)
         AND billed_cum <= ordered_qty * (1 + qty_pct / 100) THEN 'missing_receipt'
    WHEN billed_cum > billable_qty * (1 + qty_pct / 100) THEN 'qty_over_billed'
    ELSE 'matched'
END;
"""

_RESULTS = """
INSERT INTO payables_matchresult (
    invoice_id, invoice_line_id, po_line_id, policy_id, invoice_unit_price, po_unit_price,
    price_variance, price_tolerance, billed_qty_cumulative, billable_qty, result, matched_at
)
SELECT invoice_id, invoice_line_id, po_line_id, policy_id, unit_price, po_unit_price,
       price_variance, price_tolerance, billed_cum, billable_qty, result, %(now)s
FROM match_lines
ON CONFLICT (invoice_line_id) DO UPDATE SET
    po_line_id = EXCLUDED.po_line_id, policy_id = EXCLUDED.policy_id,
    invoice_unit_price = EXCLUDED.invoice_unit_price, po_unit_price = EXCLUDED.po_unit_price,
    price_variance = EXCLUDED.price_variance, price_tolerance = EXCLUDED.price_tolerance,
    billed_qty_cumulative = EXCLUDED.billed_qty_cumulative, billable_qty = EXCLUDED.billable_qty,
    result = EXCLUDED.result, matched_at = EXCLUDED.matched_at
WHERE (payables_matchresult.po_line_id, payables_matchresult.policy_id,
       payables_matchresult.invoice_unit_price, payables_matchresult.po_unit_price,
       payables_matchresult.price_variance, payables_matchresult.price_tolerance,
       payables_matchresult.billed_qty_cumulative, payables_matchresult.billable_qty,
       payables_matchresult.result)
  IS DISTINCT FROM
      (EXCLUDED.po_line_id, EXCLUDED.policy_id, EXCLUDED.invoice_unit_price,
       EXCLUDED.po_unit_price, EXCLUDED.price_variance, EXCLUDED.price_tolerance,
       EXCLUDED.billed_qty_cumulative, EXCLUDED.billable_qty, EXCLUDED.result);
"""

_PROBLEMS = """
DROP TABLE IF EXISTS pg_temp.match_problems;
CREATE TEMP TABLE match_problems ON COMMIT DROP AS
WITH line_problems AS (
    SELECT ml.invoice_id, ml.invoice_line_id,
           CASE ml.result WHEN 'no_po_line' THEN 'no_po' ELSE ml.result END AS type,
           CASE ml.result
               WHEN 'price_variance' THEN 'buyer'
               WHEN 'qty_over_billed' THEN 'buyer'
               WHEN 'missing_receipt' THEN 'requester'
               ELSE 'ap' END AS owner,
           CASE ml.result
               WHEN 'price_variance' THEN ml.buyer_id
               WHEN 'qty_over_billed' THEN ml.buyer_id
               WHEN 'missing_receipt' THEN COALESCE(ml.requester_id, ml.buyer_id)
               END AS owner_user_id,
           CASE ml.result
               WHEN 'price_variance' THEN
                   CASE WHEN ml.price_variance > 0 THEN 'vendor_pricing_error' ELSE 'stale_po_price' END
               WHEN 'qty_over_billed' THEN 'over_billing'
               WHEN 'missing_receipt' THEN 'missing_receipt'
               ELSE 'no_po' END AS suggested_root_cause,
           CASE ml.result
               WHEN 'price_variance' THEN format(
                   'Invoice price %%s vs PO price %%s (variance %%s, tolerance %%s)',
                   trim_scale(ml.unit_price), trim_scale(ml.po_unit_price),
                   trim_scale(ml.price_variance), trim_scale(ml.price_tolerance))
               WHEN 'qty_over_billed' THEN format(
                   'Billed %%s in total, only %%s may be billed',
                   trim_scale(ml.billed_cum), trim_scale(ml.billable_qty))
               WHEN 'missing_receipt' THEN format(
                   'Billed %%s in total, %%s received so far',
                   trim_scale(ml.billed_cum), trim_scale(ml.received_qty))
               ELSE 'Invoice line refers to no purchase order line' END AS detail,
           ROUND(CASE ml.result
               WHEN 'price_variance' THEN ABS(ml.price_variance * ml.quantity)
               WHEN 'qty_over_billed' THEN LEAST(ABS(ml.amount),
                   (ml.billed_cum - ml.billable_qty) * ml.unit_price)
               ELSE ABS(ml.amount) END, 2) AS amount_at_stake
    FROM match_lines ml
    -- An invoice without any PO gets one header-level no_po, not one per line as well.
    WHERE ml.result <> 'matched' AND NOT (ml.result = 'no_po_line' AND ml.invoice_po_id IS NULL)
),
line_totals AS (
    SELECT invoice_id, SUM(amount) AS line_total FROM match_lines GROUP BY invoice_id
),
invoices AS (
    SELECT i.*, po.vendor_id AS po_vendor_id, po.currency AS po_currency, po.status AS po_status,
           COALESCE(lt.line_total, 0) AS line_total,
           COALESCE(vp.total_tolerance_abs, op.total_tolerance_abs, 0) AS total_tol
    FROM match_batch b
    JOIN payables_invoice i ON i.id = b.invoice_id
    LEFT JOIN line_totals lt ON lt.invoice_id = i.id
    LEFT JOIN procurement_purchaseorder po ON po.id = i.purchase_order_id
    LEFT JOIN payables_matchpolicy vp ON vp.vendor_id = i.vendor_id AND vp.active
    LEFT JOIN (SELECT * FROM payables_matchpolicy WHERE vendor_id IS NULL AND active
               ORDER BY id LIMIT 1) op ON TRUE
),
header_problems AS (
    SELECT id AS invoice_id, NULL::bigint AS invoice_line_id, 'no_po' AS type, 'ap' AS owner,
           NULL::integer AS owner_user_id, 'no_po' AS suggested_root_cause,
           CASE WHEN purchase_order_id IS NULL
                THEN 'No purchase order referenced' || COALESCE(NULLIF(' (' || po_reference || ')', ' ()'), '')
                ELSE 'Purchase order is ' || po_status END AS detail,
           total_amount AS amount_at_stake
    FROM invoices
    WHERE purchase_order_id IS NULL OR po_status NOT IN ('issued', 'partially_received', 'received', 'closed')
    UNION ALL
    SELECT id, NULL, 'vendor_mismatch', 'ap', NULL, 'wrong_vendor',
           'Invoice vendor differs from the purchase order vendor', total_amount
    FROM invoices WHERE po_vendor_id IS NOT NULL AND po_vendor_id <> vendor_id
    UNION ALL
    SELECT id, NULL, 'currency_mismatch', 'ap', NULL, 'wrong_vendor',
           format('Invoice in %%s, purchase order in %%s', currency, po_currency), total_amount
    FROM invoices WHERE po_currency IS NOT NULL AND po_currency <> currency
    UNION ALL
    SELECT id, NULL, 'totals_mismatch', 'ap', NULL, 'keying_error',
           format('Lines %%s + tax %%s ≠ total %%s', line_total, tax_amount, total_amount),
           ABS(total_amount - line_total - tax_amount)
    FROM invoices
    WHERE ABS(total_amount - net_amount - tax_amount) > total_tol
       OR ABS(net_amount - line_total) > total_tol
    UNION ALL
    SELECT inv.id, NULL, 'duplicate', 'ap', NULL, 'duplicate_submission',
           'Resembles invoice ' || dup.number || ' (id ' || dup.id || ')', inv.total_amount
    FROM invoices inv
    JOIN LATERAL (
        SELECT d.id, d.number FROM (
            (SELECT o.id, o.number FROM payables_invoice o
             WHERE o.vendor_id = inv.vendor_id AND o.normalized_number = inv.normalized_number
               AND o.id < inv.id AND o.status <> 'rejected' AND o.document_type = inv.document_type
             ORDER BY o.id LIMIT 1)
            UNION ALL
            (SELECT o.id, o.number FROM payables_invoice o
             WHERE o.vendor_id = inv.vendor_id AND o.total_amount = inv.total_amount
               AND o.invoice_date BETWEEN inv.invoice_date - %(dup_days)s AND inv.invoice_date + %(dup_days)s
               AND o.id < inv.id AND o.status <> 'rejected' AND o.document_type = inv.document_type
             ORDER BY o.id LIMIT 1)
        ) d ORDER BY d.id LIMIT 1
    ) dup ON TRUE
)
SELECT p.* FROM (SELECT * FROM line_problems UNION ALL SELECT * FROM header_problems) p
WHERE NOT EXISTS (
    -- A person already looked at this exact problem and let it through.
    SELECT 1 FROM payables_invoiceexception x
    WHERE x.invoice_id = p.invoice_id
      AND x.invoice_line_id IS NOT DISTINCT FROM p.invoice_line_id
      AND x.type = p.type AND x.status = 'resolved' AND x.resolution = 'accept_variance'
);
CREATE INDEX ON match_problems (invoice_id);
ANALYZE match_problems;
"""

_CLOSE_CLEARED = """
WITH cleared AS (
    UPDATE payables_invoiceexception x SET status = 'resolved', resolution = 'resolved_by_match',
           resolved_at = %(now)s,
           root_cause = COALESCE(NULLIF(x.root_cause, ''), x.suggested_root_cause)
    FROM match_batch b
    WHERE x.invoice_id = b.invoice_id AND x.status = 'open'
      AND NOT EXISTS (
          SELECT 1 FROM match_problems p
          WHERE p.invoice_id = x.invoice_id AND p.type = x.type
            AND p.invoice_line_id IS NOT DISTINCT FROM x.invoice_line_id)
    RETURNING x.id, x.type
)
INSERT INTO p2p_auditevent (at, actor_id, actor_name, object_type, object_id, object_repr, action,
                            from_status, to_status, changes, note)
SELECT %(now)s, NULL, 'matching engine', 'payables.invoiceexception', id, type, 'status',
       'open', 'resolved', '{}'::jsonb, 'Cleared by re-match'
FROM cleared;
"""

_OPEN_NEW = """
WITH opened AS (
    INSERT INTO payables_invoiceexception (
        invoice_id, invoice_line_id, type, owner, owner_user_id, status, suggested_root_cause,
        root_cause, resolution, detail, amount_at_stake, opened_at, resolution_note
    )
    SELECT p.invoice_id, p.invoice_line_id, p.type, p.owner, p.owner_user_id, 'open',
           p.suggested_root_cause, '', '', LEFT(p.detail, 300), p.amount_at_stake, %(now)s, ''
    FROM match_problems p
    WHERE NOT EXISTS (
        SELECT 1 FROM payables_invoiceexception x
        WHERE x.invoice_id = p.invoice_id AND x.type = p.type AND x.status = 'open'
          AND x.invoice_line_id IS NOT DISTINCT FROM p.invoice_line_id)
    ON CONFLICT DO NOTHING
    RETURNING id, type, detail
)
INSERT INTO p2p_auditevent (at, actor_id, actor_name, object_type, object_id, object_repr, action,
                            from_status, to_status, changes, note)
SELECT %(now)s, NULL, 'matching engine', 'payables.invoiceexception', id, type, 'created',
       '', 'open', '{}'::jsonb, detail
FROM opened;
"""

_INVOICES = """
WITH problem_counts AS (
    SELECT invoice_id, COUNT(*) AS problems FROM match_problems GROUP BY invoice_id
),
excepted AS (
    SELECT DISTINCT x.invoice_id FROM payables_invoiceexception x
    JOIN match_batch b ON b.invoice_id = x.invoice_id
),
verdict AS (
    SELECT i.id, i.status AS old_status, COALESCE(pc.problems, 0) AS problems,
           e.invoice_id IS NOT NULL AS ever_excepted
    FROM match_batch b
    JOIN payables_invoice i ON i.id = b.invoice_id
    LEFT JOIN problem_counts pc ON pc.invoice_id = b.invoice_id
    LEFT JOIN excepted e ON e.invoice_id = b.invoice_id
),
changed AS (
    UPDATE payables_invoice i SET
        status = CASE WHEN v.problems = 0 THEN 'approved' ELSE 'exception' END,
        match_attempts = i.match_attempts + 1,
        first_matched_at = COALESCE(i.first_matched_at, %(now)s),
        first_pass = COALESCE(i.first_pass, v.problems = 0),
        approved_at = CASE WHEN v.problems = 0 THEN %(now)s END,
        touchless = (v.problems = 0 AND NOT v.ever_excepted)
    FROM verdict v
    WHERE v.id = i.id
      AND (v.old_status = 'pending_match'
           OR v.old_status <> CASE WHEN v.problems = 0 THEN 'approved' ELSE 'exception' END)
    RETURNING i.id, v.old_status, i.status, i.number, v.problems
)
INSERT INTO p2p_auditevent (at, actor_id, actor_name, object_type, object_id, object_repr, action,
                            from_status, to_status, changes, note)
SELECT %(now)s, NULL, 'matching engine', 'payables.invoice', id, number, 'status',
       old_status, status, jsonb_build_object('problems', problems),
       CASE WHEN problems = 0 THEN 'Three-way match passed'
            ELSE 'Three-way match found ' || problems || ' problem(s)' END
FROM changed WHERE old_status <> status;
"""


def match_invoices(invoice_ids: Sequence[int]) -> int:
    """Match a batch of invoices; returns how many were in a matchable state."""
    from django.utils import timezone

    if not invoice_ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Lock in id order so two workers on overlapping batches cannot deadlock; a
        # concurrent run waits and then sees the first one's results.
        cursor.execute(_BATCH, {"ids": list(invoice_ids), "statuses": list(MATCHABLE)})
        cursor.execute("SELECT COUNT(*) FROM match_batch")
        batch_size = cursor.fetchone()[0]
        if not batch_size:
            return 0
        params = {"now": timezone.now(), "dup_days": DUPLICATE_WINDOW_DAYS}
        for sql in (_LINES, _RESULTS, _PROBLEMS, _CLOSE_CLEARED, _OPEN_NEW, _INVOICES):
            cursor.execute(sql, params)
    return batch_size
