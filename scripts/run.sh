#!/usr/bin/env bash
# Start a Celery worker and beat in the background, print where to log in, and run the
# development server. Ctrl-C (or any exit) stops the server, the worker and beat together.
#
# `make run` calls this after install, check-services, db, migrate, collectstatic and seed.
# Logs: run/worker.log, run/beat.log. Pid files: run/worker.pid, run/beat.pid,
# run/server.pid. Beat keeps its schedule in run/celerybeat-schedule.
# PORT and HOST choose where the server listens (make run PORT=8001); RUN_DIR moves run/.
set -euo pipefail

cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
RUN_DIR="${RUN_DIR:-run}"
CELERY="$VENV/bin/celery"
PYTHON="$VENV/bin/python"
NAMES=(server worker beat)

mkdir -p "$RUN_DIR"

alive() { [[ "$1" =~ ^[0-9]+$ ]] && kill -0 "$1" 2>/dev/null; }

# Stop what our pid files name: TERM (Celery's warm shutdown), then QUIT, then KILL.
stop_all() {
    local name pid pids=() i
    for name in "${NAMES[@]}"; do
        [[ -f "$RUN_DIR/$name.pid" ]] || continue
        pid="$(cat "$RUN_DIR/$name.pid" 2>/dev/null || true)"
        rm -f "$RUN_DIR/$name.pid"
        if alive "$pid"; then
            echo "Stopping $name (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid")
        fi
    done
    ((${#pids[@]})) || return 0
    for i in $(seq 1 40); do
        for pid in "${pids[@]}"; do
            alive "$pid" && break
            pid=""
        done
        [[ -z "$pid" ]] && return 0
        ((i == 30)) && for pid in "${pids[@]}"; do kill -QUIT "$pid" 2>/dev/null || true; done
        sleep 0.5
    done
    for pid in "${pids[@]}"; do
        if alive "$pid"; then
            echo "pid $pid did not stop in 20s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
}

cleanup() {
    trap - EXIT INT TERM HUP
    stop_all
}

# Leftovers of an earlier run that was killed before it could clean up.
stop_all

# A refused bind would only show after the banner and with the worker already started.
if ! "$PYTHON" - "$HOST" "$PORT" <<'PY'
import errno, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if ":" in host else socket.AF_INET
with socket.socket(family, socket.SOCK_STREAM) as probe:
    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        probe.bind((host, port))
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            sys.exit(f"Port {port} on {host} is already in use. Stop what listens there "
                     f"or pick another port: make run PORT={port + 1}")
        sys.exit(f"Cannot listen on {host}:{port}: {error.strerror}. Set HOST and PORT, "
                 f"e.g. make run HOST=127.0.0.1 PORT=8000")
PY
then
    exit 1
fi

trap cleanup EXIT
# Ctrl-C is how the server is meant to stop: a clean exit, so make reports no error.
trap 'exit 0' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

"$CELERY" -A p2p worker -l info -c 2 >>"$RUN_DIR/worker.log" 2>&1 &
echo $! >"$RUN_DIR/worker.pid"
"$CELERY" -A p2p beat -l info -s "$RUN_DIR/celerybeat-schedule" >>"$RUN_DIR/beat.log" 2>&1 &
echo $! >"$RUN_DIR/beat.pid"

cat <<BANNER

  Procure-to-pay is starting at  http://$HOST:$PORT/
  Celery worker and beat run in the background (logs: $RUN_DIR/worker.log, $RUN_DIR/beat.log).

  Demo logins (the password for every user is demo-p2p-2026)

    user     role             what they do
    -------  ---------------  ----------------------------------------------------------
    rita     requester        raises purchase requests, confirms what arrived
    alex     approver         approves, rejects or returns requests routed to them
    bob      buyer            onboards vendors, turns approved requests into POs, receives
    carla    ap_clerk         captures invoices, works match exceptions, proposes pay runs
    martin   ap_manager       accepts large variances, verifies bank changes, approves runs
    fiona    finance_leader   approves large payment runs, follows the KPI dashboard
    admin    admin            everything, plus the Django admin at /admin/

  Stop with Ctrl-C (this also stops the worker and beat).

BANNER

# In the background so that a signal to this script is handled at once; `wait` returns
# when the server exits or a signal arrives, and the EXIT trap stops everything.
"$PYTHON" manage.py runserver "$HOST:$PORT" &
echo $! >"$RUN_DIR/server.pid"
wait "$!"
