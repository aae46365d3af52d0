"""Payment-terms arithmetic on real calendar cases: month ends, leap years, year ends."""

import datetime as dt
from decimal import Decimal

import pytest

from vendors import selectors
from vendors.models import PaymentTerms

pytestmark = pytest.mark.django_db


def terms(code: str, net: int, *, pct: str = "0", days: int = 0, eom: bool = False) -> PaymentTerms:
    return PaymentTerms.objects.create(
        code=code,
        name=code,
        net_days=net,
        discount_percent=Decimal(pct),
        discount_days=days,
        end_of_month=eom,
    )


@pytest.mark.parametrize(
    ("invoice_date", "due"),
    [
        (dt.date(2026, 1, 31), dt.date(2026, 3, 2)),  # 31 Jan + 30: February has 28 days
        (dt.date(2028, 1, 31), dt.date(2028, 3, 1)),  # leap year: 29 Feb 2028 counts
        (dt.date(2028, 2, 29), dt.date(2028, 3, 30)),  # invoiced on the leap day itself
        (dt.date(2026, 12, 15), dt.date(2027, 1, 14)),  # across the year end
    ],
)
def test_net_30_counts_calendar_days(invoice_date, due):
    assert terms("NET30", 30).due_date(invoice_date) == due


@pytest.mark.parametrize(
    ("invoice_date", "due"),
    [
        (dt.date(2026, 12, 10), dt.date(2027, 1, 30)),  # December EOM → January next year
        (dt.date(2026, 12, 31), dt.date(2027, 1, 30)),
        (dt.date(2028, 2, 3), dt.date(2028, 3, 30)),  # from 29 Feb in a leap year
        (dt.date(2027, 2, 3), dt.date(2027, 3, 30)),  # from 28 Feb otherwise
        (dt.date(2026, 1, 31), dt.date(2026, 3, 2)),  # already the month end
    ],
)
def test_end_of_month_terms_count_from_the_last_day_of_the_invoice_month(invoice_date, due):
    assert terms("NET30EOM", 30, eom=True).due_date(invoice_date) == due


def test_two_ten_net_30_discount_date_and_amount_half_up_in_eur():
    two_ten = terms("2/10N30", 30, pct="2", days=10)
    schedule = selectors.terms_schedule(
        two_ten, invoice_date=dt.date(2026, 1, 25), amount=Decimal("1137.25"), currency="EUR"
    )
    assert schedule.discount_date == dt.date(2026, 2, 4)
    assert schedule.due_date == dt.date(2026, 2, 24)
    # 2 % of 1,137.25 = 22.745 → 22.75 (half-up, not banker's 22.74)
    assert schedule.discount_amount == Decimal("22.75")
    assert schedule.amount_if_discounted == Decimal("1114.50")


def test_discount_rounds_to_whole_yen():
    two_ten = terms("2/10N30", 30, pct="2", days=10)
    # 2 % of 123,475 JPY = 2,469.5 → 2,470 (JPY has no minor unit)
    assert two_ten.discount_amount(Decimal("123475"), "JPY") == Decimal("2470")
    # 2 % of 123,425 = 2,468.5 → 2,469: half-up, never half-even
    assert two_ten.discount_amount(Decimal("123425"), "JPY") == Decimal("2469")


def test_discount_in_forint_uses_its_iso_minor_unit():
    one_fifteen = terms("1/15N45", 45, pct="1", days=15)
    # ISO 4217 gives HUF two decimals: 1 % of 98,765.50 = 987.655 → 987.66
    assert one_fifteen.discount_amount(Decimal("98765.50"), "HUF") == Decimal("987.66")
    assert one_fifteen.discount_date(dt.date(2028, 2, 20)) == dt.date(2028, 3, 6)
    assert one_fifteen.due_date(dt.date(2028, 2, 20)) == dt.date(2028, 4, 5)


def test_end_of_month_discount_window_starts_at_month_end_too():
    eom = terms("2/10EOM", 30, pct="2", days=10, eom=True)
    assert eom.discount_date(dt.date(2026, 12, 5)) == dt.date(2027, 1, 10)


def test_net_terms_have_no_discount():
    net = terms("NET45", 45)
    assert net.discount_date(dt.date(2026, 3, 1)) is None
    schedule = selectors.terms_schedule(
        net, invoice_date=dt.date(2026, 3, 1), amount=Decimal("100"), currency="EUR"
    )
    assert schedule.discount_amount == Decimal("0")


def test_terms_schedule_api(client, people):
    two_ten = terms("2/10N30", 30, pct="2", days=10)
    client.force_login(people["buyer"])
    response = client.get(
        f"/api/payment-terms/{two_ten.pk}/schedule/",
        {"invoice_date": "2028-02-19", "amount": "1000.00", "currency": "EUR"},
    )
    assert response.status_code == 200
    assert response.json() == {
        "due_date": "2028-03-20",
        "discount_date": "2028-02-29",
        "discount_amount": "20.00",
        "amount_if_discounted": "980.00",
    }
    bad = client.get(
        f"/api/payment-terms/{two_ten.pk}/schedule/",
        {"invoice_date": "2028-02-19", "amount": "1000", "currency": "XAU"},
    )
    assert bad.status_code == 400 and "currency code" in bad.json()["detail"]


def test_a_discount_window_longer_than_the_net_period_is_refused():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        terms("BAD", 10, pct="2", days=30)


def test_a_po_overrides_the_vendor_terms_and_the_invoice_inherits_them(people, setup_org):
    from procurement.services.approvals import approval_decide
    from procurement.services.orders import po_create_from_request, po_issue
    from procurement.services.requests import LineInput, request_create, request_submit
    from tests import factories
    from tests.flow import invoice, receive

    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")  # defaults to Net 30
    request = request_create(
        by=people["requester"],
        title="Copy paper",
        category="goods",
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        lines=[LineInput("A4 copy paper", Decimal("40"), Decimal("23.50"))],
    )
    request_submit(request=request, by=people["requester"])
    step = request.approvals.get(status="pending")
    approval_decide(step=step, by=people["approver"], decision="approve")
    request.refresh_from_db()
    po = po_create_from_request(
        request=request,
        vendor=vendor,
        by=people["buyer"],
        payment_terms=factories.two_ten_net30(),
    )
    po = po_issue(po=po, by=people["buyer"])
    receive(po, people, {1: "40"})
    billed = invoice(po, people, "KVD-31", {1: ("40", "23.50")}, invoice_date=dt.date(2027, 1, 31))
    assert billed.due_date == dt.date(2027, 3, 2)
    assert billed.discount_date == dt.date(2027, 2, 10)
    assert billed.discount_amount == Decimal("22.75")  # 2 % of 1,137.40, half-up
