#!/usr/bin/env python3
"""Tell in one line per service whether Postgres and Redis can be reached.

Standard library only, so it runs before the virtualenv exists. It reads DATABASE_URL and
REDIS_URL with the same defaults as p2p/settings.py, tries a TCP connect (or a Unix socket
for socket URLs) with a 2 second timeout, and exits 1 if either service is down. A port that
accepts the connection must also answer in the service's own protocol (Postgres to an
SSLRequest, Redis to PING), so another program on the port does not pass for the service.
"""

from __future__ import annotations

import os
import socket
import struct
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_DATABASE_URL = "postgres://p2p_app:p2p_app@127.0.0.1:5432/p2p"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
TIMEOUT = 2.0


def _pg_version() -> str:
    """The Debian cluster version installed here (for the hint), else 15."""
    try:
        versions = sorted(p.name for p in Path("/etc/postgresql").iterdir() if p.is_dir())
    except OSError:
        versions = []
    return versions[-1] if versions else "15"


def postgres_target(url: str) -> tuple[str, str, int]:
    """(label, host or socket path, port) from a postgres:// URL."""
    parts = urlsplit(url)
    port = parts.port or 5432
    host = parts.hostname or ""
    # libpq allows ?host=/path/to/socket/dir, and an empty host means the default socket.
    query_host = parse_qs(parts.query).get("host", [""])[0]
    if query_host:
        host = query_host
    if not host:
        host = "/var/run/postgresql"
    if host.startswith("/") or unquote(host).startswith("/"):
        path = os.path.join(unquote(host), f".s.PGSQL.{port}")
        return path, path, port
    return f"{host}:{port}", host, port


def redis_target(url: str) -> tuple[str, str, int]:
    """(label, host or socket path, port) from a redis://, rediss:// or unix:// URL."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path, parts.path, 0
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 6379
    return f"{host}:{port}", host, port


# Postgres answers an SSLRequest with one byte, S or N; Redis answers PING with +PONG, or an
# error when it wants a password, which still proves Redis is there.
POSTGRES_PROBE = (struct.pack("!ii", 8, 80877103), (b"S", b"N"))
REDIS_PROBE = (b"PING\r\n", (b"+PONG", b"-NOAUTH", b"-ERR", b"-WRONGPASS"))


def reachable(host: str, port: int, probe: tuple[bytes, tuple[bytes, ...]]) -> bool:
    request, answers = probe
    try:
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(TIMEOUT)
            sock.connect(host)
        else:
            sock = socket.create_connection((host, port), timeout=TIMEOUT)
        with sock:
            sock.settimeout(TIMEOUT)
            sock.sendall(request)
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith(answers)


def main() -> int:
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    checks = [
        (
            "Postgres",
            postgres_target(database_url),
            POSTGRES_PROBE,
            f"start it (sudo pg_ctlcluster {_pg_version()} main start"
            " / brew services start postgresql) or run: docker compose up -d db redis",
        ),
        (
            "Redis",
            redis_target(redis_url),
            REDIS_PROBE,
            "start it (sudo systemctl start redis-server / brew services start redis)"
            " or run: docker compose up -d db redis",
        ),
    ]
    missing = 0
    ok = []
    for name, (label, host, port), probe, hint in checks:
        if reachable(host, port, probe):
            ok.append(f"{name} at {label}")
        else:
            missing += 1
            print(f"{name} is not reachable at {label} — {hint}", file=sys.stderr)
    if missing:
        return 1
    print("Services reachable: " + ", ".join(ok))
    return 0


if __name__ == "__main__":
    sys.exit(main())
