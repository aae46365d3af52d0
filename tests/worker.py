"""A real Celery worker process on Redis, pointed at the test database."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
from django.conf import settings
from kombu import pools as kombu_pools

from p2p.celery import app
from p2p.dbroles import url_from_settings
from tests.dbroles import role_settings

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
# Every queue this test process handed to a worker; tests/suite.py forgets them at the end.
QUEUES_USED: set[str] = set()


def new_queue_name() -> str:
    """A queue no other worker, test run or xdist process consumes (the pid tells them apart)."""
    name = f"p2p-test-{os.getpid()}-{time.monotonic_ns()}"
    QUEUES_USED.add(name)
    return name


def _names_a_queue(value: bytes, queues: set[str]) -> bool:
    text = value.decode(errors="replace")
    return any(queue in text for queue in queues)


def _redis_traces(client: redis.Redis, queues: set[str]) -> list[tuple[bytes, list[bytes]]]:
    """(key, members) that the workers of `queues` left: whole keys named after a queue
    (members empty), else the set members and hash fields that name one."""
    traces = []
    for key in client.scan_iter(count=1000):
        if _names_a_queue(key, queues):
            traces.append((key, []))
            continue
        kind = client.type(key)
        if kind == b"set":
            members = [m for m in client.smembers(key) if _names_a_queue(m, queues)]
        elif kind == b"hash":
            members = [f for f, v in client.hgetall(key).items() if _names_a_queue(v, queues)]
        else:
            continue
        if members:
            traces.append((key, members))
    return traces


def redis_keys_of(queues: set[str]) -> list[bytes]:
    """Keys of the test Redis that still hold something of these queues."""
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        return [key for key, _ in _redis_traces(client, queues)]


def forget_queues(queues: set[str]) -> None:
    """Delete what workers on these queues left in Redis, and nothing of anyone else's.

    Kombu keeps a queue's messages under its name, its bindings (the queue's own exchange,
    the worker's remote-control box) as members of `_kombu.binding.*` sets, messages handed
    out but not acknowledged in the `unacked` hash indexed by `unacked_index`, and when each
    expiring binding table is due in `_kombu.binding_deadlines`. Redis drops a set or hash
    when its last member goes.
    """
    if not queues:
        return
    with redis.Redis.from_url(TEST_REDIS_URL) as client:
        for key, members in _redis_traces(client, queues):
            if not members:
                client.delete(key)
            elif client.type(key) == b"set":
                client.srem(key, *members)
            else:
                client.hdel(key, *members)
                if key == b"unacked":
                    client.zrem(b"unacked_index", *members)
        # Deadlines of binding tables that are gone (ours, just deleted) mean nothing any more.
        for exchange in client.zrange(b"_kombu.binding_deadlines", 0, -1):
            if not client.exists(b"_kombu.binding." + exchange):
                client.zrem(b"_kombu.binding_deadlines", exchange)


def _reset_producer_pool() -> None:
    """Drop pooled broker connections so the next send uses the current broker_url."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


def child_database_url() -> str:
    """The test database, for a process this test starts (a worker, a server)."""
    # As the web and workers run: the app role, with its password and libpq options.
    return url_from_settings(role_settings("app"))


class Worker:
    """Starts `celery worker` on a private queue so no other worker steals the tasks."""

    def __init__(
        self,
        concurrency: int = 1,
        env: dict[str, str] | None = None,
        queue: str | None = None,
        beat: bool = False,
    ):
        self.queue = queue or new_queue_name()
        self.concurrency = concurrency
        # Beat inside the worker process, with the production schedule, sending to this queue.
        self.beat = beat
        self._beat_dir: tempfile.TemporaryDirectory | None = None
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self._saved: dict = {}

    def environment(self) -> dict[str, str]:
        """What the worker process reads: the test database, its Redis db and its queue."""
        return {
            **os.environ,
            "DATABASE_URL": child_database_url(),
            "DATABASE_ROLE": "app",
            "REDIS_URL": TEST_REDIS_URL,
            "CELERY_QUEUE": self.queue,
            "DB_CONN_MAX_AGE": "0",
            # The worker applies the same invoice date window as the test that starts it.
            "INVOICE_DATE_YEARS_BACK": str(settings.INVOICE_DATE_YEARS_BACK),
            **self.extra_env,
        }

    def start(self) -> "Worker":
        beat_args = []
        if self.beat:
            self._beat_dir = tempfile.TemporaryDirectory(prefix="p2p-beat-")
            beat_args = ["--beat", f"--schedule={self._beat_dir.name}/celerybeat-schedule"]
        env = self.environment()
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "p2p",
                "worker",
                "--pool=prefork",
                f"--concurrency={self.concurrency}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "info",
                "-n",
                f"{self.queue}@%h",
                *beat_args,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._saved = {
            "task_always_eager": app.conf.task_always_eager,
            "broker_url": app.conf.broker_url,
            "task_default_queue": app.conf.task_default_queue,
        }
        app.conf.task_always_eager = False
        app.conf.broker_url = TEST_REDIS_URL
        app.conf.task_default_queue = self.queue
        _reset_producer_pool()
        return self

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        for key, value in self._saved.items():
            app.conf[key] = value
        _reset_producer_pool()
        if self._beat_dir is not None:
            self._beat_dir.cleanup()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the worker logs that it consumes (its pool processes are up)."""
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            if " ready." in line:
                return
            if time.monotonic() > deadline:
                break
        raise RuntimeError("the Celery worker did not become ready")

    def child_pids(self) -> list[int]:
        """The pool processes that execute tasks."""
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill_hard(self) -> None:
        """SIGKILL the whole worker (parent and children), as a crashed machine would."""
        os.killpg(self.process.pid, 9)
        self.process.wait()


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False
