"""The development server under 64 concurrent clients stays within its connection pool."""

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.conf import settings
from django.db import connection

from p2p.accounts import api_token_issue
from tests import factories
from tests.worker import ROOT, child_database_url, wait_for

CLIENTS = 64
REQUESTS_PER_CLIENT = 3
APPLICATION_NAME = "p2p-dev-server-under-load"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def _server_backends() -> int:
    """Connections the server holds on the test database."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT COUNT(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = %s",
            [APPLICATION_NAME],
        )
        return cursor.fetchone()[0]


@pytest.fixture
def dev_server():
    """`manage.py runserver` (a thread per request, as `make run` starts it) on the test database."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"{child_database_url()}?application_name={APPLICATION_NAME}",
        "DEBUG": "0",
    }
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", "--noreload", "--skip-checks", f"{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: _accepts(port), timeout=60), "the server did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=20)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_64_concurrent_clients_get_no_server_error_and_stay_within_the_pool(dev_server):
    carla = factories.make_user("carla", "ap_clerk")
    _, token = api_token_issue(user=carla)
    factories.make_vendor("Office Depot B.V.")
    factories.make_vendor("Staples Nederland B.V.")
    bound = settings.DB_POOL_MAX_SIZE
    assert bound, "pooling is on by default"

    def client(_: int) -> list[int]:
        statuses = []
        for _ in range(REQUESTS_PER_CLIENT):
            request = urllib.request.Request(
                f"{dev_server}/api/vendors/", headers={"Authorization": f"Token {token}"}
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as error:
                statuses.append(error.code)
        return statuses

    peak = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _server_backends())
            time.sleep(0.05)
        connection.close()  # this thread's own connection

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            statuses = [status for batch in pool.map(client, range(CLIENTS)) for status in batch]
    finally:
        done.set()
        watcher.join()

    assert len(statuses) == CLIENTS * REQUESTS_PER_CLIENT
    assert [s for s in statuses if s != 200] == []
    assert 0 < peak <= bound
    print(
        f"{len(statuses)} requests from {CLIENTS} clients, peak {peak} connections (pool {bound})"
    )


def test_a_worker_pool_process_keeps_the_worker_pool_size(settings):
    from celery.signals import worker_process_init

    pool_options = settings.DATABASES["default"]["OPTIONS"]["pool"]
    saved = dict(pool_options)
    settings.DB_WORKER_POOL_MAX_SIZE = 1
    try:
        worker_process_init.send(sender=None)  # what billiard sends in each new pool process
        assert (pool_options["min_size"], pool_options["max_size"]) == (1, 1)
    finally:
        pool_options.update(saved)
