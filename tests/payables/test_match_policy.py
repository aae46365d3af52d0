"""Tolerance policy: percent and absolute parts, the combine rule, and scope precedence."""

import datetime as dt
from decimal import Decimal

import pytest

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchPolicy, MatchResult
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.matching import run_matching
from tests import factories
from tests.flow import invoice, issued_po, receive
from vendors.models import BankAccount, Contract, ContractLine

pytestmark = pytest.mark.django_db

D = Decimal


def _policy(**fields):
    base = {
        "price_tolerance_pct": None,
        "price_tolerance_abs": None,
        "qty_tolerance_pct": None,
        "qty_tolerance_abs": None,
        "total_tolerance_abs": D("0.05"),
    }
    return MatchPolicy.objects.create(**{**base, **fields})


def _outcome(inv):
    run_matching([inv.pk])
    inv.refresh_from_db()
    return inv.status, list(inv.exceptions.values_list("type", flat=True))


@pytest.mark.parametrize(
    ("combine", "pct", "absolute", "invoice_price", "expected"),
    [
        # PO price 23.50 × 40. 2% = 0.47; absolute 1.00.
        ("tighter", "2", "1.00", "23.97", "approved"),  # +0.47: within both
        ("tighter", "2", "1.00", "24.00", "exception"),  # +0.50: over 2%, under 1.00
        ("looser", "2", "1.00", "24.00", "approved"),  # looser: 1.00 applies
        ("looser", "2", "1.00", "24.51", "exception"),  # +1.01: over both
        ("tighter", None, "1.00", "24.50", "approved"),  # percent unused: 1.00 alone
        ("tighter", "2", None, "23.98", "exception"),  # absolute unused: 0.47 alone
        ("tighter", None, None, "23.51", "exception"),  # no tolerance at all
    ],
)
def test_price_tolerance_combinations(
    people, setup_org, combine, pct, absolute, invoice_price, expected
):
    MatchPolicy.objects.filter(scope="organisation").update(active=False)
    _policy(
        name="Org",
        combine=combine,
        price_tolerance_pct=pct and D(pct),
        price_tolerance_abs=absolute and D(absolute),
    )
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    status, types = _outcome(invoice(po, people, "INV-TOL-1", {1: ("40", invoice_price)}))
    assert status == expected
    assert types == ([] if expected == "approved" else ["price_variance"])


def test_quantity_tolerance_absolute_lets_a_small_overdelivery_through(people, setup_org):
    MatchPolicy.objects.filter(scope="organisation").update(
        qty_tolerance_pct=None, qty_tolerance_abs=D("2")
    )
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    status, _ = _outcome(invoice(po, people, "INV-QTY-1", {1: ("42", "23.50")}))
    assert status == Invoice.Status.APPROVED
    assert MatchResult.objects.get().qty_tolerance == D("2.0000")


def test_most_specific_policy_wins_item_over_category_over_vendor(people, setup_org):
    vendor = factories.make_vendor("Papier & Co B.V.")
    po = issued_po(people, setup_org, vendor=vendor)
    po_line = po.lines.get()
    po_line_code = "PAPER-A4"
    type(po_line).objects.filter(pk=po_line.pk).update(item_code=po_line_code)
    receive(po, people, {1: "40"})
    vendor_policy = _policy(
        name="Vendor 10%", scope="vendor", vendor=vendor, price_tolerance_pct=D("10")
    )
    category_policy = _policy(
        name="Goods 5%", scope="category", category="goods", price_tolerance_pct=D("5")
    )
    item_policy = _policy(
        name="Paper exact", scope="item", item_code=po_line_code, price_tolerance_abs=D("0")
    )
    # +0.50 on 23.50 (2.1%): passes the vendor and category policies, not the item one.
    inv = invoice(po, people, "INV-SCOPE-1", {1: ("40", "24.00")})
    assert _outcome(inv)[0] == Invoice.Status.EXCEPTION
    assert MatchResult.objects.get(invoice=inv).policy == item_policy
    item_policy.active = False
    item_policy.save()
    InvoiceException.objects.filter(invoice=inv).delete()
    Invoice.objects.filter(pk=inv.pk).update(status="pending_match")
    assert _outcome(inv)[0] == Invoice.Status.APPROVED
    assert MatchResult.objects.get(invoice=inv).policy == category_policy
    category_policy.active = False
    category_policy.save()
    Invoice.objects.filter(pk=inv.pk).update(status="pending_match")
    assert _outcome(inv)[0] == Invoice.Status.APPROVED  # +2.1% is inside the vendor's 10%
    assert MatchResult.objects.get(invoice=inv).policy == vendor_policy


def test_active_contract_price_is_the_reference(people, setup_org):
    vendor = factories.make_vendor("Toner Direct GmbH")
    po = issued_po(people, setup_org, vendor=vendor, lines=(("Toner HP 305A", "10", "80.00"),))
    type(po.lines.get()).objects.filter(purchase_order=po).update(item_code="HP-305A")
    receive(po, people, {1: "10"})
    contract = Contract.objects.create(
        vendor=vendor,
        number="C-2026-07",
        title="Toner rate card",
        currency="EUR",
        valid_from=dt.date(2026, 1, 1),
        valid_to=dt.date(2026, 12, 31),
        status="active",
        created_by=people["buyer"],
    )
    ContractLine.objects.create(
        contract=contract, item_code="HP-305A", description="Toner HP 305A", unit_price=D("72.00")
    )
    inv = invoice(po, people, "TD-55120", {1: ("10", "80.00")})  # the PO price, not the contract's
    status, types = _outcome(inv)
    assert (status, types) == (Invoice.Status.EXCEPTION, ["price_variance"])
    result = MatchResult.objects.get(invoice=inv)
    assert result.contract_unit_price == D("72.0000")
    assert result.price_variance == D("8.0000")
    assert "contract price 72" in inv.exceptions.get().detail


def test_header_total_tolerance_flags_keying_errors(people, setup_org):
    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, "INV-TOT-1", {1: ("40", "23.50")})
    Invoice.objects.filter(pk=inv.pk).update(total_amount=inv.total_amount + D("10.00"))
    assert _outcome(inv) == (Invoice.Status.EXCEPTION, ["totals_mismatch"])


def test_credit_note_reduces_billed_quantity(people, setup_org):

    po = issued_po(people, setup_org)
    receive(po, people, {1: "40"})
    first = invoice(po, people, "INV-CN-1", {1: ("40", "23.50")})
    assert _outcome(first)[0] == Invoice.Status.APPROVED
    po_line = po.lines.get()
    credit = invoice_capture(
        by=people["ap_clerk"],
        vendor=po.vendor,
        number="CN-INV-CN-1",
        invoice_date=dt.date(2026, 11, 5),
        currency="EUR",
        purchase_order=po,
        document_type=Invoice.DocumentType.CREDIT_NOTE,
        lines=[InvoiceLineInput("Returned paper", D("5"), D("23.50"), po_line_id=po_line.pk)],
        tax_amount=D("24.68"),
    )
    assert _outcome(credit)[0] == Invoice.Status.APPROVED
    assert MatchResult.objects.get(invoice=credit).billed_qty_cumulative == D("35.0000")
    # 5 more may now be billed again without exceeding the 40 received.
    again = invoice(po, people, "INV-CN-2", {1: ("5", "23.50")}, invoice_date=dt.date(2026, 11, 9))
    assert _outcome(again)[0] == Invoice.Status.APPROVED


def test_same_bank_account_across_vendors_is_flagged_as_possible_duplicate(people, setup_org):
    real = factories.make_vendor("Schoonmaak De Vries B.V.")
    shadow = factories.make_vendor("De Vries Schoonmaak")  # a second record paid into the same IBAN
    BankAccount.objects.filter(vendor=shadow).update(iban=BankAccount.objects.get(vendor=real).iban)
    po_real = issued_po(people, setup_org, vendor=real)
    po_shadow = issued_po(people, setup_org, vendor=shadow)
    receive(po_real, people, {1: "40"})
    receive(po_shadow, people, {1: "40"})
    first = invoice(po_real, people, "DV-2026-311", {1: ("40", "23.50")})
    assert _outcome(first)[0] == Invoice.Status.APPROVED
    second = invoice(po_shadow, people, "DV-2026-311", {1: ("40", "23.50")})
    status, types = _outcome(second)
    assert (status, types) == (Invoice.Status.EXCEPTION, ["duplicate"])
    assert "same bank account" in second.exceptions.get().detail


def test_same_vendor_same_amount_within_days_is_a_possible_duplicate(people, setup_org):
    po = issued_po(people, setup_org, lines=(("Paper", "80", "23.50"),))
    receive(po, people, {1: "80"})
    first = invoice(po, people, "INV-7781", {1: ("40", "23.50")}, invoice_date=dt.date(2026, 11, 2))
    assert _outcome(first)[0] == Invoice.Status.APPROVED
    resent = invoice(
        po, people, "INV-7781-B", {1: ("40", "23.50")}, invoice_date=dt.date(2026, 11, 4)
    )
    assert _outcome(resent) == (Invoice.Status.EXCEPTION, ["duplicate"])
    later = invoice(
        po, people, "INV-7790", {1: ("40", "23.50")}, invoice_date=dt.date(2026, 11, 20)
    )
    assert _outcome(later) == (Invoice.Status.APPROVED, [])  # 18 days later: a new delivery


@pytest.mark.parametrize(
    ("combine", "po_price", "invoice_price", "tolerance"),
    [
        ("tighter", "23.50", "23.60", "0.4700"),  # 2 % of 23.50 beats the 5.00
        ("tighter", "1000.00", "1001.00", "5.0000"),  # 5.00 beats 2 % of 1,000
        ("looser", "1000.00", "1001.00", "20.0000"),  # looser: 2 % of 1,000
    ],
)
def test_the_engine_records_the_tolerance_the_combine_rule_gives(
    people, setup_org, combine, po_price, invoice_price, tolerance
):
    MatchPolicy.objects.filter(scope="organisation").update(active=False)
    _policy(
        name="Org",
        combine=combine,
        price_tolerance_pct=D("2"),
        price_tolerance_abs=D("5"),
        qty_tolerance_pct=D("0"),
    )
    po = issued_po(people, setup_org, lines=(("Office chair", "4", po_price),))
    receive(po, people, {1: "4"})

    status, _ = _outcome(invoice(po, people, "INV-TOL-2", {1: ("4", invoice_price)}))

    assert status == Invoice.Status.APPROVED
    assert MatchResult.objects.get().price_tolerance == D(tolerance)
