"""Every event that can change a match verdict re-runs the engine after its transaction commits."""

from decimal import Decimal

import pytest

from payables import resolutions
from payables.models import Invoice, InvoiceException
from payables.tasks import match_sweep
from procurement import services as procurement
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
        procurement.po_revise(
            po=po,
            by=people["buyer"],
            reason="Price list 2027 agreed with the vendor",
            lines=[
                procurement.PoLineChange(po_line_id=po.lines.get().pk, unit_price=Decimal("22.00"))
            ],
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
        resolutions.exception_accept_variance(
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
    assert match_sweep() == 1
    assert _status(inv) == Invoice.Status.APPROVED
