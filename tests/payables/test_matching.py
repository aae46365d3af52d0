"""The three-way match rules, run through the engine on real Postgres."""

from decimal import Decimal

import pytest

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchResult
from payables.services.matching import run_matching
from tests.flow import invoice, issued_po, receive

pytestmark = pytest.mark.django_db


def test_invoice_within_tolerance_is_approved_touchless(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(
        po, people, "INV-2026-0117", {1: ("40", "23.60")}
    )  # +0.10 on 23.50: within 2% and 5.00
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED
    assert inv.first_pass is True and inv.touchless is True
    result = MatchResult.objects.get(invoice=inv)
    assert result.price_variance == Decimal("0.1000")
    assert result.price_tolerance == Decimal("0.4700")  # 2% of 23.50, tighter than 5.00
    assert result.result == "matched"


def test_price_above_tolerance_opens_price_variance_for_the_buyer(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, "INV-2026-0118", {1: ("40", "24.95")})
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.EXCEPTION
    exc = inv.exceptions.get()
    assert exc.type == InvoiceException.Type.PRICE_VARIANCE
    assert exc.owner == InvoiceException.Owner.BUYER
    assert exc.owner_user == people["buyer"]
    assert exc.amount_at_stake == Decimal("58.00")  # 1.45 × 40
    assert exc.suggested_root_cause == "vendor_pricing_error"


def test_billing_more_than_received_is_a_missing_receipt_for_the_requester(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "25"})
    inv = invoice(po, people, "INV-2026-0119", {1: ("40", "23.50")})
    run_matching([inv.pk])
    exc = InvoiceException.objects.get(invoice=inv)
    assert exc.type == InvoiceException.Type.MISSING_RECEIPT
    assert exc.owner_user == people["requester"]


def test_partial_receipts_across_two_invoices(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "25"})
    first = invoice(po, people, "INV-2026-0120", {1: ("25", "23.50")})
    run_matching([first.pk])
    second = invoice(po, people, "INV-2026-0121", {1: ("15", "23.50")})
    run_matching([second.pk])
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Invoice.Status.APPROVED
    assert second.status == Invoice.Status.EXCEPTION  # 40 billed, 25 received
    with django_capture_on_commit_callbacks(execute=True):
        receive(po, people, {1: "15"})  # the rest arrives; the receipt triggers a re-match
    second.refresh_from_db()
    assert second.status == Invoice.Status.APPROVED
    assert second.first_pass is False and second.touchless is False
    assert second.exceptions.get().resolution == "resolved_by_match"


def test_billing_more_than_ordered_is_over_billing(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, "INV-2026-0122", {1: ("50", "23.50")})
    run_matching([inv.pk])
    assert InvoiceException.objects.get(invoice=inv).type == InvoiceException.Type.QTY_OVER_BILLED


def test_two_way_service_line_matches_against_ordered_quantity(people, setup_org):
    po = issued_po(
        people, setup_org, category="services", lines=(("Window cleaning, monthly", "1", "850.00"),)
    )
    inv = invoice(po, people, "WC-2026-11", {1: ("1", "850.00")})
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED


def test_match_is_idempotent(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, "INV-2026-0123", {1: ("40", "26.00")})
    run_matching([inv.pk])
    before = (
        list(InvoiceException.objects.values_list("id", "status", "opened_at")),
        list(MatchResult.objects.values_list("pk", "result", "matched_at")),
        Invoice.objects.values_list("status", "match_attempts").get(pk=inv.pk),
    )
    run_matching([inv.pk])
    run_matching([inv.pk])
    after = (
        list(InvoiceException.objects.values_list("id", "status", "opened_at")),
        list(MatchResult.objects.values_list("pk", "result", "matched_at")),
        Invoice.objects.values_list("status", "match_attempts").get(pk=inv.pk),
    )
    assert before == after


def test_invoice_in_exception_before_any_match_gets_its_evidence_once(people, setup_org):
    """An invoice loaded straight into exception is matched like any other, then re-matched."""
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, "INV-2026-0124", {1: ("40", "26.00")})
    Invoice.objects.filter(pk=inv.pk).update(status=Invoice.Status.EXCEPTION)
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.match_attempts == 1 and inv.first_matched_at is not None
    po.lines.update(unit_price=Decimal("26.00"))  # the buyer corrects the PO price
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED
    result = MatchResult.objects.get(invoice=inv)
    assert (result.po_unit_price, result.price_variance, result.result) == (
        Decimal("26.0000"),
        Decimal("0.0000"),
        "matched",
    )


def test_line_billing_another_orders_line_is_held_for_ap(people, setup_org):
    """Capture refuses it; data that arrives some other way is held, not matched unlocked."""
    po = issued_po(people, setup_org)
    other = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    receive(other, people, {1: "40"})
    inv = invoice(po, people, "INV-2026-0125", {1: ("40", "23.50")})
    inv.lines.update(po_line=other.lines.get())
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.EXCEPTION
    exc = inv.exceptions.get()
    assert (exc.type, exc.owner) == ("no_po", "ap")
    assert exc.detail == "Invoice line bills a line of another purchase order"
    assert MatchResult.objects.get(invoice=inv).result == "no_po_line"
