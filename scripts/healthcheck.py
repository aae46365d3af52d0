#!/usr/bin/env python3
"""Exit 0 when the web server answers the login page with 200 (the container healthcheck).

Usage: scripts/healthcheck.py [PORT]   (default 8000)

Standard library only. Asks as the proxy would: for the first ALLOWED_HOSTS name and with
X-Forwarded-Proto https, so production's host check and https redirect answer 200 too.
"""

from __future__ import annotations

import http.client
import os
import sys


def main() -> int:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/login/", headers={"Host": host, "X-Forwarded-Proto": "https"})
        status = connection.getresponse().status
    except OSError as exc:
        print(f"web not answering on port {port}: {exc}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"web answered /login/ with {status}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
