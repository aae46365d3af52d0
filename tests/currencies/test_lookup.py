"""The lookup rule: the day's rate, else the newest earlier one within the limit, else a refusal."""

import datetime as dt
from decimal import Decimal

import pytest

from currencies import services
from currencies.selectors import convert, rate
from p2p.exceptions import DomainError
from tests.currencies.conftest import DAILY_DAY, ecb_file

pytestmark = pytest.mark.django_db

FRIDAY = dt.date(2026, 10, 30)
SATURDAY = dt.date(2026, 10, 31)


def test_rate_on_the_day(daily_rates):
    assert rate("EUR", "USD", DAILY_DAY) == Decimal("1.0823")


def test_weekend_takes_fridays_rate(history_rates):
    assert rate("EUR", "USD", SATURDAY) == Decimal("1.0791")
    assert rate("EUR", "USD", SATURDAY + dt.timedelta(days=1)) == Decimal("1.0791")


def test_a_rate_older_than_the_limit_is_refused_with_the_message(history_rates, settings):
    settings.FX_RATE_MAX_AGE_DAYS = 3

    assert rate("EUR", "GBP", FRIDAY + dt.timedelta(days=3)) == Decimal("0.84702")
    with pytest.raises(DomainError) as refused:
        rate("GBP", "EUR", DAILY_DAY)
    assert refused.value.message == "No GBP→EUR rate for 2026-11-03: import rates or enter one."


def test_no_rate_before_the_first_one(history_rates):
    with pytest.raises(DomainError, match="No EUR→USD rate for 2026-10-27"):
        rate("EUR", "USD", dt.date(2026, 10, 27))


def test_same_currency_is_one_without_any_rate():
    assert rate("JPY", "JPY", DAILY_DAY) == Decimal(1)
    assert convert(Decimal("1234.56"), "GBP", "GBP", DAILY_DAY) == Decimal("1234.56")


def test_inverse_pair_is_computed(daily_rates):
    # 1 / 1.0823 = 0.923958237087...; twelve places, half-up.
    assert rate("USD", "EUR", DAILY_DAY) == Decimal("0.923958237088")


def test_cross_rate_goes_through_eur(daily_rates):
    # (EUR→USD) / (EUR→GBP) = 1.0823 / 0.84915 = 1.2745686863333...; the other way round
    # 0.84915 / 1.0823 = 0.7845791370230...
    assert rate("GBP", "USD", DAILY_DAY) == Decimal("1.274568686333")
    assert rate("USD", "GBP", DAILY_DAY) == Decimal("0.784579137023")


def test_cross_rate_legs_follow_the_same_rule(history_rates):
    services.ecb_rates_import(data=ecb_file({"2026-11-02": {"USD": "1.0800"}}), by=None)

    # Monday: USD has Monday's rate, GBP only Friday's; both are within the limit.
    assert rate("GBP", "USD", dt.date(2026, 11, 2)) == (
        (Decimal("1.0800") / Decimal("0.84702")).quantize(Decimal("1e-12"))
    )


def test_cross_rate_refused_when_one_leg_is_missing(daily_rates):
    with pytest.raises(DomainError, match="No GBP→NGN rate for 2026-11-03"):
        rate("GBP", "NGN", DAILY_DAY)


def test_a_manual_pair_is_used_directly_and_inverted(people):
    services.manual_rate_enter(
        rate_date=FRIDAY,
        base_currency="USD",
        quote_currency="ARS",
        rate=Decimal("1015.5"),
        reason="BCRA official rate",
        by=people["finance_leader"],
    )

    assert rate("USD", "ARS", SATURDAY) == Decimal("1015.5")
    assert rate("ARS", "USD", SATURDAY) == Decimal("0.000984736583")


def test_convert_rounds_half_up_to_the_target_currencys_minor_unit(daily_rates):
    # 100 USD = 100 / 1.0823 EUR = 92.3958... EUR; 1,000 EUR = 161,230 JPY exactly.
    assert convert(Decimal("100.00"), "USD", "EUR", DAILY_DAY) == Decimal("92.40")
    assert convert(Decimal("999.99"), "EUR", "JPY", DAILY_DAY) == Decimal("161228.00")
    assert convert(Decimal("10.00"), "GBP", "USD", DAILY_DAY) == Decimal("12.75")


def test_convert_refuses_an_amount_too_large_to_store(daily_rates):
    with pytest.raises(DomainError, match="too large"):
        convert(Decimal("9999999999999999.99"), "EUR", "IDR", DAILY_DAY)


def test_codes_must_be_iso_letters():
    with pytest.raises(DomainError, match="'usd' is not an ISO 4217 code"):
        rate("usd", "EUR", DAILY_DAY)
