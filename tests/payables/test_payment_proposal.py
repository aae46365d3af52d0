"""Which invoices a run pays: due dates, discounts worth taking, holds, disputes, credit notes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from p2p.exceptions import DomainError, InvalidTransition, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditEvent
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.payments import CompanySettings, Payment, PaymentRun, PaymentRunExclusion
from payables.selectors import payments as selectors
from payables.services import payments
from tests import factories
from tests.payables.payment_data import approved, company, one_ten_net90
from vendors.models import BankAccount, PaymentTerms, Vendor

pytestmark = pytest.mark.django_db

PAY_DATE = dt.date(2026, 11, 5)
HORIZON = dt.date(2026, 11, 19)


def propose(user, **kwargs) -> PaymentRun:
    return payments.payment_run_propose(
        by=user, pay_date=kwargs.pop("pay_date", PAY_DATE), horizon_date=HORIZON, **kwargs
    )


def lines(run: PaymentRun) -> dict[str, Payment]:
    return {p.invoice.number: p for p in run.payments.select_related("invoice")}


def left_out(run: PaymentRun) -> dict[str, str]:
    return {x.invoice.number: x.reason for x in run.exclusions.select_related("invoice")}


# --- worth taking ------------------------------------------------------------------------


def terms(percent: str, discount_days: int, net_days: int) -> PaymentTerms:
    return PaymentTerms.objects.get_or_create(
        code=f"{percent}/{discount_days}N{net_days}",
        defaults={
            "name": f"{percent}/{discount_days} Net {net_days}",
            "net_days": net_days,
            "discount_percent": Decimal(percent),
            "discount_days": discount_days,
        },
    )[0]


def test_two_ten_net_thirty_returns_about_37_percent_a_year(people):
    vendor = factories.make_vendor("Kortingspapier B.V.", terms=factories.two_ten_net30())
    # 1,000.00 from 2 Nov: 20.00 off if paid by 12 Nov, else due 2 Dec (after the horizon).
    approved(vendor, "KP-9", invoice_date=dt.date(2026, 11, 2))

    listed = selectors.discount_deadlines(PAY_DATE).get(number="KP-9")
    run = propose(people["ap_clerk"])

    # 20 / 980 × 365 / 20 days gained = 37.24 % a year, well above the 8 % cost of capital.
    assert listed.annualised.quantize(Decimal("0.01")) == Decimal("37.24")
    paid = lines(run)["KP-9"]
    assert (paid.basis, paid.discount_taken, paid.net_amount) == (
        Payment.Basis.DISCOUNT,
        Decimal("20.00"),
        Decimal("980.00"),
    )


@pytest.mark.parametrize(
    ("percent", "discount_days", "net_days", "cost", "worth"),
    [
        ("1", 10, 90, "8", False),  # 1/99 × 365/80 ≈ 4.6 %: cheaper to keep the cash
        ("2", 10, 30, "40", False),  # 37 % does not beat a 40 % cost of capital
        ("2", 10, 30, "37.24", True),  # 37.243 % just beats 37.24 %
        ("0", 10, 30, "8", False),  # no discount
        ("2", 30, 30, "8", False),  # no days gained by paying early
    ],
)
def test_worth_taking_compares_the_annualised_return_with_the_cost_of_capital(
    people, percent, discount_days, net_days, cost, worth
):
    company(cost_of_capital_pct=Decimal(cost))
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15))  # due 14 Nov: always paid
    offering = factories.make_vendor(
        "Kortingspapier B.V.", terms=terms(percent, discount_days, net_days)
    )
    # 1,000.00 from 2 Nov: due on or after 2 Dec, well after the 19 Nov horizon.
    approved(offering, "KP-1", invoice_date=dt.date(2026, 11, 2))

    run = propose(people["ap_clerk"])

    assert ("KP-1" in lines(run)) is worth
    if worth:
        assert lines(run)["KP-1"].basis == Payment.Basis.DISCOUNT


# --- selection ---------------------------------------------------------------------------


@pytest.fixture
def book(people):
    office = factories.make_vendor("Office Depot B.V.")
    discounter = factories.make_vendor("Kortingspapier B.V.", terms=factories.two_ten_net30())
    slow = factories.make_vendor("Traag Betalen B.V.", terms=one_ten_net90())
    return {
        # Net 30 from 15 Oct: due 14 Nov, inside the horizon.
        "due": approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15)),
        # Due 19 Nov: on the horizon itself.
        "on_horizon": approved(office, "OD-2", invoice_date=dt.date(2026, 10, 20)),
        # Due 20 Nov: a day past the horizon.
        "after": approved(office, "OD-3", invoice_date=dt.date(2026, 10, 21)),
        # 2/10 net 30 from 2 Nov: due 2 Dec, 2 % if paid by 12 Nov: worth paying early.
        "discount": approved(discounter, "KP-1", invoice_date=dt.date(2026, 11, 2)),
        # 2/10 net 30 from 20 Oct: discount lapsed 30 Oct; due 19 Nov, paid without it.
        "lapsed": approved(discounter, "KP-2", invoice_date=dt.date(2026, 10, 20)),
        # 2/10 net 30 from 26 Oct: discount date 5 Nov = the pay date, still open; due 25 Nov.
        "last_day": approved(discounter, "KP-3", invoice_date=dt.date(2026, 10, 26)),
        # 1/10 net 90 from 2 Nov: discount open but only ≈ 4.6 % a year; due 31 Jan.
        "not_worth": approved(slow, "TB-1", invoice_date=dt.date(2026, 11, 2)),
        # 1/10 net 90 from 20 Aug: due 18 Nov inside the horizon (discount long gone).
        "slow_due": approved(slow, "TB-2", invoice_date=dt.date(2026, 8, 20)),
    }


def test_proposal_pays_what_is_due_by_the_horizon_and_discounts_worth_taking(people, book):
    run = propose(people["ap_clerk"])

    paid = lines(run)
    assert set(paid) == {"OD-1", "OD-2", "KP-1", "KP-2", "KP-3", "TB-2"}
    assert paid["KP-1"].basis == Payment.Basis.DISCOUNT
    assert (paid["KP-1"].discount_taken, paid["KP-1"].net_amount) == (
        Decimal("20.00"),
        Decimal("980.00"),
    )
    assert paid["KP-3"].discount_taken == Decimal("20.00")  # the pay date is the last day
    assert paid["KP-2"].basis == Payment.Basis.DUE
    assert (paid["KP-2"].discount_taken, paid["KP-2"].discount_available) == (
        Decimal("0"),
        Decimal("20.00"),
    )
    assert run.currency == "EUR"
    assert run.gross_amount == Decimal("6000.00")
    assert run.discount_amount == Decimal("40.00")
    assert run.net_amount == Decimal("5960.00")
    assert Invoice.objects.get(number="OD-3").status == Invoice.Status.APPROVED
    assert Invoice.objects.get(number="TB-1").status == Invoice.Status.APPROVED
    totals = payments.currency_totals(run)[0]
    # Missed: KP-2's 20.00 and TB-2's 10.00 lapsed before the pay date.
    assert (totals["discount"], totals["available"] - totals["discount"]) == (
        Decimal("40.00"),
        Decimal("30.00"),
    )


def test_a_higher_cost_of_capital_stops_paying_early(people, book):
    company(cost_of_capital_pct=Decimal("40"))

    run = propose(people["ap_clerk"])

    # 37 % a year no longer beats the cost of capital: nothing is paid early for a discount.
    assert {"KP-1", "KP-3"}.isdisjoint(lines(run))
    payments.payment_run_cancel(run=run, by=people["ap_clerk"])
    # Paid inside its window anyway because it falls due, the discount is still taken.
    later = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=PAY_DATE, horizon_date=dt.date(2026, 12, 2)
    )
    kp1 = lines(later)["KP-1"]
    assert (kp1.basis, kp1.discount_taken) == (Payment.Basis.DUE, Decimal("20.00"))


def test_held_disputed_and_unpayable_vendors_are_left_out_with_the_reason(people):
    office = factories.make_vendor("Office Depot B.V.")
    held = approved(office, "OD-HOLD", invoice_date=dt.date(2026, 10, 15))
    disputed = approved(office, "OD-DISPUTE", invoice_date=dt.date(2026, 10, 15))
    approved(office, "OD-OK", invoice_date=dt.date(2026, 10, 15))
    blocked = factories.make_vendor("Geblokkeerd B.V.")
    approved(blocked, "GB-1", invoice_date=dt.date(2026, 10, 15))
    Vendor.objects.filter(pk=blocked.pk).update(status=Vendor.Status.BLOCKED)
    changed = factories.make_vendor("Nieuwe Rekening B.V.")
    approved(changed, "NR-1", invoice_date=dt.date(2026, 10, 15))
    BankAccount.objects.create(
        vendor=changed,
        account_holder=changed.name,
        iban="NL39RABO0300065264",
        requested_by=people["buyer"],
    )
    unbanked = factories.make_vendor("Zonder Bank B.V.", verified_bank=False)
    approved(unbanked, "ZB-1", invoice_date=dt.date(2026, 10, 15))
    payments.payment_hold_place(
        invoice=held, by=people["ap_clerk"], reason="Goods disputed by phone"
    )
    InvoiceException.objects.create(
        invoice=disputed,
        type=InvoiceException.Type.PRICE_VARIANCE,
        owner=InvoiceException.Owner.BUYER,
        opened_at=timezone.now(),
    )

    run = propose(people["ap_clerk"])

    assert set(lines(run)) == {"OD-OK"}
    assert left_out(run) == {
        "OD-HOLD": PaymentRunExclusion.Reason.ON_HOLD,
        "OD-DISPUTE": PaymentRunExclusion.Reason.OPEN_EXCEPTION,
        "GB-1": PaymentRunExclusion.Reason.VENDOR_NOT_ACTIVE,
        "NR-1": PaymentRunExclusion.Reason.BANK_CHANGE_UNVERIFIED,
        "ZB-1": PaymentRunExclusion.Reason.NO_VERIFIED_ACCOUNT,
    }
    payments.payment_hold_release(invoice=held, by=people["ap_manager"], note="Goods arrived")
    second = propose(people["ap_clerk"])
    assert set(lines(second)) == {"OD-HOLD"}


def test_hold_needs_a_reason_and_only_one_at_a_time(people):
    invoice = approved(factories.make_vendor(), "OD-1", invoice_date=dt.date(2026, 10, 15))

    with pytest.raises(DomainError, match="Say why"):
        payments.payment_hold_place(invoice=invoice, by=people["ap_clerk"], reason="  ")
    payments.payment_hold_place(invoice=invoice, by=people["ap_clerk"], reason="Check quality")
    with pytest.raises(DomainError, match="already on hold"):
        payments.payment_hold_place(invoice=invoice, by=people["ap_clerk"], reason="Again")
    with pytest.raises(PermissionDenied):
        payments.payment_hold_place(invoice=invoice, by=people["buyer"], reason="Mine")
    assert invoice.payment_holds.count() == 1


def test_credit_notes_offset_their_vendor_oldest_first_while_the_transfer_stays_positive(people):
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15), amount="1000.00")
    approved(office, "CN-1", invoice_date=dt.date(2026, 10, 1), amount="300.00", credit_note=True)
    approved(office, "CN-2", invoice_date=dt.date(2026, 10, 10), amount="900.00", credit_note=True)
    other = factories.make_vendor("Ander B.V.")
    approved(other, "AB-CN", invoice_date=dt.date(2026, 10, 10), amount="50.00", credit_note=True)

    run = propose(people["ap_clerk"])

    paid = lines(run)
    assert set(paid) == {"OD-1", "CN-1"}
    assert paid["CN-1"].net_amount == Decimal("-300.00")
    assert paid["CN-1"].basis == Payment.Basis.CREDIT_NOTE
    assert run.net_amount == Decimal("700.00")
    # CN-2 would take the transfer to -200; a vendor with nothing due offsets nothing.
    assert left_out(run) == {"CN-2": PaymentRunExclusion.Reason.CREDIT_EXCEEDS}
    assert Invoice.objects.get(number="CN-1").status == Invoice.Status.SCHEDULED


def test_the_run_pays_the_payable_amount_not_the_total(people):
    invoice = approved(
        factories.make_vendor(), "OD-1", invoice_date=dt.date(2026, 10, 15), prepaid="250.00"
    )

    run = propose(people["ap_clerk"])

    assert invoice.total_amount == Decimal("1000.00")
    assert lines(run)["OD-1"].net_amount == Decimal("750.00")


def test_one_currency_or_all_of_them(people):
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "EUR-1", invoice_date=dt.date(2026, 10, 15))
    approved(office, "USD-1", invoice_date=dt.date(2026, 10, 15), currency="USD", amount="500")

    dollars = propose(people["ap_clerk"], currency="usd")
    everything = propose(people["ap_clerk"])

    assert set(lines(dollars)) == {"USD-1"} and dollars.currency == "USD"
    assert dollars.net_amount == Decimal("500.00")
    assert set(lines(everything)) == {"EUR-1"}  # USD-1 is already in the first run


def test_a_run_over_several_currencies_keeps_totals_per_currency(people):
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "EUR-1", invoice_date=dt.date(2026, 10, 15))
    approved(office, "USD-1", invoice_date=dt.date(2026, 10, 15), currency="USD", amount="500")

    run = propose(people["ap_clerk"])

    assert run.currency == "" and run.net_amount is None
    assert [(t["currency"], t["net"]) for t in payments.currency_totals(run)] == [
        ("EUR", Decimal("1000.00")),
        ("USD", Decimal("500.00")),
    ]


def test_bad_proposals_are_refused_and_nothing_is_written(people):
    with pytest.raises(DomainError, match="horizon must be on or after"):
        payments.payment_run_propose(by=people["ap_clerk"], pay_date=HORIZON, horizon_date=PAY_DATE)
    with pytest.raises(DomainError, match="three-letter"):
        propose(people["ap_clerk"], currency="EURO")
    with pytest.raises(DomainError, match="No approved invoices"):
        propose(people["ap_clerk"])
    with pytest.raises(PermissionDenied):
        propose(people["finance_leader"])
    assert not PaymentRun.objects.exists()
    assert not AuditEvent.objects.filter(object_type="payables.paymentrun").exists()


# --- changing a proposal ---------------------------------------------------------------------


def test_clerk_removes_and_adds_invoices_with_reasons_and_it_is_audited(people, book):
    run = propose(people["ap_clerk"])
    clerk = people["ap_clerk"]

    with pytest.raises(DomainError, match="Say why"):
        payments.payment_run_remove_invoice(run=run, invoice=book["due"], by=clerk, reason=" ")
    payments.payment_run_remove_invoice(
        run=run, invoice=book["due"], by=clerk, reason="Vendor asked to pay next week"
    )
    payments.payment_run_add_invoice(
        run=run, invoice=book["after"], by=clerk, reason="Vendor asked for early payment"
    )

    run.refresh_from_db()
    paid = lines(run)
    assert paid["OD-1"].status == Payment.Status.VOID
    assert paid["OD-1"].void_reason == "Vendor asked to pay next week"
    assert paid["OD-3"].basis == Payment.Basis.ADDED
    assert paid["OD-3"].note == "Vendor asked for early payment"
    assert Invoice.objects.get(number="OD-1").status == Invoice.Status.APPROVED
    assert Invoice.objects.get(number="OD-3").status == Invoice.Status.SCHEDULED
    assert left_out(run)["OD-1"] == PaymentRunExclusion.Reason.REMOVED
    assert run.net_amount == Decimal("5960.00")  # one 1,000 out, one 1,000 in
    actions = list(
        AuditEvent.objects.filter(object_type="payables.paymentrun", object_id=run.pk)
        .order_by("id")
        .values_list("action", "note")
    )
    assert ("invoice_removed", "Vendor asked to pay next week") in actions
    assert ("invoice_added", "Vendor asked for early payment") in actions


def test_adding_refuses_held_invoices_and_credit_notes_that_exceed(people, book):
    run = propose(people["ap_clerk"])
    payments.payment_hold_place(invoice=book["after"], by=people["ap_clerk"], reason="Query")
    big_credit = approved(
        book["after"].vendor,
        "CN-9",
        invoice_date=dt.date(2026, 11, 1),
        amount="5000",
        credit_note=True,
    )

    with pytest.raises(DomainError, match="on payment hold"):
        payments.payment_run_add_invoice(
            run=run, invoice=book["after"], by=people["ap_clerk"], reason="Pay it"
        )
    with pytest.raises(DomainError, match="zero or below"):
        payments.payment_run_add_invoice(
            run=run, invoice=big_credit, by=people["ap_clerk"], reason="Offset"
        )
    with pytest.raises(DomainError, match="in payment run, not approved"):
        payments.payment_run_add_invoice(
            run=run, invoice=book["due"], by=people["ap_clerk"], reason="Twice"
        )
    assert run.payments.count() == 6


def test_whoever_changed_a_run_cannot_approve_it(people, book):
    run = propose(people["ap_clerk"])
    payments.payment_run_remove_invoice(
        run=run, invoice=book["due"], by=people["ap_manager"], reason="Not yet"
    )

    with pytest.raises(SegregationOfDutiesError, match="added or removed"):
        payments.payment_run_approve(run=run, by=people["ap_manager"])
    payments.payment_run_approve(run=run, by=people["finance_leader"])
    with pytest.raises(InvalidTransition):
        payments.payment_run_add_invoice(
            run=run, invoice=book["due"], by=people["ap_clerk"], reason="Too late"
        )


# --- approval ---------------------------------------------------------------------------


def test_approval_segregation_and_the_finance_threshold(people, book):
    run = propose(people["ap_manager"])
    with pytest.raises(SegregationOfDutiesError, match="You prepared"):
        payments.payment_run_approve(run=run, by=people["ap_manager"])
    with pytest.raises(PermissionDenied):
        payments.payment_run_approve(run=run, by=people["ap_clerk"])
    company(run_approval_threshold=Decimal("5000"))
    other_manager = factories.make_user("mona", "ap_manager")

    with pytest.raises(NotAllowed, match="need a finance leader"):
        payments.payment_run_approve(run=run, by=other_manager)  # 5,960 EUR > 5,000

    payments.payment_run_approve(run=run, by=people["finance_leader"])
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.APPROVED
    assert run.approved_by == people["finance_leader"]


def test_company_settings_are_set_by_finance_and_audited(people):
    with pytest.raises(PermissionDenied):
        payments.company_settings_update(
            by=people["ap_manager"],
            company_name="Acme",
            iban="",
            bic="",
            cost_of_capital_pct=Decimal("5"),
            run_approval_threshold=Decimal("1000"),
        )
    with pytest.raises(DomainError, match="IBAN"):
        payments.company_settings_update(
            by=people["finance_leader"],
            company_name="Acme",
            iban="NL00ABNA0417164300",
            bic="",
            cost_of_capital_pct=Decimal("5"),
            run_approval_threshold=Decimal("1000"),
        )
    with pytest.raises(DomainError, match="between 0 and 100"):
        payments.company_settings_update(
            by=people["finance_leader"],
            company_name="Acme",
            iban="",
            bic="",
            cost_of_capital_pct=Decimal("120"),
            run_approval_threshold=Decimal("1000"),
        )
    assert CompanySettings.load().cost_of_capital_pct == Decimal("8")

    payments.company_settings_update(
        by=people["finance_leader"],
        company_name="Acme Nederland B.V.",
        iban="nl91 abna 0417 1643 00",
        bic="abnanl2a",
        cost_of_capital_pct=Decimal("6.5"),
        run_approval_threshold=Decimal("250000"),
    )

    row = CompanySettings.load()
    assert (row.iban, row.bic, row.cost_of_capital_pct) == (
        "NL91ABNA0417164300",
        "ABNANL2A",
        Decimal("6.500"),
    )
    event = AuditEvent.objects.get(object_type="payables.companysettings")
    assert event.actor == people["finance_leader"]
    assert event.changes["cost_of_capital_pct"] == ["8.000", "6.500"]
