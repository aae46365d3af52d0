"""Generate N invoices (3 lines each) with POs and receipts, set-based, for the match benchmark.

Shares of problems are fixed: 90% clean, 4% price variance, 3% short receipt, 3% over-billed.
Usage: python bench/generate.py --n 100000   (writes into the database of DATABASE_URL)
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from payables.models import MatchPolicy  # noqa: E402
from procurement.models import CostCenter, GLAccount  # noqa: E402
from vendors.models import PaymentTerms  # noqa: E402

VENDORS = 500

SQL = """
INSERT INTO vendors_vendor (name, tax_id, country, currency, status, payment_terms_id, email, remit_to, created_at)
SELECT 'Bench Vendor ' || g, 'NLBENCH' || g, 'NL', 'EUR', 'active', %(terms)s, '', '', now()
FROM generate_series(1, %(vendors)s) g;

CREATE TEMP TABLE bench_vendor AS
SELECT id, row_number() OVER (ORDER BY id) AS rn FROM vendors_vendor WHERE tax_id LIKE 'NLBENCH%%';

INSERT INTO procurement_purchaseorder (number, vendor_id, buyer_id, request_id, currency, payment_terms_id,
                                       ship_to, status, revision, total_amount, created_at, issued_at)
SELECT 'BPO-' || g, v.id, %(buyer)s, NULL, 'EUR', %(terms)s, '', 'received', 0, 0, now(), now()
FROM generate_series(%(start)s, %(end)s) g
JOIN bench_vendor v ON v.rn = (g %% %(vendors)s) + 1;

INSERT INTO procurement_purchaseorderline (purchase_order_id, line_no, request_line_id, item_code, description,
                                           quantity, uom, unit_price, amount, gl_account_id, cost_center_id,
                                           match_type, received_qty)
SELECT po.id, l, NULL, 'ITEM-' || l, 'Bench item ' || l, 10 * l, 'EA',
       12.50 * l + (substring(po.number from 5)::int %% 997) * 0.01, 0,
       %(gl)s, %(cc)s, 'three_way',
       CASE WHEN (substring(po.number from 5)::int %% 100) BETWEEN 4 AND 6 AND l = 1 THEN 5 ELSE 10 * l END
FROM procurement_purchaseorder po CROSS JOIN generate_series(1, 3) l
WHERE po.number LIKE 'BPO-%%' AND substring(po.number from 5)::int BETWEEN %(start)s AND %(end)s;

INSERT INTO payables_invoice (vendor_id, number, normalized_number, document_type, source, purchase_order_id,
                              po_reference, invoice_date, due_date, discount_date, discount_amount, currency,
                              net_amount, tax_amount, total_amount, status, captured_by_id, captured_at,
                              match_attempts, first_matched_at, first_pass, approved_at, touchless, paid_at)
SELECT po.vendor_id, 'BINV-' || substring(po.number from 5), 'BINV' || substring(po.number from 5), 'invoice',
       'api', po.id, po.number, current_date - (substring(po.number from 5)::int %% 60),
       current_date + 30 - (substring(po.number from 5)::int %% 60), NULL, 0, 'EUR',
       0, 0, 0, 'pending_match', NULL, now(), 0, NULL, NULL, NULL, false, NULL
FROM procurement_purchaseorder po
WHERE po.number LIKE 'BPO-%%' AND substring(po.number from 5)::int BETWEEN %(start)s AND %(end)s;

INSERT INTO payables_invoiceline (invoice_id, line_no, po_line_id, description, quantity, unit_price, amount, tax_rate)
SELECT i.id, pol.line_no, pol.id, pol.description,
       CASE WHEN k BETWEEN 7 AND 9 AND pol.line_no = 2 THEN pol.quantity + 3 ELSE pol.quantity END,
       CASE WHEN k BETWEEN 0 AND 3 AND pol.line_no = 3 THEN pol.unit_price * 1.10 ELSE pol.unit_price END,
       0, 21
FROM payables_invoice i
JOIN procurement_purchaseorderline pol ON pol.purchase_order_id = i.purchase_order_id
CROSS JOIN LATERAL (SELECT substring(i.number from 6)::int %% 100 AS k) kk
WHERE i.number LIKE 'BINV-%%' AND substring(i.number from 6)::int BETWEEN %(start)s AND %(end)s;

UPDATE procurement_purchaseorderline SET amount = ROUND(quantity * unit_price, 2)
WHERE purchase_order_id IN (SELECT id FROM procurement_purchaseorder WHERE number LIKE 'BPO-%%'
                            AND substring(number from 5)::int BETWEEN %(start)s AND %(end)s);

UPDATE payables_invoiceline SET amount = ROUND(quantity * unit_price, 2)
WHERE invoice_id IN (SELECT id FROM payables_invoice WHERE number LIKE 'BINV-%%'
                     AND substring(number from 6)::int BETWEEN %(start)s AND %(end)s);

UPDATE payables_invoice i SET net_amount = s.net, tax_amount = ROUND(s.net * 0.21, 2),
       total_amount = s.net + ROUND(s.net * 0.21, 2)
FROM (SELECT invoice_id, SUM(amount) AS net FROM payables_invoiceline GROUP BY invoice_id) s
WHERE s.invoice_id = i.id AND i.number LIKE 'BINV-%%'
  AND substring(i.number from 6)::int BETWEEN %(start)s AND %(end)s;
"""


def generate(n: int) -> None:
    """Create n invoices with their POs unless they exist already."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM payables_invoice WHERE number LIKE 'BINV-%%'")
        have = cursor.fetchone()[0]
    if have >= n:
        print(f"generate: {have} bench invoices already present")
        return
    terms, _ = PaymentTerms.objects.get_or_create(
        code="NET30", defaults={"name": "Net 30", "net_days": 30}
    )
    buyer, _ = User.objects.get_or_create(username="bench-buyer")
    cc, _ = CostCenter.objects.get_or_create(
        code="BENCH", defaults={"name": "Bench", "department": "Bench"}
    )
    gl, _ = GLAccount.objects.get_or_create(code="BENCH", defaults={"name": "Bench"})
    MatchPolicy.objects.get_or_create(name="Organisation default", vendor=None)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        if have == 0:
            cursor.execute(
                "DELETE FROM vendors_vendor WHERE tax_id LIKE 'NLBENCH%%' "
                "AND NOT EXISTS (SELECT 1 FROM procurement_purchaseorder WHERE vendor_id = vendors_vendor.id)"
            )
        else:
            # Grow an existing set: vendors exist already.
            pass
        sql = (
            SQL
            if have == 0
            else SQL.split("CREATE TEMP TABLE", 1)[1].join(["CREATE TEMP TABLE", ""])
        )
        cursor.execute(
            sql,
            {
                "terms": terms.pk,
                "vendors": VENDORS,
                "buyer": buyer.pk,
                "cc": cc.pk,
                "gl": gl.pk,
                "start": have + 1,
                "end": n,
            },
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"generate: {n - have} invoices ({3 * (n - have)} lines) in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    generate(parser.parse_args().n)
