"""Services queue Celery tasks by registered name (p2p.celery.enqueue)."""

import re
from pathlib import Path

import pytest

from p2p.celery import app, enqueue

ROOT = Path(__file__).resolve().parents[2]
APPS = ("p2p", "currencies", "vendors", "procurement", "payables", "metrics", "demo")


def test_every_name_the_code_queues_is_a_registered_task():
    # A renamed or misspelt task fails here, not as a message no worker knows.
    names = {
        name
        for app_dir in APPS
        for path in (ROOT / app_dir).rglob("*.py")
        for name in re.findall(r'enqueue\(\s*"([\w.]+)"', path.read_text())
    }
    assert "payables.tasks.match_invoices" in names
    app.loader.import_default_modules()
    assert sorted(name for name in names if name not in app.tasks) == []


def test_a_misspelt_task_name_is_refused_at_once():
    with pytest.raises(KeyError):
        enqueue("payables.tasks.match_invoice", [1])
