"""Every event that can change a match verdict re-runs the engine after its transaction commits."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.services import matching
from payables.services.resolutions import exception_accept_variance
from payables.tasks import match_sweep
from procurement.services.revisions import PoLineChange, po_revise
from tests.flow import invoice, issued_po, receive

pytestmark = pytest.mark.django_db


def _status(inv) -> str:
    inv.refresh_from_db()
    return inv.status


def test_capture_matches_only_after_commit(people, setup_org, django_capture_on_commit_callbacks):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        inv = invoice(po, people, "INV-TRG-1", {1: ("40", "23.50")})
    assert _status(inv) == Invoice.Status.PENDING_MATCH  # nothing ran inside the transaction
    for callback in callbacks:
        callback()
    assert _status(inv) == Invoice.Status.APPROVED


def test_receipt_posting_rematches_waiting_invoices(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = issued_po(people, setup_org)
    with django_capture_on_commit_callbacks(execute=True):
        inv = invoice(po, people, "INV-TRG-2", {1: ("40", "23.50")})
    assert _status(inv) == Invoice.Status.EXCEPTION  # nothing received yet
    with django_capture_on_commit_callbacks(execute=True):
        receive(po, people, {1: "40"})
    assert _status(inv) == Invoice.Status.APPROVED


def test_po_change_order_rematches(people, setup_org, django_capture_on_commit_callbacks):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    with django_capture_on_commit_callbacks(execute=True):
        inv = invoice(
            po, people, "INV-TRG-3", {1: ("40", "22.00")}
        )  # the vendor's new, lower price
    assert _status(inv) == Invoice.Status.EXCEPTION
    with django_capture_on_commit_callbacks(execute=True):
        po_revise(
            po=po,
            by=people["buyer"],
            reason="Price list 2027 agreed with the vendor",
            lines=[PoLineChange(po_line_id=po.lines.get().pk, unit_price=Decimal("22.00"))],
        )
    assert _status(inv) == Invoice.Status.APPROVED
    assert inv.exceptions.get().resolution == "resolved_by_match"


def test_resolving_an_exception_rematches(people, setup_org, django_capture_on_commit_callbacks):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    with django_capture_on_commit_callbacks(execute=True):
        inv = invoice(po, people, "INV-TRG-4", {1: ("40", "24.00")})  # +0.50 × 40 = 20.00 at stake
    exception = InvoiceException.objects.get(invoice=inv)
    with django_capture_on_commit_callbacks(execute=True):
        exception_accept_variance(
            exception=exception,
            by=people["ap_manager"],
            root_cause="vendor_pricing_error",
            note="Freight surcharge agreed by phone",
        )
    assert _status(inv) == Invoice.Status.APPROVED
    assert inv.touchless is False


def test_sweep_picks_up_what_a_lost_message_left_behind(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    with django_capture_on_commit_callbacks(execute=False):  # the task message is "lost"
        inv = invoice(po, people, "INV-TRG-5", {1: ("40", "23.50")})
    assert _status(inv) == Invoice.Status.PENDING_MATCH
    assert match_sweep() == 0  # queued a moment ago: its match may simply not have run yet
    _captured_seconds_ago(inv, 61)
    assert match_sweep() == 1
    assert _status(inv) == Invoice.Status.APPROVED


def _captured_seconds_ago(inv, seconds: int) -> None:
    Invoice.objects.filter(pk=inv.pk).update(
        captured_at=timezone.now() - dt.timedelta(seconds=seconds)
    )


def test_sweep_claims_a_stuck_invoice_once_per_minute(people, setup_org, settings):
    settings.MATCH_STUCK_AFTER = 60
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, "INV-TRG-6", {1: ("40", "23.50")})
    # As if its match task had died with a worker.
    Invoice.objects.filter(pk=inv.pk).update(status=Invoice.Status.PENDING_MATCH)
    _captured_seconds_ago(inv, 61)
    minute = dt.timedelta(seconds=60)

    assert matching.claim_stuck(older_than=minute, limit=10) == [inv.pk]
    # Beat firing twice, or the sweep redelivered: the invoice is queued once, not twice.
    assert matching.claim_stuck(older_than=minute, limit=10) == []
    Invoice.objects.filter(pk=inv.pk).update(
        match_queued_at=timezone.now() - dt.timedelta(seconds=61)
    )
    assert matching.claim_stuck(older_than=minute, limit=10) == [inv.pk]
