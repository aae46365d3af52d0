"""The three-way match: a handful of set-based SQL statements over a batch of invoice ids.

One invoice and a hundred thousand go through the same statements. Re-running on the same
data changes nothing: results are rewritten only when they differ, an exception is opened
only if the same problem is not already open, and an invoice matched before whose status does
not change is not touched.

Rules (see DESIGN.md):
- line: it bills a line of the invoice's own PO;
- price: |invoice unit price − PO unit price| ≤ min(pct × PO price, absolute) of the policy;
- quantity: cumulative billed (earlier approved invoices + this batch in id order) ≤
  received − returned (3-way) or ordered (2-way), plus the policy's quantity tolerance;
- header: total = net + tax and net = Σ lines within the total tolerance; vendor and currency
  equal the PO's; the PO is open;
- duplicate: an earlier live invoice of the same vendor with the same normalised number, or
  with the same total dated within three days.
A variance that a person accepted (resolution accept_variance) no longer blocks approval.
"""

import datetime as dt
from collections.abc import Sequence

from django.db import connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from p2p.models import AuditAction
from p2p.sql import quoted
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchPolicy, MatchResult
from procurement.models import PurchaseOrder, PurchaseOrderLine
from vendors.models import BankAccount, Contract

MATCHABLE = (Invoice.Status.PENDING_MATCH, Invoice.Status.EXCEPTION)
DUPLICATE_WINDOW_DAYS = 3
# Choice values as SQL literals, for the statements below (see p2p.sql.quoted).
# Invoices whose lines count as billed: through the match and still standing.
_BILLED = quoted(*Invoice.MATCHED_STATUSES)
_CREDIT_NOTE = quoted(Invoice.DocumentType.CREDIT_NOTE)
_APPROVED = quoted(Invoice.Status.APPROVED)
_EXCEPTION = quoted(Invoice.Status.EXCEPTION)
_PENDING_MATCH = quoted(Invoice.Status.PENDING_MATCH)
_REJECTED = quoted(Invoice.Status.REJECTED)
_UNRESOLVED = quoted(*InvoiceException.UNRESOLVED)
_OPEN = quoted(InvoiceException.Status.OPEN)
_RESOLVED = quoted(InvoiceException.Status.RESOLVED)
_ACCEPT_VARIANCE = quoted(InvoiceException.Resolution.ACCEPT_VARIANCE)
_RESOLVED_BY_MATCH = quoted(InvoiceException.Resolution.RESOLVED_BY_MATCH)
# Orders an invoice may bill: issued and not cancelled.
_PO_INVOICEABLE = quoted(*PurchaseOrder.OPEN_STATUSES, PurchaseOrder.Status.CLOSED)
# Bank accounts a payment may go to now or soon: verified or waiting for verification.
_ACCOUNT_LIVE = quoted(BankAccount.Status.VERIFIED, BankAccount.Status.PENDING)
_CONTRACT_ACTIVE = quoted(Contract.Status.ACTIVE)
_LOOSER = quoted(MatchPolicy.Combine.LOOSER)
_ORGANISATION = quoted(MatchPolicy.Scope.ORGANISATION)
_VENDOR = quoted(MatchPolicy.Scope.VENDOR)
_CATEGORY = quoted(MatchPolicy.Scope.CATEGORY)
_ITEM = quoted(MatchPolicy.Scope.ITEM)
_MATCHED = quoted(MatchResult.Result.MATCHED)
_PRICE_VARIANCE = quoted(MatchResult.Result.PRICE_VARIANCE)
_QTY_OVER_BILLED = quoted(MatchResult.Result.QTY_OVER_BILLED)
_MISSING_RECEIPT = quoted(MatchResult.Result.MISSING_RECEIPT)
_NO_PO_LINE = quoted(MatchResult.Result.NO_PO_LINE)
_TWO_WAY = quoted(PurchaseOrderLine.MatchType.TWO_WAY)
_THREE_WAY = quoted(PurchaseOrderLine.MatchType.THREE_WAY)
_Type, _Owner, _Cause = InvoiceException.Type, InvoiceException.Owner, InvoiceException.RootCause
_TYPE_NO_PO = quoted(_Type.NO_PO)
_OWNER_BUYER = quoted(_Owner.BUYER)
_OWNER_REQUESTER = quoted(_Owner.REQUESTER)
_OWNER_AP = quoted(_Owner.AP)
_AUDIT_STATUS = quoted(AuditAction.STATUS)
_AUDIT_CREATED = quoted(AuditAction.CREATED)

_TABLES = """
-- The working tables last as long as the connection (workers keep theirs): created once and
-- emptied by every commit. Created and dropped per batch, they rewrote some hundred catalog
-- rows each time, which is most of what matching a single invoice costs.
CREATE TEMP TABLE IF NOT EXISTS match_batch (
    invoice_id bigint PRIMARY KEY,
    status varchar(20) NOT NULL,
    vendor_id bigint NOT NULL,
    number varchar(60) NOT NULL,
    normalized_number varchar(60) NOT NULL,
    document_type varchar(20) NOT NULL,
    invoice_date date NOT NULL,
    currency varchar(3) NOT NULL,
    net_amount numeric(18, 2) NOT NULL,
    tax_amount numeric(18, 2) NOT NULL,
    total_amount numeric(18, 2) NOT NULL,
    purchase_order_id bigint,
    po_reference varchar(60) NOT NULL,
    never_matched boolean NOT NULL,
    -- Where the locked row lies: no one else can move it until the commit, and the final
    -- update reaches it by this address instead of descending the key index again.
    row_ctid tid NOT NULL
) ON COMMIT DELETE ROWS;
-- Only what the later statements read: a narrow table stays in the session's temp buffers.
CREATE TEMP TABLE IF NOT EXISTS match_lines (
    invoice_id bigint NOT NULL,
    invoice_line_id bigint NOT NULL,
    po_line_id bigint,
    invoice_po_id bigint,
    policy_id bigint,
    quantity numeric,
    unit_price numeric,
    amount numeric,
    po_unit_price numeric,
    contract_unit_price numeric,
    received_qty numeric,
    buyer_id integer,
    requester_id integer,
    price_variance numeric,
    price_tolerance numeric,
    qty_tolerance numeric,
    billed_cum numeric,
    billable_qty numeric,
    never_matched boolean NOT NULL,
    result varchar(20) NOT NULL
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS match_problems (
    invoice_id bigint NOT NULL,
    invoice_line_id bigint,
    type varchar(30) NOT NULL,
    owner varchar(20) NOT NULL,
    owner_user_id integer,
    suggested_root_cause varchar(30) NOT NULL,
    detail text NOT NULL,
    amount_at_stake numeric(18, 2) NOT NULL
) ON COMMIT DELETE ROWS;
CREATE INDEX IF NOT EXISTS match_problems_invoice_idx ON match_problems (invoice_id);
-- A second batch in the same transaction starts from empty tables too.
DELETE FROM match_batch;
DELETE FROM match_lines;
DELETE FROM match_problems;
"""

_BATCH = """
-- Lines, PO lines and invoices are read by primary key for the batch; with the default
-- random_page_cost the planner prefers scanning whole tables once a batch has a few
-- thousand ids. The hot tables live in cache or on SSD, where 1.1 is the honest cost.
SET LOCAL random_page_cost = 1.1;
-- Each statement runs once per batch over index lookups: compiling it (JIT) costs more than
-- it saves, and the window sort over a 10k batch's lines would spill at the default 4 MB.
SET LOCAL jit = off;
SET LOCAL work_mem = '64MB';
-- The commit does not wait for its log flush. A crash can lose only whole matches, and
-- nothing durable can depend on one (any later durable commit flushes the log through it):
-- the invoices are still pending_match for the sweep or the redelivered task.
SET LOCAL synchronous_commit = off;
-- The batch's invoices, locked, with the header fields every later statement needs (read
-- once here rather than looked up again by each statement).
INSERT INTO match_batch
SELECT id AS invoice_id, status, vendor_id, number, normalized_number, document_type,
       invoice_date, currency, net_amount, tax_amount, total_amount, purchase_order_id,
       po_reference, first_matched_at IS NULL AS never_matched, ctid AS row_ctid
FROM payables_invoice
WHERE id = ANY(%(ids)s::bigint[]) AND status = ANY(%(statuses)s)
ORDER BY id
FOR UPDATE;
ANALYZE match_batch (invoice_id, vendor_id);

-- Cumulative billing per PO line must see every other batch's verdict on the same lines, so
-- batches that share a purchase order take turns: the orders are locked in id order (after
-- the invoices, so two batches cannot wait on each other), and their lines are read only
-- once the lock is held (by the next statement). An invoice bills lines of its own order
-- only (capture refuses others, and the match holds any other as a problem), so the
-- invoices' orders are all there is to lock. Locking the order rather than each line
-- writes a third as many row locks (each one a write-ahead log record, the first on a page
-- a full-page image).
SELECT COUNT(*) FROM (
    SELECT id FROM procurement_purchaseorder
    WHERE id = ANY(ARRAY(SELECT purchase_order_id FROM match_batch WHERE purchase_order_id IS NOT NULL))
    ORDER BY id
    FOR NO KEY UPDATE
) locked;

"""


# How a percent part and an absolute part meet, per the policy's `combine` rule.
def _allowance(combine: str, pct_base: str, absolute: str) -> str:
    return (
        f"COALESCE(CASE WHEN {combine} = {_LOOSER} THEN GREATEST({pct_base}, {absolute}) "
        f"ELSE LEAST({pct_base}, {absolute}) END, 0)"
    )


_LINES = f"""
INSERT INTO match_lines
-- The batch's invoice lines with their invoice's header fields. LATERAL lookups (LIMIT and
-- OFFSET stop the planner from flattening them) keep every batch on primary-key and
-- foreign-key indexes: joined as sets, a batch of a few thousand ids tips the planner into
-- scanning whole tables.
WITH batch_lines AS MATERIALIZED (
    SELECT il.id AS invoice_line_id, il.invoice_id, il.po_line_id, il.quantity, il.unit_price,
           il.amount, b.vendor_id, b.purchase_order_id AS invoice_po_id, b.invoice_date,
           b.currency AS invoice_currency, b.never_matched,
           -- Billed within the batch, in invoice order: summed here over the narrow lines
           -- rather than after the joins, so the sort moves a third of the bytes.
           SUM(CASE WHEN b.document_type = {_CREDIT_NOTE} THEN -il.quantity ELSE il.quantity END)
               OVER (PARTITION BY il.po_line_id ORDER BY il.invoice_id, il.id) AS batch_billed
    FROM match_batch b
    CROSS JOIN LATERAL (
        SELECT * FROM payables_invoiceline y WHERE y.invoice_id = b.invoice_id OFFSET 0
    ) il
),
prior_billed AS (
    SELECT lines.po_line_id,
           SUM(CASE WHEN i.document_type = {_CREDIT_NOTE} THEN -il.quantity ELSE il.quantity END)
               AS qty
    FROM (SELECT DISTINCT po_line_id FROM batch_lines WHERE po_line_id IS NOT NULL) lines
    CROSS JOIN LATERAL (
        SELECT x.invoice_id, x.quantity FROM payables_invoiceline x
        WHERE x.po_line_id = lines.po_line_id OFFSET 0
    ) il
    CROSS JOIN LATERAL (SELECT * FROM payables_invoice x WHERE x.id = il.invoice_id LIMIT 1) i
    WHERE i.status IN ({_BILLED})
      AND NOT EXISTS (SELECT 1 FROM match_batch b WHERE b.invoice_id = il.invoice_id)
    GROUP BY lines.po_line_id
),
contract_prices AS (
    SELECT c.vendor_id, line.item_code, c.currency, c.valid_from, c.valid_to, line.unit_price
    FROM vendors_contract c
    JOIN vendors_contractline line ON line.contract_id = c.id
    WHERE c.status = {_CONTRACT_ACTIVE}
      AND c.vendor_id IN (SELECT DISTINCT vendor_id FROM match_batch)
),
joined AS (
    SELECT bl.*, pol.purchase_order_id AS po_line_po_id, pol.unit_price AS po_unit_price,
           pol.quantity AS ordered_qty, pol.received_qty, pol.match_type, po.buyer_id,
           po.requester_id, cl.unit_price AS contract_unit_price,
           COALESCE(ip.id, cp.id, vp.id, (
               SELECT id FROM payables_matchpolicy
               WHERE scope = {_ORGANISATION} AND active ORDER BY id LIMIT 1
           )) AS policy_id,
           COALESCE(pb.qty, 0) + bl.batch_billed AS billed_cum
    FROM batch_lines bl
    -- Read here, after the purchase orders were locked: the committed quantities and prices.
    LEFT JOIN LATERAL (
        SELECT * FROM procurement_purchaseorderline x WHERE x.id = bl.po_line_id LIMIT 1
    ) pol ON TRUE
    -- The order and its request together: looked up once per order (the plan memoizes
    -- the lookup by order), not once per line.
    LEFT JOIN LATERAL (
        SELECT x.vendor_id, x.buyer_id, r.requester_id, r.category
        FROM procurement_purchaseorder x
        LEFT JOIN procurement_purchaserequest r ON r.id = x.request_id
        WHERE x.id = pol.purchase_order_id LIMIT 1
    ) po ON TRUE
    LEFT JOIN payables_matchpolicy ip
        ON ip.scope = {_ITEM} AND ip.active AND ip.item_code = pol.item_code AND pol.item_code <> ''
    LEFT JOIN payables_matchpolicy cp
        ON cp.scope = {_CATEGORY} AND cp.active AND cp.category = po.category
    LEFT JOIN payables_matchpolicy vp
        ON vp.scope = {_VENDOR} AND vp.active AND vp.vendor_id = bl.vendor_id
    -- The rate card in force on the invoice date is the price reference when there is one
    -- (activation refuses overlapping active contracts for an item, so at most one matches).
    LEFT JOIN contract_prices cl
        ON cl.vendor_id = po.vendor_id AND cl.item_code = pol.item_code
       AND cl.currency = bl.invoice_currency AND bl.invoice_date BETWEEN cl.valid_from AND cl.valid_to
    LEFT JOIN prior_billed pb ON pb.po_line_id = bl.po_line_id
),
measured AS (
    SELECT j.*,
           j.unit_price - COALESCE(j.contract_unit_price, j.po_unit_price) AS price_variance,
           ROUND({
    _allowance(
        "mp.combine",
        "ABS(COALESCE(j.contract_unit_price, j.po_unit_price)) * mp.price_tolerance_pct / 100",
        "mp.price_tolerance_abs",
    )
}, 4) AS price_tolerance,
           CASE WHEN j.match_type = {_TWO_WAY} THEN j.ordered_qty ELSE j.received_qty END
               AS billable_qty,
           ROUND({
    _allowance(
        "mp.combine",
        f"(CASE WHEN j.match_type = {_TWO_WAY} THEN j.ordered_qty ELSE j.received_qty END)"
        " * mp.qty_tolerance_pct / 100",
        "mp.qty_tolerance_abs",
    )
}, 4) AS qty_tolerance,
           ROUND({
    _allowance("mp.combine", "j.ordered_qty * mp.qty_tolerance_pct / 100", "mp.qty_tolerance_abs")
}, 4) AS ordered_tolerance
    FROM joined j
    LEFT JOIN payables_matchpolicy mp ON mp.id = j.policy_id
    -- Computed once here: flattened into the statement below, each tolerance would be
    -- computed again for every place the verdict reads it.
    OFFSET 0
)
SELECT m.invoice_id, m.invoice_line_id, m.po_line_id, m.invoice_po_id, m.policy_id, m.quantity,
       m.unit_price, m.amount, m.po_unit_price, m.contract_unit_price, m.received_qty, m.buyer_id,
       m.requester_id, m.price_variance, m.price_tolerance, m.qty_tolerance, m.billed_cum,
       m.billable_qty, m.never_matched, CASE
    WHEN m.po_line_id IS NULL THEN {_NO_PO_LINE}
    -- Not locked (see _BATCH), and a question for AP in any case.
    WHEN m.po_line_po_id IS DISTINCT FROM m.invoice_po_id THEN {_NO_PO_LINE}
    WHEN ABS(m.price_variance) > m.price_tolerance THEN {_PRICE_VARIANCE}
    WHEN m.billed_cum <= m.billable_qty + m.qty_tolerance THEN {_MATCHED}
    WHEN m.match_type = {_THREE_WAY} AND m.billed_cum <= m.ordered_qty + m.ordered_tolerance
        THEN {_MISSING_RECEIPT}
    ELSE {_QTY_OVER_BILLED}
END::varchar(20) AS result
FROM measured m;
"""  # noqa: S608 (composed from constants only)

_RESULT_ROWS = """
INSERT INTO payables_matchresult (
    invoice_id, invoice_line_id, po_line_id, policy_id, invoice_unit_price, po_unit_price,
    price_variance, price_tolerance, contract_unit_price, qty_tolerance, billed_qty_cumulative,
    billable_qty, result, matched_at
)
SELECT invoice_id, invoice_line_id, po_line_id, policy_id, unit_price, po_unit_price,
       price_variance, price_tolerance, contract_unit_price, qty_tolerance, billed_cum,
       billable_qty, result, %(now)s
FROM match_lines"""

# Evidence is written only here, in the transaction that also sets first_matched_at, and the
# invoice is locked: a never-matched invoice has none yet, so its lines are plainly inserted
# (half the cost of the conflict check's speculative insertion).
_FIRST_RESULTS = f"{_RESULT_ROWS} WHERE never_matched"

# What a re-match compares with the evidence already stored; the line's evidence (with its
# new matched_at) is rewritten only when one of these moved.
_COMPARED = ("po_line_id", "policy_id", "invoice_unit_price", "po_unit_price", "price_variance",
             "price_tolerance", "contract_unit_price", "qty_tolerance", "billed_qty_cumulative",
             "billable_qty", "result")  # fmt: skip

_REMATCH_RESULTS = f"""
{_RESULT_ROWS} WHERE NOT never_matched
ON CONFLICT (invoice_line_id) DO UPDATE SET
    {", ".join(f"{column} = EXCLUDED.{column}" for column in (*_COMPARED, "matched_at"))}
WHERE ({", ".join(f"payables_matchresult.{column}" for column in _COMPARED)})
  IS DISTINCT FROM ({", ".join(f"EXCLUDED.{column}" for column in _COMPARED)})
"""

_PROBLEMS = f"""
INSERT INTO match_problems
SELECT ml.invoice_id, ml.invoice_line_id,
       CASE ml.result WHEN {_NO_PO_LINE} THEN {_TYPE_NO_PO} ELSE ml.result END,
       CASE ml.result
           WHEN {_PRICE_VARIANCE} THEN {_OWNER_BUYER}
           WHEN {_QTY_OVER_BILLED} THEN {_OWNER_BUYER}
           WHEN {_MISSING_RECEIPT} THEN {_OWNER_REQUESTER}
           ELSE {_OWNER_AP} END,
       CASE ml.result
           WHEN {_PRICE_VARIANCE} THEN ml.buyer_id
           WHEN {_QTY_OVER_BILLED} THEN ml.buyer_id
           WHEN {_MISSING_RECEIPT} THEN COALESCE(ml.requester_id, ml.buyer_id)
           END,
       CASE ml.result
           WHEN {_PRICE_VARIANCE} THEN
               CASE WHEN ml.price_variance > 0 THEN {quoted(_Cause.VENDOR_PRICING_ERROR)}
                    ELSE {quoted(_Cause.STALE_PO_PRICE)} END
           WHEN {_QTY_OVER_BILLED} THEN {quoted(_Cause.OVER_BILLING)}
           WHEN {_MISSING_RECEIPT} THEN {quoted(_Cause.MISSING_RECEIPT)}
           ELSE {quoted(_Cause.NO_PO)} END,
       CASE ml.result
           WHEN {_PRICE_VARIANCE} THEN format(
               'Invoice price %%s vs %%s %%s (variance %%s, tolerance %%s)',
               trim_scale(ml.unit_price),
               CASE WHEN ml.contract_unit_price IS NULL THEN 'PO price' ELSE 'contract price' END,
               trim_scale(COALESCE(ml.contract_unit_price, ml.po_unit_price)),
               trim_scale(ml.price_variance), trim_scale(ml.price_tolerance))
           WHEN {_QTY_OVER_BILLED} THEN format(
               'Billed %%s in total, only %%s may be billed',
               trim_scale(ml.billed_cum), trim_scale(ml.billable_qty))
           WHEN {_MISSING_RECEIPT} THEN format(
               'Billed %%s in total, %%s received so far',
               trim_scale(ml.billed_cum), trim_scale(ml.received_qty))
           ELSE CASE WHEN ml.po_line_id IS NULL THEN 'Invoice line refers to no purchase order line'
                     ELSE 'Invoice line bills a line of another purchase order' END
           END,
       ROUND(CASE ml.result
           WHEN {_PRICE_VARIANCE} THEN ABS(ml.price_variance * ml.quantity)
           WHEN {_QTY_OVER_BILLED} THEN LEAST(ABS(ml.amount),
               (ml.billed_cum - ml.billable_qty) * ml.unit_price)
           ELSE ABS(ml.amount) END, 2)
FROM match_lines ml
-- An invoice without any PO gets one header-level no_po, not one per line as well.
WHERE ml.result <> {_MATCHED} AND NOT (ml.result = {_NO_PO_LINE} AND ml.invoice_po_id IS NULL);

-- Header checks and duplicates, in one statement over the batch's headers.
INSERT INTO match_problems
WITH line_totals AS (
    SELECT invoice_id, SUM(amount) AS line_total FROM match_lines GROUP BY invoice_id
),
match_headers AS MATERIALIZED (
    SELECT i.invoice_id AS id, i.vendor_id, i.number, i.normalized_number, i.document_type,
           i.invoice_date, i.currency, i.net_amount, i.tax_amount, i.total_amount,
           i.purchase_order_id, i.po_reference, po.vendor_id AS po_vendor_id,
           po.currency AS po_currency, po.status AS po_status,
           COALESCE(lt.line_total, 0) AS line_total,
           {
    _allowance(
        "mp.combine", "ABS(i.total_amount) * mp.total_tolerance_pct / 100", "mp.total_tolerance_abs"
    )
} AS total_tol
    FROM match_batch i
    LEFT JOIN line_totals lt ON lt.invoice_id = i.invoice_id
    LEFT JOIN LATERAL (
        SELECT * FROM procurement_purchaseorder x WHERE x.id = i.purchase_order_id LIMIT 1
    ) po ON TRUE
    -- At most one active policy per vendor (one_active_policy_per_scope_key).
    LEFT JOIN payables_matchpolicy vp
        ON vp.scope = {_VENDOR} AND vp.active AND vp.vendor_id = i.vendor_id
    LEFT JOIN payables_matchpolicy mp ON mp.id = COALESCE(vp.id, (
        SELECT id FROM payables_matchpolicy
        WHERE scope = {_ORGANISATION} AND active ORDER BY id LIMIT 1))
),
-- Duplicates: an earlier live invoice of the same vendor (or of a vendor paid into the same
-- bank account) with the same normalised number, or the same total dated within a few days.
-- Each probe carries the header fields it compares, so neither probe joins back to them.
related AS (
    SELECT h.id, h.vendor_id AS probe_vendor_id, h.normalized_number, h.total_amount,
           h.invoice_date, h.document_type
    FROM match_headers h
    UNION ALL
    SELECT DISTINCT h.id, other.vendor_id, h.normalized_number, h.total_amount, h.invoice_date,
           h.document_type
    FROM match_headers h
    JOIN vendors_bankaccount mine
        ON mine.vendor_id = h.vendor_id AND mine.status IN ({_ACCOUNT_LIVE})
    JOIN vendors_bankaccount other ON other.iban = mine.iban AND other.vendor_id <> mine.vendor_id
        AND other.status IN ({_ACCOUNT_LIVE})
),
candidates AS (
    SELECT r.id AS invoice_id, o.id, o.number, o.vendor_id
    FROM related r
    CROSS JOIN LATERAL (
        SELECT x.id, x.number, x.vendor_id FROM payables_invoice x
        WHERE x.vendor_id = r.probe_vendor_id AND x.normalized_number = r.normalized_number
          AND x.id < r.id AND x.status <> {_REJECTED} AND x.document_type = r.document_type
        ORDER BY x.id LIMIT 1
    ) o
    UNION ALL
    SELECT r.id, o.id, o.number, o.vendor_id
    FROM related r
    CROSS JOIN LATERAL (
        SELECT x.id, x.number, x.vendor_id FROM payables_invoice x
        WHERE x.vendor_id = r.probe_vendor_id AND x.total_amount = r.total_amount
          AND x.invoice_date BETWEEN r.invoice_date - %(dup_days)s AND r.invoice_date + %(dup_days)s
          AND x.id < r.id AND x.status <> {_REJECTED} AND x.document_type = r.document_type
        -- The first in index order: the earliest-dated such invoice (no sort per probe).
        LIMIT 1
    ) o
)
SELECT id, NULL::bigint, {_TYPE_NO_PO}, {_OWNER_AP}, NULL::integer, {quoted(_Cause.NO_PO)},
       CASE WHEN purchase_order_id IS NULL
            THEN 'No purchase order referenced' || COALESCE(NULLIF(' (' || po_reference || ')', ' ()'), '')
            ELSE 'Purchase order is ' || po_status END,
       total_amount
FROM match_headers
WHERE purchase_order_id IS NULL OR po_status NOT IN ({_PO_INVOICEABLE})
UNION ALL
SELECT id, NULL, {quoted(_Type.VENDOR_MISMATCH)}, {_OWNER_AP}, NULL, {quoted(_Cause.WRONG_VENDOR)},
       'Invoice vendor differs from the purchase order vendor', total_amount
FROM match_headers WHERE po_vendor_id IS NOT NULL AND po_vendor_id <> vendor_id
UNION ALL
SELECT id, NULL, {quoted(_Type.CURRENCY_MISMATCH)}, {_OWNER_AP}, NULL, {
    quoted(_Cause.WRONG_VENDOR)
},
       format('Invoice in %%s, purchase order in %%s', currency, po_currency), total_amount
FROM match_headers WHERE po_currency IS NOT NULL AND po_currency <> currency
UNION ALL
SELECT id, NULL, {quoted(_Type.TOTALS_MISMATCH)}, {_OWNER_AP}, NULL, {quoted(_Cause.KEYING_ERROR)},
       format('Lines %%s + tax %%s ≠ total %%s', line_total, tax_amount, total_amount),
       ABS(total_amount - line_total - tax_amount)
FROM match_headers
WHERE ABS(total_amount - net_amount - tax_amount) > total_tol OR ABS(net_amount - line_total) > total_tol
UNION ALL
SELECT * FROM (
    SELECT DISTINCT ON (h.id) h.id, NULL::bigint, {quoted(_Type.DUPLICATE)}, {_OWNER_AP},
           NULL::integer, {quoted(_Cause.DUPLICATE_SUBMISSION)},
           'Resembles invoice ' || c.number || ' (id ' || c.id || ')'
               || CASE WHEN c.vendor_id <> h.vendor_id
                       THEN ' of another vendor with the same bank account' ELSE '' END,
           h.total_amount
    FROM match_headers h
    JOIN candidates c ON c.invoice_id = h.id
    ORDER BY h.id, c.id
) duplicates;

"""  # noqa: S608 (composed from constants only)

# The engine's entries in the audit trail: no actor, then the object type and what follows.
_AUDIT_INSERT = """INSERT INTO p2p_auditevent (at, actor_id, actor_name, object_type, object_id,
                            object_repr, action, from_status, to_status, changes, note)
SELECT %(now)s, NULL, 'matching engine', """

# A person already looked at this exact problem and let it through (only a re-match can
# find one: a never-matched invoice has no exceptions, see _CLOSE_CLEARED).
_ACCEPTED = f"""
DELETE FROM match_problems p
USING payables_invoiceexception x
WHERE x.invoice_id = p.invoice_id
  AND x.invoice_line_id IS NOT DISTINCT FROM p.invoice_line_id
  AND x.type = p.type AND x.status = {_RESOLVED}
  AND x.resolution = {_ACCEPT_VARIANCE}
"""  # noqa: S608 (composed from constants only)

_CLOSE_CLEARED = f"""
WITH cleared AS (
    UPDATE payables_invoiceexception x SET status = {_RESOLVED},
           resolution = {_RESOLVED_BY_MATCH},
           resolved_at = %(now)s, claimed_by_id = NULL, claimed_until = NULL,
           root_cause = COALESCE(NULLIF(x.root_cause, ''), x.suggested_root_cause)
    FROM match_batch b
    -- Waiting on a vendor's credit note counts as unresolved: a re-match can clear it too.
    -- Only the match opens exceptions, in the transaction that sets first_matched_at: an
    -- invoice never matched has none to look for.
    WHERE x.invoice_id = b.invoice_id AND NOT b.never_matched
      AND x.status IN ({_UNRESOLVED})
      AND NOT EXISTS (
          SELECT 1 FROM match_problems p
          WHERE p.invoice_id = x.invoice_id AND p.type = x.type
            AND p.invoice_line_id IS NOT DISTINCT FROM x.invoice_line_id)
    RETURNING x.id, x.type, x.invoice_id
)
{_AUDIT_INSERT}'payables.invoiceexception', c.id,
       LEFT(initcap(replace(c.type, '_', ' ')) || ' on ' || i.number, 200), {_AUDIT_STATUS},
       {_OPEN}, {_RESOLVED}, '{{}}'::jsonb, 'Cleared by re-match'
FROM cleared c
JOIN match_batch i ON i.invoice_id = c.invoice_id;
"""  # noqa: S608 (composed from constants only)

_OPEN_NEW = f"""
WITH opened AS (
    INSERT INTO payables_invoiceexception (
        invoice_id, invoice_line_id, type, owner, owner_user_id, status, suggested_root_cause,
        root_cause, resolution, detail, amount_at_stake, opened_at, resolution_note
    )
    SELECT p.invoice_id, p.invoice_line_id, p.type, p.owner, p.owner_user_id, {_OPEN},
           p.suggested_root_cause, '', '', LEFT(p.detail, 300), p.amount_at_stake, %(now)s, ''
    FROM match_problems p
    WHERE NOT EXISTS (
        SELECT 1 FROM payables_invoiceexception x
        WHERE x.invoice_id = p.invoice_id AND x.type = p.type
          AND x.status IN ({_UNRESOLVED})
          AND x.invoice_line_id IS NOT DISTINCT FROM p.invoice_line_id)
    -- Exceptions are numbered in document order, whatever order the plan produced.
    ORDER BY p.invoice_id, p.invoice_line_id NULLS FIRST, p.type
    ON CONFLICT DO NOTHING
    RETURNING id, type, detail, invoice_id
)
{_AUDIT_INSERT}'payables.invoiceexception', o.id,
       LEFT(initcap(replace(o.type, '_', ' ')) || ' on ' || i.number, 200), {_AUDIT_CREATED},
       '', {_OPEN}, '{{}}'::jsonb, o.detail
FROM opened o
JOIN match_batch i ON i.invoice_id = o.invoice_id;
"""  # noqa: S608 (composed from constants only)

_INVOICES = f"""
WITH problem_counts AS (
    SELECT invoice_id, COUNT(*) AS problems FROM match_problems GROUP BY invoice_id
),
verdict AS (
    SELECT b.invoice_id AS id, b.status AS old_status, b.never_matched,
           COALESCE(pc.problems, 0) AS problems,
           CASE WHEN b.never_matched THEN FALSE  -- none yet (see _CLOSE_CLEARED)
                ELSE EXISTS (SELECT 1 FROM payables_invoiceexception x
                             WHERE x.invoice_id = b.invoice_id) END AS ever_excepted
    FROM match_batch b
    LEFT JOIN problem_counts pc ON pc.invoice_id = b.invoice_id
),
changed AS (
    UPDATE payables_invoice i SET
        status = CASE WHEN v.problems = 0 THEN {_APPROVED} ELSE {_EXCEPTION} END,
        match_attempts = i.match_attempts + 1,
        first_matched_at = COALESCE(i.first_matched_at, %(now)s),
        first_pass = COALESCE(i.first_pass, v.problems = 0),
        approved_at = CASE WHEN v.problems = 0 THEN %(now)s END,
        touchless = (v.problems = 0 AND NOT v.ever_excepted)
    FROM verdict v
    -- The rows locked by _BATCH, fetched by their address (see match_batch.row_ctid).
    WHERE i.ctid = ANY(ARRAY(SELECT row_ctid FROM match_batch)) AND v.id = i.id
      -- Every invoice leaves its first match with first_matched_at set (see _FIRST_RESULTS).
      AND (v.old_status = {_PENDING_MATCH} OR v.never_matched
           OR v.old_status <> CASE WHEN v.problems = 0 THEN {_APPROVED} ELSE {_EXCEPTION} END)
    RETURNING i.id, v.old_status, i.status, i.number, v.problems
)
{_AUDIT_INSERT}'payables.invoice', id, number, {_AUDIT_STATUS},
       old_status, status, jsonb_build_object('problems', problems),
       CASE WHEN problems = 0 THEN 'Three-way match passed'
            ELSE 'Three-way match found ' || problems || ' problem(s)' END
FROM changed WHERE old_status <> status;
"""  # noqa: S608 (composed from constants only)


def _statements(*, rematches: bool) -> list[str]:
    """The statements after the batch is locked; what only a re-match can need is left out
    of a batch of first matches (the usual batch: invoices just captured)."""
    return [
        _LINES,
        _FIRST_RESULTS,
        *([_REMATCH_RESULTS] if rematches else []),
        _PROBLEMS,
        *([_ACCEPTED] if rematches else []),
        "ANALYZE match_problems",
        *([_CLOSE_CLEARED] if rematches else []),
        _OPEN_NEW,
        _INVOICES,
    ]


def run_matching(invoice_ids: Sequence[int]) -> int:
    """Match a batch of invoices; returns how many were in a matchable state."""
    if not invoice_ids:
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        # Lock in id order so two workers on overlapping batches cannot deadlock; a
        # concurrent run waits and then sees the first one's results.
        cursor.execute(_TABLES)
        cursor.execute(_BATCH, {"ids": list(invoice_ids), "statuses": list(MATCHABLE)})
        cursor.execute(
            "SELECT COUNT(*), COUNT(*) FILTER (WHERE NOT never_matched) FROM match_batch"
        )
        batch_size, rematches = cursor.fetchone()
        if not batch_size:
            return 0
        params: dict[str, dt.datetime | int] = {
            "now": timezone.now(),
            "dup_days": DUPLICATE_WINDOW_DAYS,
        }
        for sql in _statements(rematches=rematches > 0):
            cursor.execute(sql, params)
    return int(batch_size)


def claim_stuck(*, older_than: dt.timedelta, limit: int) -> list[int]:
    """Invoices pending longer than `older_than` since their match was queued, stamped as queued now.

    A match that is running holds its invoices' rows, so SKIP LOCKED leaves in-flight invoices
    alone. The stamp makes the sweep idempotent: a second sweep within `older_than` (beat firing
    twice, a redelivered sweep) claims none of them again.
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Invoice.objects.awaiting_match()
            .alias(queued_at=Coalesce("match_queued_at", "captured_at"))
            .filter(queued_at__lt=now - older_than)
            .select_for_update(skip_locked=True)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        Invoice.objects.filter(pk__in=ids).update(match_queued_at=now)
    return ids
