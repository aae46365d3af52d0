"""A real Celery worker process on Redis, pointed at the test database."""

import os
import subprocess
import sys
import time
from pathlib import Path

from kombu import pools as kombu_pools

from p2p.celery import app
from p2p.dbroles import url_from_settings
from tests.dbroles import role_settings

ROOT = Path(__file__).resolve().parent.parent
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _reset_producer_pool() -> None:
    """Drop pooled broker connections so the next send uses the current broker_url."""
    if app._pool is not None:
        app._pool.force_close_all()
        app._pool = None
    app.amqp._producer_pool = None
    kombu_pools.reset()


class Worker:
    """Starts `celery worker` on a private queue so no other worker steals the tasks."""

    def __init__(
        self, concurrency: int = 1, env: dict[str, str] | None = None, queue: str | None = None
    ):
        self.queue = queue or f"p2p-test-{os.getpid()}-{time.monotonic_ns()}"
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.process: subprocess.Popen | None = None
        self._saved: dict = {}

    def environment(self) -> dict[str, str]:
        """What the worker process reads: the test database, its Redis db and its queue."""
        return {
            **os.environ,
            # As the web and workers run: the app role, with its password and libpq options.
            "DATABASE_URL": url_from_settings(role_settings("app")),
            "DATABASE_ROLE": "app",
            "REDIS_URL": TEST_REDIS_URL,
            "CELERY_QUEUE": self.queue,
            "DB_CONN_MAX_AGE": "0",
            **self.extra_env,
        }

    def start(self) -> "Worker":
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
