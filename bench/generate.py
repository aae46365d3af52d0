"""Generate N invoices (3 lines each) with POs and receipts for the match benchmark.

Fixed shares of problems: 90% clean, 4% price variance (+10% on line 3), 3% short
receipt on line 1, 3% over-billed line 2. Rows are built with bulk_create in chunks so
the generator follows the models' defaults as they grow.
Usage: python bench/generate.py --n 100000   (into p2p_bench, the matching benchmark's database)
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

    use_bench_database("p2p_bench")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from payables.models.invoices import Invoice, InvoiceLine  # noqa: E402
from payables.models.matching import MatchPolicy  # noqa: E402
from procurement.models import CostCenter, GLAccount, PurchaseOrder, PurchaseOrderLine  # noqa: E402
from vendors.models import PaymentTerms, Vendor  # noqa: E402

VENDORS = 500
CHUNK = 10_000
# Beyond this many invoices the generator copies the first BASE in SQL.
BASE = 100_000
CENT = Decimal("0.01")


def _vendors(terms: PaymentTerms) -> list[Vendor]:
    existing = list(Vendor.objects.filter(tax_id__startswith="NLBENCH").order_by("id"))
    if existing:
        return existing
    Vendor.objects.bulk_create(
        Vendor(
            name=f"Bench Vendor {n}", tax_id=f"NLBENCH{n:04d}", payment_terms=terms, status="active"
        )
        for n in range(1, VENDORS + 1)
    )
    return list(Vendor.objects.filter(tax_id__startswith="NLBENCH").order_by("id"))


def _chunk(start: int, end: int, vendors, terms, buyer, cc, gl, now) -> None:
    today = timezone.localdate()
    orders = [
        PurchaseOrder(
            number=f"BPO-{g}",
            vendor=vendors[g % VENDORS],
            buyer=buyer,
            currency="EUR",
            payment_terms=terms,
            status="received",
            issued_at=now,
        )
        for g in range(start, end + 1)
    ]
    PurchaseOrder.objects.bulk_create(orders, batch_size=5000)
    po_lines = []
    for g, po in zip(range(start, end + 1), orders, strict=True):
        for line_no in (1, 2, 3):
            quantity = Decimal(10 * line_no)
            price = Decimal("12.50") * line_no + (g % 997) * CENT
            short = g % 100 in (4, 5, 6) and line_no == 1
            po_lines.append(
                PurchaseOrderLine(
                    purchase_order=po,
                    line_no=line_no,
                    item_code=f"ITEM-{line_no}",
                    description=f"Bench item {line_no}",
                    quantity=quantity,
                    unit_price=price,
                    amount=(quantity * price).quantize(CENT),
                    gl_account=gl,
                    cost_center=cc,
                    received_qty=Decimal(5) if short else quantity,
                )
            )
    PurchaseOrderLine.objects.bulk_create(po_lines, batch_size=10000)
    invoices, inv_lines = [], []
    for i, (g, po) in enumerate(zip(range(start, end + 1), orders, strict=True)):
        k = g % 100
        lines = []
        for po_line in po_lines[3 * i : 3 * i + 3]:
            quantity = po_line.quantity + (3 if 7 <= k <= 9 and po_line.line_no == 2 else 0)
            price = po_line.unit_price * (Decimal("1.10") if k <= 3 and po_line.line_no == 3 else 1)
            price = price.quantize(Decimal("0.0001"))
            lines.append((po_line, quantity, price, (quantity * price).quantize(CENT)))
        net = sum(amount for *_, amount in lines)
        tax = (net * Decimal("0.21")).quantize(CENT)
        invoice_date = today - dt.timedelta(days=g % 60)
        invoices.append(
            Invoice(
                vendor_id=po.vendor_id,
                number=f"BINV-{g}",
                normalized_number=f"BINV{g}",
                source="api",
                purchase_order=po,
                po_reference=po.number,
                invoice_date=invoice_date,
                due_date=invoice_date + dt.timedelta(days=30),
                currency="EUR",
                net_amount=net,
                tax_amount=tax,
                total_amount=net + tax,
                payable_amount=net + tax,
                captured_at=now,
            )
        )
        inv_lines.append(lines)
    Invoice.objects.bulk_create(invoices, batch_size=5000)
    InvoiceLine.objects.bulk_create(
        (
            InvoiceLine(
                invoice=invoice,
                line_no=po_line.line_no,
                po_line=po_line,
                description=po_line.description,
                quantity=quantity,
                unit_price=price,
                amount=amount,
                tax_rate=Decimal("21"),
            )
            for invoice, lines in zip(invoices, inv_lines, strict=True)
            for po_line, quantity, price, amount in lines
        ),
        batch_size=10000,
    )


def _clone(copy: int) -> None:
    """Copy the first BASE bench orders, lines, invoices and lines as copy number `copy`.

    Ids, numbers and dates move on (document g becomes g + copy × BASE, so its vendor and
    its kind of problem stay the same; dates move back a week per copy so no copy looks like
    a duplicate of another); everything else is copied in SQL, which takes seconds where
    building a million model objects takes the best part of an hour.
    """
    shift = copy * BASE
    base = {
        PurchaseOrder: "number LIKE 'BPO-%%' AND substr(number, 5)::int <= %(base)s",
        PurchaseOrderLine: "purchase_order_id IN (SELECT id FROM procurement_purchaseorder "
        "WHERE number LIKE 'BPO-%%' AND substr(number, 5)::int <= %(base)s)",
        Invoice: "number LIKE 'BINV-%%' AND substr(number, 6)::int <= %(base)s",
        InvoiceLine: "invoice_id IN (SELECT id FROM payables_invoice "
        "WHERE number LIKE 'BINV-%%' AND substr(number, 6)::int <= %(base)s)",
    }
    with connection.cursor() as cursor:
        offset = {}
        for model, where in base.items():
            table = model._meta.db_table
            cursor.execute(
                f"SELECT (SELECT MAX(id) FROM {table}) - MIN(id) + 1 FROM {table} WHERE {where}",  # noqa: S608
                {"base": BASE},
            )
            offset[model] = cursor.fetchone()[0]
        days = 7 * copy
        special = {
            PurchaseOrder: {"number": f"'BPO-' || (substr(number, 5)::int + {shift})"},
            PurchaseOrderLine: {
                "purchase_order_id": f"purchase_order_id + {offset[PurchaseOrder]}"
            },
            Invoice: {
                "number": f"'BINV-' || (substr(number, 6)::int + {shift})",
                "normalized_number": f"'BINV' || (substr(number, 6)::int + {shift})",
                "po_reference": f"'BPO-' || (substr(po_reference, 5)::int + {shift})",
                "purchase_order_id": f"purchase_order_id + {offset[PurchaseOrder]}",
                "invoice_date": f"invoice_date - {days}",
                "due_date": f"due_date - {days}",
            },
            InvoiceLine: {
                "invoice_id": f"invoice_id + {offset[Invoice]}",
                "po_line_id": f"po_line_id + {offset[PurchaseOrderLine]}",
            },
        }
        for model, where in base.items():
            table = model._meta.db_table
            columns = [field.column for field in model._meta.concrete_fields]
            values = [
                f"id + {offset[model]}" if column == "id" else special[model].get(column, column)
                for column in columns
            ]
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
                f"SELECT {', '.join(values)} FROM {table} WHERE {where} ORDER BY id",
                {"base": BASE},
            )
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), MAX(id)) FROM {table}"  # noqa: S608
            )


def generate(n: int) -> None:
    """Create n bench invoices with their POs unless they exist already."""
    have = Invoice.objects.filter(number__startswith="BINV-").count()
    if have >= n:
        print(f"generate: {have} bench invoices already present")
        return
    if n > BASE and n % BASE == 0:
        generate(BASE)
        started = time.perf_counter()
        for copy in range(max(have, BASE) // BASE, n // BASE):
            with transaction.atomic():
                _clone(copy)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        print(f"generate: copied up to {n} invoices in {time.perf_counter() - started:.1f} s")
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
    vendors = _vendors(terms)
    now = timezone.now()
    started = time.perf_counter()
    for start in range(have + 1, n + 1, CHUNK):
        with transaction.atomic():
            _chunk(start, min(start + CHUNK - 1, n), vendors, terms, buyer, cc, gl, now)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"generate: {n - have} invoices ({3 * (n - have)} lines) in {time.perf_counter() - started:.1f} s"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=100_000)
    generate(parser.parse_args().n)
