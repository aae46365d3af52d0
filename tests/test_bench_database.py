"""Benchmarks never touch a database they did not create (bench/database.py)."""

import pytest
from django.db import connection

from bench import database
from tests.flow import invoice, issued_po, receive


def test_bench_uses_its_own_database_whatever_database_url_says(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://p2p_app:s3cret@db.internal:5433/p2p")
    monkeypatch.delenv("DATABASE_OWNER_URL", raising=False)
    url = database.bench_url("p2p_bench")
    assert url.startswith("postgres://p2p_owner:p2p_owner@db.internal:5433/p2p_bench?")
    assert "options=-c%20p2p.allow_audit_truncate%3Don" in url


@pytest.mark.django_db
def test_bench_refuses_a_database_it_did_not_create():
    with pytest.raises(SystemExit, match="was not created by a benchmark"):
        database.refuse_foreign(connection.connection)


@pytest.mark.django_db
def test_bench_refuses_its_database_once_it_holds_other_data(people, setup_org):
    name = connection.ops.quote_name(connection.settings_dict["NAME"])
    with connection.cursor() as cursor:
        # Rolled back with the test, like the invoice below.
        cursor.execute(f"COMMENT ON DATABASE {name} IS %s", [database.MARK])
    database.refuse_foreign(connection.connection)

    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    invoice(po, people, "INV-2026-0940", {1: ("40", "23.50")})  # 940.00 EUR
    with pytest.raises(
        SystemExit, match=r"holds invoices the benchmark did not generate \(INV-2026-0940"
    ):
        database.refuse_foreign(connection.connection)
