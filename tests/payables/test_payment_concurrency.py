"""Never twice: eight clerks proposing runs at the same moment over the same invoices.

Each thread has its own database connection (Django connections are per thread), so the
proposals really run side by side in Postgres. The same load is then run against a copy of
the proposal without row locks, writing to a table without the unique index: there the
duplicates appear, which shows the first test would catch their return.
"""

import datetime as dt
import threading
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, transaction

from p2p.exceptions import DomainError
from payables.models.invoices import Invoice
from payables.models.payments import Payment, PaymentRun
from payables.services import payments
from tests import factories
from tests.payables.payment_data import approved

THREADS = 8
INVOICES = 40
PAY_DATE = dt.date(2026, 11, 5)
HORIZON = dt.date(2026, 11, 19)

transactional = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def book() -> list[int]:
    """Forty approved invoices of five vendors, all due by the horizon."""
    vendors = [factories.make_vendor(f"Vendor {n} B.V.") for n in range(5)]
    return [
        approved(vendors[n % 5], f"INV-{n:03d}", invoice_date=dt.date(2026, 10, 15)).pk
        for n in range(INVOICES)
    ]


def load(propose: Callable[[threading.Barrier], object]) -> dict:
    """Start THREADS proposals together; count what each did and what failed how."""
    barrier = threading.Barrier(THREADS, timeout=30)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            propose(barrier)
            outcome = "run"
        except DomainError:
            outcome = "nothing left"
        except IntegrityError:
            outcome = "refused by the unique index"
        finally:
            connection.close()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return {outcome: outcomes.count(outcome) for outcome in set(outcomes)}


def duplicates(table: str) -> tuple[int, int]:
    """(invoices with more than one live payment, live payments) in `table`."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM (SELECT invoice_id FROM {table} WHERE status <> 'void' "  # noqa: S608
            "GROUP BY invoice_id HAVING COUNT(*) > 1) AS twice"
        )
        (twice,) = cursor.fetchone()
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE status <> 'void'")  # noqa: S608
        (live,) = cursor.fetchone()
    return twice, live


@transactional
def test_eight_concurrent_proposals_pay_each_invoice_once(people):
    invoice_ids = book()
    clerk = people["ap_clerk"]

    def propose(barrier: threading.Barrier) -> PaymentRun:
        barrier.wait()
        return payments.payment_run_propose(by=clerk, pay_date=PAY_DATE, horizon_date=HORIZON)

    outcomes = load(propose)

    twice, live = duplicates("payables_payment")
    runs = PaymentRun.objects.count()
    print(f"\nprotected: {outcomes}, runs={runs}, live payments={live}, duplicates={twice}")
    assert sum(outcomes.values()) == THREADS
    assert twice == 0
    assert live == INVOICES
    assert runs == outcomes.get("run", 0) >= 1
    per_invoice = Payment.objects.filter(invoice_id__in=invoice_ids).values_list(
        "invoice_id", flat=True
    )
    assert sorted(per_invoice) == sorted(invoice_ids)  # every invoice in exactly one run
    assert set(Invoice.objects.values_list("status", flat=True)) == {Invoice.Status.SCHEDULED}


# The proposal without its protection: read what is approved, then write, with no row lock in
# between. The barrier holds every thread between its read and its write, the widest form of
# the race two clerks clicking at once can hit.
_UNLOCKED_READ = """
    SELECT i.id, i.vendor_id, i.currency, i.payable_amount FROM payables_invoice i
    WHERE i.status = 'approved' AND i.due_date <= %s ORDER BY i.id
"""
_UNLOCKED_WRITE = """
    INSERT INTO {table} (run_id, invoice_id, vendor_id, currency, gross_amount, discount_taken,
                         discount_available, net_amount, status, basis, note, end_to_end_id,
                         void_reason)
    SELECT %s, id, vendor_id, currency, amount, 0, 0, amount, 'scheduled', 'due', '', '', ''
    FROM unnest(%s::bigint[], %s::bigint[], %s::text[], %s::numeric[])
         AS chosen(id, vendor_id, currency, amount)
"""


def unlocked_proposal(table: str, run_id: int) -> Callable[[threading.Barrier], None]:
    def propose(barrier: threading.Barrier) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_UNLOCKED_READ, [HORIZON])
            rows = cursor.fetchall()
            barrier.wait()
            cursor.execute(
                _UNLOCKED_WRITE.format(table=table),
                [run_id, *map(list, zip(*rows, strict=True))],
            )

    return propose


@transactional
def test_the_same_load_without_locks_or_constraint_pays_invoices_twice(people):
    book()
    run = PaymentRun.objects.create(
        number="RUN-UNSAFE", pay_date=PAY_DATE, horizon_date=HORIZON, prepared_by=people["ap_clerk"]
    )
    with connection.cursor() as cursor:
        # A copy of the payments table without its unique index on live payments.
        cursor.execute(
            "CREATE TABLE unprotected_payment (LIKE payables_payment INCLUDING DEFAULTS INCLUDING IDENTITY)"
        )
    try:
        outcomes = load(unlocked_proposal("unprotected_payment", run.pk))
        twice, live = duplicates("unprotected_payment")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE unprotected_payment")

    print(f"\nunprotected: {outcomes}, live payments={live}, duplicates={twice}")
    assert outcomes == {"run": THREADS}
    assert twice == INVOICES  # every invoice paid by all eight
    assert live == THREADS * INVOICES


@transactional
def test_without_row_locks_the_unique_index_alone_still_refuses_the_second_payment(people):
    book()
    run = PaymentRun.objects.create(
        number="RUN-NOLOCK", pay_date=PAY_DATE, horizon_date=HORIZON, prepared_by=people["ap_clerk"]
    )

    outcomes = load(unlocked_proposal("payables_payment", run.pk))

    twice, live = duplicates("payables_payment")
    print(f"\nconstraint only: {outcomes}, live payments={live}, duplicates={twice}")
    assert outcomes == {"run": 1, "refused by the unique index": THREADS - 1}
    assert (twice, live) == (0, INVOICES)
