"""The Celery app: matching, rollups and sweeps run here, configured from Django settings."""

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")

app = Celery("p2p")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue(task_name: str, *args: Any) -> None:
    """Queue the task registered under `task_name` (e.g. "payables.tasks.match_invoices").

    Services queue work by name instead of importing their app's tasks module: tasks are the
    entry layer that calls services, like views, so services never import them and no circle
    of imports forms. The name is looked up in the app's registry, so a misspelt one fails
    here at once rather than sending a message no worker knows.
    """
    if task_name not in app.tasks:
        # Outside a worker nothing has imported the apps' tasks modules yet: discover them.
        app.loader.import_default_modules()
    app.tasks[task_name].delay(*args)


@task_prerun.connect
@task_postrun.connect
def _close_old_connections(task=None, **kwargs) -> None:
    """Between tasks, drop a connection that is too old or broken, as Django does per request.

    Eager tasks run inside the caller's transaction, whose connection must stay open.
    """
    if task is not None and getattr(task.request, "is_eager", False):
        return
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def _size_the_connection_pool(**kwargs) -> None:
    """A pool process runs one task at a time: it needs DB_WORKER_POOL_MAX_SIZE connections.

    Its pool opens on the first query, after this; the one inherited from the parent is closed
    by Celery's Django fixup.
    """
    from django.conf import settings

    pool = settings.DATABASES["default"]["OPTIONS"].get("pool")
    if pool:
        pool["max_size"] = settings.DB_WORKER_POOL_MAX_SIZE
        pool["min_size"] = min(pool["min_size"], pool["max_size"])
