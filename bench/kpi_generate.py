"""Generate N invoices over the last two years, in their final state, for the KPI benchmark.

Set-based SQL, deterministic: invoice n's vendor, day, outcome and payment come from a hash of
n, so growing from 10k to 1M adds invoices to the same days and keeps the first 10k as they
were. Mix: ~80% first-pass touchless; price variances and over-billing for buyers, missing
receipts for requesters, duplicates, keying errors and invoices without a PO for AP; exceptions
resolved after hours to days (still open when that lies in the future); payments 0–35 days
after approval, with 2/10 net 30 discounts for every third vendor.

Usage: python bench/kpi_generate.py --n 100000 [--days 730]   (into p2p_kpibench, the KPI benchmark's database)
"""

import argparse
import datetime as dt
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")

if __name__ == "__main__":
    from bench.database import use_bench_database

    use_bench_database("p2p_kpibench")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.db import connection, models, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from payables.models.exceptions import InvoiceException  # noqa: E402
from payables.models.invoices import Invoice, InvoiceLine  # noqa: E402
from payables.models.matching import MatchPolicy  # noqa: E402
from payables.models.payments import Payment, PaymentRun  # noqa: E402
from procurement.models import CostCenter, GLAccount, PurchaseOrder, PurchaseOrderLine  # noqa: E402
from vendors.models import PaymentTerms, Vendor  # noqa: E402

VENDORS = 500
INVOICES_PER_PO = 4
BUYERS = ("Anna", "Bram", "Chris", "Dana", "Eva", "Finn")
DEPARTMENTS = ("Operations", "Marketing", "IT", "Facilities")
WORDS = (
    "Nordwind", "Helvetia", "Atlas", "Kantoorhuis", "Delta", "Vanguard", "Polder", "Rijnland",
    "Zuidas", "Orion", "Meridian", "Boreal", "Alpine", "Baltic", "Cobalt", "Falcon", "Granite",
    "Harbor", "Iris", "Juniper",
)  # fmt: skip
KINDS = (
    "Office Supplies", "Logistics", "Facility Services", "IT Solutions", "Print & Media",
    "Catering", "Engineering", "Consulting", "Security", "Cleaning", "Packaging", "Energy",
    "Telecom", "Furniture", "Travel", "Staffing", "Software", "Hardware", "Maintenance", "Labs",
    "Marketing", "Legal", "Insurance", "Training", "Waste",
)  # fmt: skip


def _defaults(model: type[models.Model], provided: dict[str, str], params: dict) -> tuple:
    """Columns and SQL expressions for an INSERT … SELECT: the given ones, and every other
    required column filled with the model's default, so new fields never break the generator."""
    columns, expressions = [], []
    for field in model._meta.concrete_fields:
        if isinstance(field, models.AutoField | models.BigAutoField):
            continue
        column = field.column
        if column in provided:
            columns.append(column)
            expressions.append(provided[column])
        elif field.has_default():
            key = f"d_{model._meta.model_name}_{column}"
            params[key] = field.get_db_prep_save(field.get_default(), connection)
            columns.append(column)
            expressions.append(f"%({key})s")
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            columns.append(column)
            expressions.append("now()")
        elif field.null:
            continue
        elif isinstance(field, models.CharField | models.TextField):
            columns.append(column)
            expressions.append("''")
        else:
            raise RuntimeError(f"{model.__name__}.{field.name} needs a value in the generator")
    return ", ".join(columns), ", ".join(expressions)


def insert_select(model, provided: dict[str, str], source: str, params: dict, tail: str = ""):
    columns, expressions = _defaults(model, provided, params)
    sql = (
        f"INSERT INTO {model._meta.db_table} ({columns}) SELECT {expressions} FROM {source} {tail}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def reference_data() -> dict:
    """Terms, people, cost centers and vendors (ORM: a few hundred rows)."""
    net30, _ = PaymentTerms.objects.get_or_create(
        code="NET30", defaults={"name": "Net 30", "net_days": 30}
    )
    two_ten, _ = PaymentTerms.objects.get_or_create(
        code="2/10N30",
        defaults={
            "name": "2/10 Net 30",
            "net_days": 30,
            "discount_percent": Decimal("2"),
            "discount_days": 10,
        },
    )
    buyer_group, _ = Group.objects.get_or_create(name="buyer")
    buyers = []
    for n, first_name in enumerate(BUYERS, start=1):
        user, _ = User.objects.get_or_create(
            username=f"kpi-buyer-{n}", defaults={"first_name": first_name, "last_name": "Buyer"}
        )
        user.groups.add(buyer_group)
        buyers.append(user.pk)
    clerk, _ = User.objects.get_or_create(username="kpi-clerk", defaults={"first_name": "Kim"})
    centers = []
    for n in range(12):
        center, _ = CostCenter.objects.get_or_create(
            code=f"KPI-CC-{n + 1:02d}",
            defaults={"name": f"Cost center {n + 1}", "department": DEPARTMENTS[n % 4]},
        )
        centers.append(center.pk)
    gl, _ = GLAccount.objects.get_or_create(code="KPI-6100", defaults={"name": "Purchases"})
    MatchPolicy.objects.get_or_create(name="Organisation default", vendor=None)
    if not Vendor.objects.filter(tax_id__startswith="NLKPI").exists():
        Vendor.objects.bulk_create(
            Vendor(
                name=f"{WORDS[n % len(WORDS)]} {KINDS[(n * 7 + n // len(WORDS)) % len(KINDS)]} {n + 1:03d}",
                tax_id=f"NLKPI{n + 1:03d}",
                country="NL",
                currency="USD" if (n + 1) % 25 == 0 else "EUR",
                status=Vendor.Status.ACTIVE,
                payment_terms=two_ten if (n + 1) % 3 == 0 else net30,
            )
            for n in range(VENDORS)
        )
    return {"buyers": buyers, "centers": centers, "gl": gl.pk, "clerk": clerk.pk}


# One row per new invoice with everything derived from a hash of its number n.
_GEN = """
DROP TABLE IF EXISTS pg_temp.gen;
CREATE TEMP TABLE gen AS
WITH base AS (
    SELECT n, (n::bigint * 2654435761) %% 4294967296 AS h,
           (n + %(per_po)s - 1) / %(per_po)s AS po_no
    FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) n
),
shaped AS (
    SELECT b.*,
           -- Few vendors get many invoices, many get few.
           1 + floor(%(vendors)s * power(((b.po_no * 2246822519) %% 4294967296) / 4294967296.0, 2))::int
               AS vendor_no,
           %(first_day)s::date
               + ((b.po_no * 7919 + (b.n %% %(per_po)s) * 2) %% %(days)s)::int AS day0,
           (b.h >> 4) %% 100 AS outcome,
           (b.h >> 12) %% 100 AS po_roll,
           (b.h >> 16) %% 1000 AS hours_roll,
           (b.h >> 20) %% 100 AS pay_roll
    FROM base b
),
dated AS (
    SELECT s.*, LEAST(s.day0, %(today)s::date) AS day,
           v.id AS vendor_id, v.currency, t.discount_percent > 0 AS has_discount
    FROM shaped s
    JOIN vendors_vendor v ON v.tax_id = 'NLKPI' || lpad(s.vendor_no::text, 3, '0')
    JOIN vendors_paymentterms t ON t.id = v.payment_terms_id
),
timed AS (
    SELECT d.*,
           ((d.day + time '08:00' + ((d.h >> 8) %% 600) * interval '1 minute')::timestamp
               AT TIME ZONE %(tz)s) AS captured_at,
           d.po_roll < 92 AS on_po,
           CASE WHEN d.po_roll >= 92 THEN 'no_po'
                WHEN d.outcome < 70 OR d.outcome >= 90 THEN NULL
                WHEN d.outcome < 78 THEN 'price_variance'
                WHEN d.outcome < 83 THEN 'missing_receipt'
                WHEN d.outcome < 86 THEN 'qty_over_billed'
                WHEN d.outcome < 88 THEN 'duplicate'
                ELSE 'totals_mismatch' END AS exception_type,
           round((50 + ((d.h >> 3) %% 500000) / 100.0)::numeric, 2) AS total
    FROM dated d
),
resolved AS (
    SELECT t.*,
           CASE t.exception_type
               WHEN 'price_variance' THEN 'buyer' WHEN 'qty_over_billed' THEN 'buyer'
               WHEN 'missing_receipt' THEN 'requester' ELSE 'ap' END AS owner,
           t.captured_at + interval '2 minutes' AS matched_at,
           t.captured_at + interval '2 minutes' + (1 + t.hours_roll %% CASE t.exception_type
               WHEN 'price_variance' THEN 96 WHEN 'qty_over_billed' THEN 120
               WHEN 'missing_receipt' THEN 160 ELSE 30 END) * interval '1 hour' AS resolve_at
    FROM timed t
),
settled AS (
    SELECT r.*,
           r.exception_type IS NOT NULL AND r.resolve_at > %(now)s AS still_open,
           CASE WHEN r.exception_type IS NULL THEN r.matched_at
                WHEN r.resolve_at <= %(now)s AND r.exception_type <> 'duplicate'
                THEN r.resolve_at + interval '1 minute' END AS approved_at
    FROM resolved r
),
paid AS (
    SELECT s.*,
           CASE WHEN s.approved_at IS NULL THEN NULL
                ELSE ((s.approved_at AT TIME ZONE %(tz)s)::date
                      + CASE WHEN s.has_discount THEN (s.pay_roll %% 14)::int
                             ELSE 14 + (s.pay_roll %% 22)::int END) END AS pay_day
    FROM settled s
)
SELECT p.*,
       p.day - (p.n %% 3)::int AS invoice_date,
       CASE WHEN p.pay_day IS NOT NULL AND p.pay_day <= %(today)s THEN
           (p.pay_day + time '12:00')::timestamp AT TIME ZONE %(tz)s END AS paid_at,
       CASE WHEN p.has_discount THEN round(p.total * 0.02, 2) ELSE 0 END AS discount_amount,
       'KPI-' || lpad(p.n::text, 7, '0') AS number,
       'KPI-PO-' || lpad(p.po_no::text, 7, '0') AS po_number
FROM paid p;
ALTER TABLE gen ADD COLUMN status varchar(20);
UPDATE gen SET status = CASE
    WHEN exception_type = 'duplicate' AND NOT still_open THEN 'rejected'
    WHEN still_open THEN 'exception'
    WHEN paid_at IS NOT NULL THEN 'paid'
    ELSE 'approved' END;
CREATE INDEX ON gen (po_number);
ANALYZE gen;
"""


def generate(n: int, days: int = 730) -> None:
    """Grow the benchmark data to n invoices (the first ones stay as they are)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM payables_invoice WHERE number LIKE 'KPI-%%'")
        have = cursor.fetchone()[0]
    if have >= n:
        print(f"kpi_generate: {have} invoices already present")
        return
    started = time.perf_counter()
    ref = reference_data()
    today = timezone.localdate()
    params = {
        "lo": have + 1,
        "hi": n,
        "per_po": INVOICES_PER_PO,
        "vendors": VENDORS,
        "days": days,
        "first_day": today - dt.timedelta(days=days - 1),
        "today": today,
        "now": timezone.now(),
        "tz": settings.TIME_ZONE,
        "buyers": ref["buyers"],
        "centers": ref["centers"],
        "gl": ref["gl"],
        "clerk": ref["clerk"],
        "terms": PaymentTerms.objects.get(code="NET30").pk,
    }
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_GEN, params)
        insert_select(
            PurchaseOrder,
            {
                "number": "g.po_number",
                "vendor_id": "g.vendor_id",
                "buyer_id": "(%(buyers)s::bigint[])[1 + (g.po_no %% 6)]",
                "currency": "g.currency",
                "payment_terms_id": "(SELECT payment_terms_id FROM vendors_vendor WHERE id = g.vendor_id)",
                "status": "'received'",
                "total_amount": "10000",
                "created_at": "g.captured_at - interval '7 days'",
                "issued_at": "g.captured_at - interval '7 days'",
            },
            "(SELECT DISTINCT ON (po_number) * FROM gen ORDER BY po_number, n) g",
            params,
            "ON CONFLICT (number) DO NOTHING",
        )
        insert_select(
            PurchaseOrderLine,
            {
                "purchase_order_id": "po.id",
                "line_no": "1",
                "description": "'Goods and services'",
                "quantity": "1000",
                "unit_price": "10",
                "amount": "10000",
                "gl_account_id": "%(gl)s",
                "cost_center_id": "(%(centers)s::bigint[])[1 + ((substring(po.number from 8)::int * 31) %% 12)]",
                "received_qty": "1000",
            },
            "procurement_purchaseorder po",
            params,
            "WHERE po.number LIKE 'KPI-PO-%%' AND NOT EXISTS (SELECT 1 FROM "
            "procurement_purchaseorderline l WHERE l.purchase_order_id = po.id)",
        )
        insert_select(
            Invoice,
            {
                "vendor_id": "g.vendor_id",
                "number": "g.number",
                "normalized_number": "replace(g.number, '-', '')",
                "document_type": "'invoice'",
                "source": "'api'",
                "purchase_order_id": "CASE WHEN g.on_po THEN po.id END",
                "po_reference": "CASE WHEN g.on_po THEN g.po_number ELSE '' END",
                "invoice_date": "g.invoice_date",
                "due_date": "g.invoice_date + 30",
                "discount_date": "CASE WHEN g.has_discount THEN g.invoice_date + 10 END",
                "discount_amount": "g.discount_amount",
                "currency": "g.currency",
                "net_amount": "round(g.total / 1.21, 2)",
                "tax_amount": "g.total - round(g.total / 1.21, 2)",
                "total_amount": "g.total",
                "payable_amount": "g.total",
                "status": "g.status",
                "captured_by_id": "%(clerk)s",
                "captured_at": "g.captured_at",
                "match_attempts": "CASE WHEN g.exception_type IS NULL THEN 1 ELSE 2 END",
                "first_matched_at": "g.matched_at",
                "first_pass": "g.exception_type IS NULL",
                "approved_at": "CASE WHEN g.status IN ('approved', 'paid') THEN g.approved_at END",
                "touchless": "g.exception_type IS NULL",
                "paid_at": "CASE WHEN g.status = 'paid' THEN g.paid_at END",
            },
            "gen g JOIN procurement_purchaseorder po ON po.number = g.po_number",
            params,
        )
        with connection.cursor() as cursor:
            cursor.execute(
                "DROP TABLE IF EXISTS pg_temp.gen_ids; "
                "CREATE TEMP TABLE gen_ids AS SELECT g.n, i.id AS invoice_id, i.purchase_order_id "
                "FROM gen g JOIN payables_invoice i ON i.number = g.number; "
                "CREATE INDEX ON gen_ids (n); ANALYZE gen_ids;"
            )
        insert_select(
            InvoiceLine,
            {
                "invoice_id": "x.invoice_id",
                "line_no": "1",
                "po_line_id": "(SELECT l.id FROM procurement_purchaseorderline l "
                "WHERE l.purchase_order_id = x.purchase_order_id LIMIT 1)",
                "description": "'Goods and services'",
                "quantity": "1",
                "unit_price": "round(g.total / 1.21, 2)",
                "amount": "round(g.total / 1.21, 2)",
                "tax_rate": "21",
            },
            "gen g JOIN gen_ids x ON x.n = g.n",
            params,
        )
        insert_select(
            InvoiceException,
            {
                "invoice_id": "x.invoice_id",
                "type": "g.exception_type",
                "owner": "g.owner",
                "owner_user_id": "CASE WHEN g.owner = 'buyer' THEN po.buyer_id END",
                "status": "CASE WHEN g.still_open THEN 'open' ELSE 'resolved' END",
                "suggested_root_cause": """CASE g.exception_type
                    WHEN 'price_variance' THEN CASE WHEN g.h %% 3 = 0 THEN 'stale_po_price'
                                                    ELSE 'vendor_pricing_error' END
                    WHEN 'qty_over_billed' THEN 'over_billing'
                    WHEN 'missing_receipt' THEN 'missing_receipt'
                    WHEN 'duplicate' THEN 'duplicate_submission'
                    WHEN 'totals_mismatch' THEN 'keying_error' ELSE 'no_po' END""",
                "root_cause": """CASE WHEN g.still_open THEN '' ELSE CASE g.exception_type
                    WHEN 'price_variance' THEN CASE WHEN g.h %% 3 = 0 THEN 'stale_po_price'
                                                    ELSE 'vendor_pricing_error' END
                    WHEN 'qty_over_billed' THEN 'over_billing'
                    WHEN 'missing_receipt' THEN 'missing_receipt'
                    WHEN 'duplicate' THEN 'duplicate_submission'
                    WHEN 'totals_mismatch' THEN 'keying_error' ELSE 'no_po' END END""",
                "resolution": """CASE WHEN g.still_open THEN '' WHEN g.exception_type = 'duplicate'
                    THEN 'mark_duplicate' ELSE 'accept_variance' END""",
                "detail": "'Generated for the KPI benchmark'",
                "amount_at_stake": "round(g.total * 0.05, 2)",
                "opened_at": "g.matched_at",
                "resolved_at": "CASE WHEN g.still_open THEN NULL ELSE g.resolve_at END",
            },
            "gen g JOIN gen_ids x ON x.n = g.n "
            "LEFT JOIN procurement_purchaseorder po ON po.id = x.purchase_order_id",
            params,
            "WHERE g.exception_type IS NOT NULL",
        )
        insert_select(
            PaymentRun,
            {
                "number": "'KPI-RUN-' || to_char(r.pay_day, 'YYYYMMDD') || '-' || r.currency",
                "pay_date": "r.pay_day",
                "horizon_date": "r.pay_day",
                "currency": "r.currency",
                "status": "'paid'",
                "prepared_by_id": "%(clerk)s",
                "paid_at": "(r.pay_day + time '12:00')::timestamp AT TIME ZONE %(tz)s",
                "gross_amount": "NULL",
                "discount_amount": "NULL",
                "net_amount": "NULL",
            },
            "(SELECT DISTINCT pay_day, currency FROM gen WHERE status = 'paid') r",
            params,
            "ON CONFLICT (number) DO NOTHING",
        )
        insert_select(
            Payment,
            {
                "run_id": "run.id",
                "invoice_id": "x.invoice_id",
                "vendor_id": "g.vendor_id",
                "currency": "g.currency",
                "gross_amount": "g.total",
                "discount_taken": "CASE WHEN g.pay_day <= g.invoice_date + 10 THEN g.discount_amount ELSE 0 END",
                "discount_available": "g.discount_amount",
                "net_amount": "g.total - CASE WHEN g.pay_day <= g.invoice_date + 10 THEN g.discount_amount ELSE 0 END",
                "status": "'paid'",
                "paid_on": "g.pay_day",
            },
            "gen g JOIN gen_ids x ON x.n = g.n JOIN payables_paymentrun run ON run.number = "
            "'KPI-RUN-' || to_char(g.pay_day, 'YYYYMMDD') || '-' || g.currency",
            params,
            "WHERE g.status = 'paid'",
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"kpi_generate: {n - have} invoices in {time.perf_counter() - started:.1f} s (now {n})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730)
    arguments = parser.parse_args()
    generate(arguments.n, arguments.days)
