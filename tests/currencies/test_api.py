"""The rates API: the table (read, manual rates in) and the conversion lookup."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from currencies import services
from currencies.models import ExchangeRate
from p2p.models import AuditAction, AuditEvent
from tests.currencies.conftest import DAILY, NGN_RATE

pytestmark = pytest.mark.django_db

RATES = "/api/rates/"
CONVERT = "/api/rates/convert/"


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_list_filters_by_currency_and_date(people, daily_rates, history_rates):
    answer = api(people["ap_clerk"]).get(RATES, {"currency": "GBP", "date": "2026-10-29"})

    assert answer.status_code == 200
    (gbp,) = answer.json()["results"]
    assert (gbp["base_currency"], gbp["quote_currency"], gbp["rate"], gbp["source"]) == (
        "EUR",
        "GBP",
        "0.846550000000",
        "ecb",
    )


def test_list_queries_stay_constant(people, history_rates):
    client = api(people["ap_clerk"])
    client.get(RATES)  # the user's roles are read once and kept on the user
    with CaptureQueriesContext(connection) as few:
        client.get(RATES)
    services.ecb_rates_import(data=DAILY.read_bytes(), by=None)
    with CaptureQueriesContext(connection) as many:
        client.get(RATES)

    assert len(many) == len(few)


def test_convert_answers_the_rate_and_the_amount(people, daily_rates):
    answer = api(people["buyer"]).get(
        CONVERT, {"from": "GBP", "to": "EUR", "date": "2026-11-04", "amount": "250.00"}
    )

    assert answer.status_code == 200
    assert answer.json() == {
        "from_currency": "GBP",
        "to_currency": "EUR",
        "date": "2026-11-04",
        "rate": "1.177648236472",
        "amount": "250.00",
        "converted_amount": "294.41",
    }


def test_convert_without_a_rate_is_a_400_with_the_message(people, daily_rates):
    answer = api(people["buyer"]).get(CONVERT, {"from": "GBP", "to": "NGN", "date": "2026-11-03"})

    assert answer.status_code == 400
    assert answer.json() == {"detail": "No GBP→NGN rate for 2026-11-03: import rates or enter one."}


def test_convert_checks_its_input(people):
    answer = api(people["buyer"]).get(CONVERT, {"from": "gbp", "date": "03-11-2026"})

    assert answer.status_code == 400
    assert set(answer.json()) == {"from", "to", "date"}


def test_manual_rate_through_the_api_is_audited(people):
    answer = api(people["finance_leader"]).post(RATES, NGN_RATE, format="json")

    assert answer.status_code == 201, answer.json()
    assert answer.json()["entered_by"] == "fiona"
    rate = ExchangeRate.objects.get(pk=answer.json()["id"])
    assert rate.rate == Decimal("1650.25")
    assert AuditEvent.objects.for_object(rate).get().action == AuditAction.RATE_ENTERED


def test_a_requester_gets_403_everywhere(people, daily_rates):
    client = api(people["requester"])

    assert client.get(RATES).status_code == 403
    assert (
        client.get(CONVERT, {"from": "GBP", "to": "EUR", "date": "2026-11-03"}).status_code == 403
    )
    assert client.post(RATES, {}, format="json").status_code == 403


def test_a_clerk_reads_but_cannot_enter_rates(people):
    answer = api(people["ap_clerk"]).post(RATES, NGN_RATE, format="json")

    assert answer.status_code == 403
    assert not ExchangeRate.objects.exists()
