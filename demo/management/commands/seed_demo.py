"""Load the demo: people, reference data, vendors and 90 days of documents through the services.

Running the command again changes nothing: users and reference data use get_or_create,
and the document part is skipped once the first demo vendor exists.
"""

import contextlib
import datetime as dt
import logging
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import models, transaction
from django.test.utils import override_settings
from django.utils import timezone

from demo.people import DEMO_PASSWORD, ensure_people
from demo.reference import MARKER_TAX_ID, ensure_reference_data
from demo.simulation import Simulation
from metrics.rollup import rebuild_facts
from p2p.celery import app
from payables.models import Invoice, InvoiceException, PaymentRun
from procurement.models import PurchaseOrder, PurchaseRequest
from vendors.models import Vendor

ROLLUP_DAYS = 120


class Command(BaseCommand):
    help = "Load demo users, reference data, vendors and 90 days of documents (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            # Every demo user, the administrator included, has the published password.
            raise CommandError(
                "seed_demo loads demo users whose password is published; "
                "it does not run with DJANGO_ENV=production."
            )
        started = time.monotonic()
        today = timezone.localdate()
        # Approval e-mails to example addresses would only clutter the console, and matching
        # is run in-process here, so on-commit hooks must not queue work for a worker.
        with (
            override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"),
            _celery_in_process(),
            transaction.atomic(),
        ):
            people = ensure_people()
            reference = ensure_reference_data()
            loaded = Vendor.objects.filter(tax_id=MARKER_TAX_ID).exists()
            if not loaded:
                Simulation(people, reference, today=today).run()
        facts = rebuild_facts(today - dt.timedelta(days=ROLLUP_DAYS), today)
        self.stdout.write(summary(loaded=loaded, facts=facts, seconds=time.monotonic() - started))


@contextlib.contextmanager
def _celery_in_process() -> Iterator[None]:
    previous = app.conf.task_always_eager
    trace_log = logging.getLogger("celery.app.trace")
    previous_level = trace_log.level
    app.conf.task_always_eager = True
    trace_log.setLevel(logging.WARNING)  # one "task succeeded" line per invoice is noise here
    try:
        yield
    finally:
        app.conf.task_always_eager = previous
        trace_log.setLevel(previous_level)


def summary(*, loaded: bool, facts: int, seconds: float) -> str:
    """A few lines saying what the demo database holds now."""

    def by_status(model: type[models.Model]) -> str:
        counts = (
            model._default_manager.values_list("status")
            .annotate(n=models.Count("id"))
            .order_by("status")
        )
        return ", ".join(f"{status} {n}" for status, n in counts) or "none"

    lines = [
        "Demo data was already loaded; documents left as they were."
        if loaded
        else "Demo documents created through the services.",
        f"  vendors:          {by_status(Vendor)}",
        f"  requests:         {by_status(PurchaseRequest)}",
        f"  purchase orders:  {by_status(PurchaseOrder)}",
        f"  invoices:         {by_status(Invoice)}",
        f"  exceptions:       {by_status(InvoiceException)}",
        f"  payment runs:     {by_status(PaymentRun)}",
        f"  KPI fact rows:    {facts} (last {ROLLUP_DAYS} days)",
        f"Log in as rita, alex, bob, carla, martin, fiona or admin with password {DEMO_PASSWORD}"
        f" ({seconds:.1f} s).",
    ]
    return "\n".join(lines)
