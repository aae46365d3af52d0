"""A small batch against large tables stays on indexes: the planner must not scan every line."""

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bench.generate import generate
from payables.models.invoices import Invoice
from payables.services import matching

pytestmark = pytest.mark.django_db

LARGE = ("payables_invoice ", "payables_invoiceline ", "procurement_purchaseorderline ",
         "procurement_purchaseorder ")  # fmt: skip


def _plans_of_every_statement(ids: list[int]) -> dict[str, str]:
    """EXPLAIN each statement of the engine in turn, running it so the next one sees its tables."""
    plans = {}
    params = {
        "now": timezone.now(),
        "dup_days": matching.DUPLICATE_WINDOW_DAYS,
        "ids": ids,
        "statuses": list(matching.MATCHABLE),
    }
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in (matching._TABLES, matching._BATCH, *matching._statements(rematches=True)):
            for statement in (s.strip() for s in sql.split(";\n") if s.strip()):
                query = "\n".join(
                    line for line in statement.splitlines() if not line.lstrip().startswith("--")
                )
                if query.split(None, 1)[0].upper() in (
                    "WITH",
                    "SELECT",
                    "INSERT",
                    "UPDATE",
                    "DELETE",
                ):
                    cursor.execute("EXPLAIN " + query, params)
                    plans[statement[:80]] = "\n".join(row[0] for row in cursor.fetchall())
                cursor.execute(statement, params)
        transaction.set_rollback(True)
    return plans


def test_a_small_batch_uses_indexes_on_large_tables():
    generate(4000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    ids = list(
        Invoice.objects.filter(number__startswith="BINV-")
        .order_by("id")
        .values_list("id", flat=True)[:20]
    )
    plans = _plans_of_every_statement(ids)
    assert len(plans) >= 10
    for statement, plan in plans.items():
        for table in LARGE:
            assert f"Seq Scan on {table}" not in plan, f"{statement}\n{plan}"


# What a match writes on the invoice row (see matching._INVOICES).
MATCH_WRITES = {"status", "match_attempts", "first_matched_at", "first_pass", "approved_at",
                "touchless"}  # fmt: skip


def test_matching_updates_invoices_in_place():
    """No index reads a column the match writes, and pages keep room for the new versions.

    Otherwise every matched invoice gets a new entry in every index on the table, which once
    cost more than the rest of the invoice update (measured in bench/match.py).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, a.attname
            FROM pg_index i
            JOIN pg_attribute a ON a.attrelid = i.indrelid
            WHERE i.indrelid = 'payables_invoice'::regclass
              AND (a.attnum = ANY(i.indkey)
                   OR pg_get_expr(i.indpred, i.indrelid) ~ ('\\m' || a.attname || '\\M')
                   OR pg_get_expr(i.indexprs, i.indrelid) ~ ('\\m' || a.attname || '\\M'))
            """
        )
        indexed = {(index, column) for index, column in cursor.fetchall()}
        cursor.execute("SELECT reloptions FROM pg_class WHERE oid = 'payables_invoice'::regclass")
        options = cursor.fetchone()[0]
    assert {(index, column) for index, column in indexed if column in MATCH_WRITES} == set()
    assert ("invoice_unpaid_due_idx", "paid_at") in indexed
    assert "fillfactor=50" in options
