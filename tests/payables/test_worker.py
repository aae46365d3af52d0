"""Matching through a real Celery worker on Redis, triggered by the on-commit hook."""

import pytest

from payables.models import Invoice
from tests.flow import invoice, issued_po, receive
from tests.worker import Worker, wait_for

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def worker():
    running = Worker().start()
    yield running
    running.stop()


def test_captured_invoice_is_matched_by_a_real_worker(people, setup_org, worker):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    # Committed in autocommit mode: on_commit fires at once and .delay() goes to Redis.
    inv = invoice(po, people, "INV-2026-0201", {1: ("40", "23.50")})

    def settled():
        return (
            Invoice.objects.filter(pk=inv.pk).exclude(status=Invoice.Status.PENDING_MATCH).exists()
        )

    assert wait_for(settled, timeout=60), "the worker did not match the invoice"
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED
    assert inv.touchless is True
    assert inv.match_results.count() == 1
