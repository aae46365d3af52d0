#!/usr/bin/env python3
"""Create the database roles, the database and the app role's privileges (idempotent).

  DATABASE_ADMIN_URL   a role that may create roles and databases (default: the local
                       `postgres` superuser); used only here and by the benchmarks
  DATABASE_OWNER_URL   the owner role: owns the database and schema, runs migrations
                       (default: DATABASE_URL's server and database as p2p_owner)
  DATABASE_URL         the app role the web server and workers connect as (default p2p_app)

Creates both roles (or brings their password and attributes in line with the URLs), the
database owned by the owner, hands the owner any table an earlier superuser setup left behind,
then, connected as the owner, grants the app role what it needs (p2p.dbroles). Run it before
and after migrate: tables a migration creates get the owner's default privileges.
Runs with the virtualenv's Python, which has psycopg.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from p2p import dbroles  # noqa: E402


def one_line(exc: BaseException | None) -> str:
    return " ".join(str(exc).split())


def admin_connection(url: str) -> psycopg.Connection:
    maintenance, params = dbroles.connect_kwargs(url)
    last_error: Exception | None = None
    for dbname in dict.fromkeys((maintenance or "postgres", "template1")):
        try:
            return psycopg.connect(
                make_conninfo(dbname=dbname, **params), autocommit=True, connect_timeout=5
            )
        except psycopg.OperationalError as exc:
            last_error = exc
    where = f"{params.get('host', 'local socket')}:{params.get('port', '5432')}"
    raise SystemExit(
        f"Could not connect to Postgres on {where} as {params.get('user', 'the OS user')} "
        f"(DATABASE_ADMIN_URL): {one_line(last_error)}\n"
        "If Postgres asks for a password, set DATABASE_ADMIN_URL with it, e.g. "
        "postgres://postgres:PASSWORD@127.0.0.1:5432/postgres (see README, Configuration)."
    )


def ensure_role(conn, user: str, password: str | None, *, createdb: bool) -> None:
    attributes = sql.SQL(
        "LOGIN NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS "
        + ("CREATEDB" if createdb else "NOCREATEDB")
    )
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [user]).fetchone()
    verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
    statement = sql.SQL("{} {} WITH {}").format(verb, sql.Identifier(user), attributes)
    if password:
        statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
    conn.execute(statement)
    print(f"Role {user!r} {'updated' if exists else 'created'}.")


def ensure_database(conn, name: str, owner: str) -> None:
    row = conn.execute(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s", [name]
    ).fetchone()
    if row is None:
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
        print(f"Created database {name!r} owned by {owner!r}.")
    elif row[0] != owner:
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(name), sql.Identifier(owner)
            )
        )
        print(f"Database {name!r} now owned by {owner!r} (was {row[0]!r}).")


# Tables, sequences, views and functions in public that another role (an earlier setup that
# ran as the superuser) owns; migrations as the owner could not alter them. Members of an
# extension keep their owner (a trusted extension's objects belong to the superuser).
FOREIGN_OBJECTS = """
SELECT 'TABLE', c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
   AND pg_get_userbyid(c.relowner) <> %(owner)s
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 'SEQUENCE', c.oid::regclass::text FROM pg_class c
 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
   AND pg_get_userbyid(c.relowner) <> %(owner)s
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p
 WHERE p.pronamespace = 'public'::regnamespace AND pg_get_userbyid(p.proowner) <> %(owner)s
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
"""


def adopt_objects(admin_url: str, name: str, owner: str) -> None:
    _, params = dbroles.connect_kwargs(admin_url)
    with psycopg.connect(
        make_conninfo(dbname=name, **params), autocommit=True, connect_timeout=5
    ) as conn:
        row = conn.execute(
            "SELECT pg_get_userbyid(nspowner) FROM pg_namespace WHERE nspname = 'public'"
        ).fetchone()
        schema_owner = row[0] if row else None
        # pg_database_owner (Postgres 15+) is whoever owns the database: the owner already.
        if schema_owner not in (owner, "pg_database_owner"):
            conn.execute(sql.SQL("ALTER SCHEMA public OWNER TO {}").format(sql.Identifier(owner)))
        found = conn.execute(FOREIGN_OBJECTS, {"owner": owner}).fetchall()
        for kind, identity in found:
            # identity is already a quoted, schema-qualified name from regclass/regprocedure.
            conn.execute(
                sql.SQL("ALTER {} {} OWNER TO {}").format(
                    sql.SQL(kind), sql.SQL(identity), sql.Identifier(owner)
                )
            )
        if found:
            print(f"Handed {len(found)} existing objects in {name!r} to {owner!r}.")


def adopt_test_databases(conn, owner: str) -> None:
    """Hand test databases an earlier superuser setup left behind to the owner role.

    The tests build their databases as the owner role, which can drop only what it owns:
    without this, the first `make test` after an upgrade fails with "must be owner".
    """
    base = os.environ.get("TEST_DATABASE_NAME", "test_p2p")
    stale = conn.execute(
        "SELECT datname FROM pg_database"
        " WHERE (datname = %(base)s OR datname ~ ('^' || %(base)s || '_gw[0-9]+$'))"
        "   AND pg_get_userbyid(datdba) <> %(owner)s",
        {"base": base, "owner": owner},
    ).fetchall()
    for (database,) in stale:
        conn.execute(
            sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                sql.Identifier(database), sql.Identifier(owner)
            )
        )
        print(f"Test database {database!r} now owned by {owner!r}.")


def main() -> int:
    urls = dbroles.role_urls(os.environ)
    app_url, owner_url, admin_url = urls["app"], urls["owner"], urls["admin"]
    name, app = dbroles.connect_kwargs(app_url)
    owner_name, owner = dbroles.connect_kwargs(owner_url)
    if not name:
        raise SystemExit("DATABASE_URL names no database (postgres://user:password@host:port/NAME)")
    if owner_name != name:
        raise SystemExit(
            f"DATABASE_OWNER_URL names database {owner_name!r}, DATABASE_URL {name!r}: "
            "they must be the same database"
        )
    if not app.get("user") or not owner.get("user") or app["user"] == owner["user"]:
        raise SystemExit(
            "DATABASE_URL and DATABASE_OWNER_URL must name two different roles "
            "(default p2p_app and p2p_owner)"
        )
    with admin_connection(admin_url) as conn:
        superuser = conn.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = %s", [app["user"]]
        ).fetchone()
        if superuser and superuser[0]:
            raise SystemExit(
                f"DATABASE_URL connects as {app['user']!r}, a superuser: the application must"
                " connect as its own role, which can neither alter tables nor switch off the"
                " audit trail's guards. Use the default (remove DATABASE_URL from .env) or"
                " see .env.example."
            )
        ensure_role(conn, owner["user"], owner.get("password"), createdb=True)
        ensure_role(conn, app["user"], app.get("password"), createdb=False)
        # Whoever migrates sees what the app's sessions run and wait on (pg_stat_activity).
        conn.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(owner["user"])))
        ensure_database(conn, name, owner["user"])
        adopt_test_databases(conn, owner["user"])
    adopt_objects(admin_url, name, owner["user"])
    try:
        with psycopg.connect(
            make_conninfo(dbname=name, **owner), autocommit=True, connect_timeout=5
        ) as conn:
            dbroles.grant_app_privileges(conn, app["user"])
    except psycopg.OperationalError as exc:
        raise SystemExit(
            f"Could not connect as the owner role {owner['user']!r}: {one_line(exc)}"
        ) from exc
    print(f"Role {app['user']!r} may use {name!r}; the audit trail is read and append only.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
