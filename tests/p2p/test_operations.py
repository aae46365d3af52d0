"""Running the platform on a developer's machine: `make run`'s script, logging, the test suite."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
from django.db import connection

from tests.worker import TEST_REDIS_URL, Worker, forget_queues, new_queue_name, redis_keys_of

ROOT = Path(__file__).resolve().parents[2]
RUN_SH = ROOT / "scripts" / "run.sh"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _test_database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    return f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def _run_env(tmp_path: Path, port: int, **extra: str) -> dict[str, str]:
    """run.sh with its pid files and logs in tmp_path, never the developer's run/."""
    return {
        **os.environ,
        "VENV": str(Path(sys.executable).parent.parent),
        "RUN_DIR": str(tmp_path / "run"),
        "PORT": str(port),
        **extra,
    }


def test_a_django_log_line_is_printed_once_in_development():
    script = (
        "import django, logging; django.setup(); "
        "logging.getLogger('django.request').warning('Not Found: /favicon.ico')"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "p2p.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("Not Found: /favicon.ico") == 1, result.stderr


def test_make_run_refuses_a_taken_port_before_starting_anything(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            ["bash", str(RUN_SH)],
            cwd=ROOT,
            env=_run_env(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Port {port} on 127.0.0.1 is already in use" in result.stderr
    assert f"make run PORT={port + 1}" in result.stderr
    assert "starting" not in result.stdout
    assert not (tmp_path / "run" / "worker.pid").exists(), "a worker was started anyway"


@pytest.mark.celery_worker
def test_ctrl_c_stops_make_run_quietly(tmp_path, db):
    port = _free_port()
    queue = new_queue_name()
    database_url = _test_database_url()
    env = _run_env(
        tmp_path,
        port,
        DATABASE_URL=database_url,
        REDIS_URL=TEST_REDIS_URL,
        CELERY_QUEUE=queue,
        DB_CONN_MAX_AGE="0",
    )
    # A file, not a pipe: a grandchild still holding a pipe open would keep communicate()
    # waiting after the script itself has exited, which is all this test is about.
    log = tmp_path / "run.out"
    with log.open("w") as out:
        script = subprocess.Popen(
            ["bash", str(RUN_SH)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120  # a busy 2-core machine starts Django slowly
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/login/", timeout=2)  # noqa: S310
                break
            except OSError:
                time.sleep(0.3)
        else:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
            pytest.fail(f"the development server did not answer:\n{log.read_text()}")
        pids = {
            name: int((tmp_path / "run" / f"{name}.pid").read_text())
            for name in ("server", "worker", "beat")
        }
        # Ctrl-C in a terminal signals the whole foreground process group.
        os.killpg(script.pid, signal.SIGINT)
        script.wait(timeout=90)
    finally:
        if script.poll() is None:
            os.killpg(script.pid, signal.SIGKILL)
            script.wait()
    output = log.read_text()
    assert script.returncode == 0, output
    assert "Traceback" not in output
    for name, pid in pids.items():
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"{name} still runs"
    forget_queues({queue})


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.mark.celery_worker
def test_a_test_worker_leaves_nothing_in_redis_and_spares_other_queues(db):
    someone_else = "p2p-test-someone-else"
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        client.sadd("_kombu.binding.celery.pidbox", f"\x06\x16\x06\x16{someone_else}.pidbox")
        try:
            worker = Worker().start()
            try:
                worker.wait_ready()
            finally:
                worker.stop()
            assert redis_keys_of({worker.queue}), "the worker left nothing: the test proves nothing"
            forget_queues({worker.queue})
            assert not redis_keys_of({worker.queue})
            assert redis_keys_of({someone_else}) == [b"_kombu.binding.celery.pidbox"]
        finally:
            forget_queues({someone_else})


def test_the_suite_says_when_it_prepares_the_test_database(db):
    name = connection.settings_dict["NAME"]
    assert name.startswith("test_")  # never the development database
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:xdist",
            "--reuse-db",
            "tests/p2p/test_platform.py::test_a_user_with_a_trail_cannot_be_deleted",
        ],
        cwd=ROOT,
        env={**os.environ, "TEST_DATABASE_NAME": name},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    notice, first_result = result.stdout.splitlines()[:2]
    assert notice.startswith(f"Reusing the test database {name}; a missing one is built")
    assert first_result.startswith(".")
