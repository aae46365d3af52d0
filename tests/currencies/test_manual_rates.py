"""Rates entered by hand: for pairs the ECB lacks, with a reason, in the audit trail."""

import datetime as dt
from decimal import Decimal

import pytest

from currencies import services
from currencies.models import ExchangeRate
from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditAction, AuditEvent
from tests.currencies.conftest import DAILY_DAY

pytestmark = pytest.mark.django_db


def enter(by, **overrides):
    values = {
        "rate_date": DAILY_DAY,
        "base_currency": "EUR",
        "quote_currency": "NGN",
        "rate": Decimal("1650.25"),
        "reason": "CBN official rate",
    }
    return services.manual_rate_enter(by=by, **{**values, **overrides})


def test_manual_rate_is_stored_with_its_author_and_audited(people):
    fiona = people["finance_leader"]

    rate = enter(fiona, quote_currency="ngn")

    assert (rate.quote_currency, rate.source, rate.entered_by, rate.reason) == (
        "NGN",
        ExchangeRate.Source.MANUAL,
        fiona,
        "CBN official rate",
    )
    event = AuditEvent.objects.for_object(rate).get()
    assert (event.action, event.actor, event.changes, event.note) == (
        AuditAction.RATE_ENTERED,
        fiona,
        {"rate": "1650.25"},
        "CBN official rate",
    )


def test_entering_the_same_pair_and_day_again_corrects_it_audited(people):
    first = enter(people["finance_leader"])

    corrected = enter(people["ap_manager"], rate=Decimal("1648.1"), reason="CBN corrected")

    assert corrected.pk == first.pk
    assert (corrected.rate, corrected.entered_by) == (Decimal("1648.1"), people["ap_manager"])
    events = list(AuditEvent.objects.for_object(first).values_list("action", "changes"))
    assert events == [
        (AuditAction.RATE_ENTERED, {"rate": "1650.25"}),
        (AuditAction.RATE_CHANGED, {"rate": ["1650.25", "1648.1"]}),
    ]


@pytest.mark.parametrize("role", ["requester", "approver", "buyer", "ap_clerk"])
def test_only_finance_may_enter_a_rate(people, role):
    with pytest.raises(NotAllowed):
        enter(people[role])
    assert not ExchangeRate.objects.exists()


def test_a_pair_the_ecb_publishes_is_refused(people, daily_rates):
    with pytest.raises(DomainError, match="European Central Bank publishes EUR→USD"):
        enter(people["finance_leader"], quote_currency="USD", rate=Decimal("1.1"))


def test_the_opposite_direction_of_a_stored_rate_is_refused(people, daily_rates):
    with pytest.raises(DomainError, match="already a EUR→USD rate for 2026-11-03"):
        enter(people["finance_leader"], base_currency="USD", quote_currency="EUR")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"quote_currency": "XYZ"}, "'XYZ' is not an ISO 4217 currency code"),
        ({"quote_currency": "EUR"}, "two different currencies"),
        ({"rate": Decimal("0")}, "above zero"),
        ({"rate": Decimal("1.0000000000001")}, "more digits than a rate keeps"),
        ({"reason": "  "}, "Say where the rate comes from"),
        ({"rate_date": dt.date(2999, 1, 1)}, "not for a future one"),
    ],
)
def test_bad_manual_rates_are_refused(people, overrides, message):
    with pytest.raises(DomainError, match=message):
        enter(people["finance_leader"], **overrides)
    assert not AuditEvent.objects.exists()
