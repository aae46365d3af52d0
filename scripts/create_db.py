#!/usr/bin/env python3
"""Create the database named in DATABASE_URL if it does not exist yet (idempotent).

Connects to the `postgres` maintenance database (or `template1` where that is missing) with
the host, port, user and password of DATABASE_URL and runs CREATE DATABASE when needed.
Runs with the virtualenv's Python, which has psycopg.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import parse_qsl, unquote, urlsplit

import psycopg
from psycopg import sql

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/p2p"


def connection_params(url: str) -> tuple[str, dict[str, str]]:
    """(database name, keyword arguments for psycopg.connect without dbname)."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
        raise SystemExit(f"DATABASE_URL must be a postgres:// URL, not {parts.scheme}://")
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise SystemExit("DATABASE_URL names no database (postgres://user@host:port/NAME)")
    params: dict[str, str] = {}
    if parts.hostname:
        params["host"] = unquote(parts.hostname)
    if parts.port:
        params["port"] = str(parts.port)
    if parts.username:
        params["user"] = unquote(parts.username)
    if parts.password:
        params["password"] = unquote(parts.password)
    # libpq options in the query string (sslmode, host=/socket/dir, ...) are passed on.
    params.update(dict(parse_qsl(parts.query)))
    return name, params


def one_line(exc: BaseException | None) -> str:
    return " ".join(str(exc).split())


def main() -> int:
    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name, params = connection_params(url)
    where = f"{params.get('host', 'local socket')}:{params.get('port', '5432')}"
    last_error: Exception | None = None
    for maintenance_db in ("postgres", "template1"):
        try:
            conn = psycopg.connect(
                dbname=maintenance_db, autocommit=True, connect_timeout=5, **params
            )
        except psycopg.OperationalError as exc:
            last_error = exc
            continue
        with conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if exists:
                print(f"Database {name!r} already exists on {where}.")
                return 0
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except psycopg.errors.DuplicateDatabase:
                print(f"Database {name!r} already exists on {where}.")
                return 0
            except psycopg.Error as exc:
                print(
                    f"Could not create database {name!r} on {where}: {one_line(exc)}",
                    file=sys.stderr,
                )
                return 1
            print(f"Created database {name!r} on {where}.")
            return 0
    print(f"Could not connect to Postgres on {where}: {one_line(last_error)}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
