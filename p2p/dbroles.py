"""The two database roles the platform runs as, and the privileges between them.

The owner role owns the schema and runs migrations; the app role (web, worker, beat) may read
and write the application's tables but owns nothing, so it cannot drop, alter or disable a
trigger, and on the audit trail it may only SELECT and INSERT. Keeping the application off the
superuser is what makes the audit trail's guards hold: a superuser or an owner can switch off
any trigger.

Plain psycopg and the standard library only (no Django): scripts/db_roles.py uses it before
Django is set up, settings.py for the defaults and the test suite to grant on its database.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from psycopg import sql

# Development defaults: with a trust-auth local Postgres nothing needs setting. The passwords
# are what scripts/db_roles.py gives the roles, so password authentication works as well.
DEFAULT_DATABASE_URL = "postgres://p2p_app:p2p_app@127.0.0.1:5432/p2p"
DEFAULT_OWNER_USER = "p2p_owner"
DEFAULT_OWNER_PASSWORD = "p2p_owner"  # noqa: S105 - development default, overridable
# A role allowed to create roles and databases (only scripts/db_roles.py and the benchmarks).
DEFAULT_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"

AUDIT_TABLE = "p2p_auditevent"
# Setting that lets an owner TRUNCATE the audit trail in a database that is thrown away
# (the test database between tests, a benchmark's own database); see migration p2p 0007.
AUDIT_TRUNCATE_SETTING = "p2p.allow_audit_truncate"


def role_urls(environ) -> dict[str, str]:
    """The URL of each role from the environment, with the development defaults.

    app: DATABASE_URL; owner: DATABASE_OWNER_URL, else DATABASE_URL's server and database as
    p2p_owner; admin: DATABASE_ADMIN_URL.
    """
    app = environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    return {
        "app": app,
        "owner": environ.get("DATABASE_OWNER_URL") or owner_url_for(app),
        "admin": environ.get("DATABASE_ADMIN_URL") or DEFAULT_ADMIN_URL,
    }


def owner_url_for(app_url: str) -> str:
    """The owner's URL when DATABASE_OWNER_URL is not set: the app's server and database."""
    parts = urlsplit(app_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(
        parts._replace(netloc=f"{DEFAULT_OWNER_USER}:{DEFAULT_OWNER_PASSWORD}@{host}")
    )


def connect_kwargs(url: str) -> tuple[str, dict[str, str]]:
    """(database name, keyword arguments for psycopg.connect without dbname) of a URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql", "pgsql"):
        raise ValueError(f"a database URL must be postgres://..., not {parts.scheme}://")
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
    return unquote(parts.path.lstrip("/")), params


def url_from_settings(db: dict) -> str:
    """A postgres:// URL carrying everything of a Django DATABASES entry, password included.

    A child process (a Celery worker) reads DATABASE_URL; rebuilding it from host, port and
    name alone drops the password and libpq options, which only works on trust auth.
    """
    credentials = quote(db.get("USER") or "", safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db.get("HOST") or ""
    options = {k: str(v) for k, v in (db.get("OPTIONS") or {}).items()}
    if host.startswith("/"):
        # A socket directory goes in the query, where libpq and dj-database-url read it.
        options["host"] = host
        host = ""
    netloc = f"{credentials}@{host}" if credentials else host
    if db.get("PORT"):
        netloc += f":{db['PORT']}"
    return urlunsplit(
        (
            "postgres",
            netloc,
            "/" + quote(db["NAME"], safe=""),
            urlencode(options, quote_via=quote),
            "",
        )
    )


def grant_app_privileges(conn, app_role: str) -> None:
    """Run as the owner, in the app's database: what the app role may do there (idempotent).

    Default privileges cover the tables later migrations create; the audit table is narrowed
    again at the end, since GRANT ... ON ALL TABLES gives it UPDATE and DELETE as well.
    """
    app = sql.Identifier(app_role)
    statements = [
        sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
            sql.Identifier(conn.info.dbname), app
        ),
        sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(app),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(
            app
        ),
        sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(app),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {}"
        ).format(app),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {}"
        ).format(app),
    ]
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
        if conn.execute("SELECT to_regclass(%s)", [AUDIT_TABLE]).fetchone()[0]:
            conn.execute(
                sql.SQL(
                    "REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {} FROM {}"
                ).format(sql.Identifier(AUDIT_TABLE), app)
            )
