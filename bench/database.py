"""Benchmarks run in a database of their own, never in the one DATABASE_URL names.

A benchmark truncates, vacuums and refills tables. It takes the server and roles from the
environment but always its own database name, creates that database itself (owned by the
owner role, marked with a comment), and refuses one it did not create or that holds anything
but generated data. Call use_bench_database() before django.setup().
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from p2p import dbroles

ROOT = Path(__file__).resolve().parent.parent
MARK = "p2p benchmark database: generated data only, emptied and refilled by bench/"
# Invoice numbers the generators write (bench/generate.py, bench/kpi_generate.py,
# bench/csv_import.py).
BENCH_NUMBERS = ("BINV-%", "KPI-%", "CSVB%")


def bench_url(name: str) -> str:
    """The owner's URL with the benchmark's database name, whatever DATABASE_URL names.

    The owner, since a benchmark resets tables; its sessions may empty the audit trail, which
    in this database is generated too.
    """
    parts = urlsplit(dbroles.role_urls(os.environ)["owner"])
    query = dict(parse_qsl(parts.query))
    query["options"] = (
        query.get("options", "") + f" -c {dbroles.AUDIT_TRUNCATE_SETTING}=on"
    ).strip()
    return urlunsplit(parts._replace(path=f"/{name}", query=urlencode(query, quote_via=quote)))


def admin_connection() -> psycopg.Connection:
    maintenance, params = dbroles.connect_kwargs(dbroles.role_urls(os.environ)["admin"])
    return psycopg.connect(dbname=maintenance or "postgres", autocommit=True, **params)


def refuse_foreign(conn: psycopg.Connection) -> None:
    """SystemExit unless conn's database carries the benchmark's mark and only its data."""
    name = conn.info.dbname
    comment = conn.execute(
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = %s",
        [name],
    ).fetchone()[0]
    if comment != MARK:
        raise SystemExit(
            f"bench: database {name!r} exists but was not created by a benchmark; it is left "
            f"alone. Drop it if it is an old benchmark database (dropdb {name}) and run again."
        )
    if conn.execute("SELECT to_regclass('payables_invoice')").fetchone()[0] is None:
        return
    foreign = conn.execute(
        "SELECT number FROM payables_invoice WHERE NOT (number LIKE ANY (%s)) ORDER BY id LIMIT 3",
        [list(BENCH_NUMBERS)],
    ).fetchall()
    if foreign:
        numbers = ", ".join(row[0] for row in foreign)
        raise SystemExit(
            f"bench: database {name!r} holds invoices the benchmark did not generate "
            f"({numbers}, ...); refusing to touch it."
        )


def use_bench_database(name: str) -> str:
    """Create (or check) and migrate the benchmark's database, and point this process and its
    children (the Celery worker) at it. Returns its URL."""
    url = bench_url(name)
    _, owner = dbroles.connect_kwargs(url)
    with admin_connection() as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            admin.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(name), sql.Identifier(owner["user"])
                )
            )
            admin.execute(
                sql.SQL("COMMENT ON DATABASE {} IS {}").format(
                    sql.Identifier(name), sql.Literal(MARK)
                )
            )
            print(f"bench: created database {name}")
    with psycopg.connect(url, autocommit=True) as conn:
        refuse_foreign(conn)
    os.environ["DATABASE_URL"] = url
    os.environ["DATABASE_OWNER_URL"] = url
    os.environ["DATABASE_ROLE"] = "owner"
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0", "--skip-checks"], cwd=ROOT, check=True
    )
    return url


def checkpoint() -> None:
    """CHECKPOINT needs a superuser (or pg_checkpoint), which the owner role is not."""
    with admin_connection() as admin:
        admin.execute("CHECKPOINT")
