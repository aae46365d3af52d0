"""Benchmark: import one CSV of N invoice lines the way the upload page's Celery task does.

Writes a CSV of N lines (two lines per invoice, 50 vendors, decimal commas as a Dutch
bookkeeping export writes them), stores it as an upload batch and runs the batch task's body
in this process. Matching is not enqueued: this measures reading, checking and capture.

Always uses its own database, p2p_csvbench on DATABASE_URL's server (created and migrated
if needed, refused if it holds anything else; bench/database.py), whatever DATABASE_URL names. Ends with:
csv N=<n>: <seconds> s, <lines/s> lines/s, peak RSS <MB> MB (<MB> MB before the import)
"""

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATABASE = "p2p_csvbench"
VENDORS = 50


def write_csv(path: Path, lines: int, run: str) -> None:
    """Two lines per invoice, quoted decimal commas in a comma-separated file."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(
            "vendor_tax_id,invoice_number,invoice_date,currency,po_number,line_description,"
            "quantity,unit_price,tax_amount\n"
        )
        for n in range(lines):
            invoice = n // 2
            vendor = invoice % VENDORS
            out.write(
                f'NL{vendor:09d}B99,{run}-{invoice:07d},2026-11-02,EUR,,"Kopieerpapier A4, 80 g",'
                f'"{1 + n % 7},5","390,00","{invoice % 97},21"\n'
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=100_000, help="CSV lines")
    args = parser.parse_args()
    from bench.database import use_bench_database

    use_bench_database(DATABASE)
    os.environ["DJANGO_SETTINGS_MODULE"] = "p2p.settings"
    # As a worker runs: with DEBUG Django keeps the SQL of its last 9,000 statements, and a
    # chunk's bulk insert is several hundred KB of it, which would be measured as the import's.
    os.environ["DEBUG"] = "0"
    media = tempfile.TemporaryDirectory()
    os.environ["MEDIA_ROOT"] = media.name

    import django

    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.files import File

    from payables.services import capture, importing
    from vendors.models import PaymentTerms, Vendor

    terms, _ = PaymentTerms.objects.get_or_create(
        code="NET30", defaults={"name": "Net 30", "net_days": 30}
    )
    for vendor in range(VENDORS):
        Vendor.objects.get_or_create(
            tax_id=f"NL{vendor:09d}B99",
            defaults={"name": f"Bench vendor {vendor}", "payment_terms": terms, "status": "active"},
        )
    clerk, _ = User.objects.get_or_create(username="csvbench")
    clerk.groups.add(Group.objects.get_or_create(name="ap_clerk")[0])
    importing._enqueue_match = lambda invoice_ids: None  # the import alone is measured
    capture._enqueue_batch = lambda batch_id: None  # run below, in this process

    run = f"CSVB{int(time.time())}"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.csv"
        write_csv(path, args.n, run)
        with path.open("rb") as handle:
            batch = capture.import_batch_create(files=[File(handle, name="bench.csv")], by=clerk)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    batch = capture.import_batch_run(batch_id=batch.pk)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if batch.status != "done" or batch.rejected_count:
        sys.exit(f"import failed: {batch.status} {batch.error} {batch.report[:1]}")
    print(
        f"csv N={args.n}: {seconds:.1f} s, {args.n / seconds:,.0f} lines/s, "
        f"peak RSS {peak:.0f} MB ({before:.0f} MB before the import), "
        f"{batch.imported_count} invoices"
    )


if __name__ == "__main__":
    main()
