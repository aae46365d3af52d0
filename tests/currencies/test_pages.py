"""The rates pages: list with filters and pages, the ECB upload and a manual rate, by role."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from currencies import services, views
from currencies.models import ExchangeRate
from p2p.models import AuditAction, AuditEvent
from tests.currencies.conftest import DAILY, HISTORY, NGN_RATE, ecb_file

pytestmark = pytest.mark.django_db

LIST = reverse("currencies:rate_list")
IMPORT = reverse("currencies:rate_import")
MANUAL = reverse("currencies:rate_manual")


def test_list_shows_rates_as_people_read_them(client, people, daily_rates):
    client.force_login(people["ap_clerk"])

    page = client.get(LIST).content.decode()

    assert "1 EUR = 1.0823 USD" in page
    assert "1 USD = 0.923958 EUR" in page
    assert "1 EUR = 17089.85 IDR" in page
    # A clerk reads rates but neither imports nor enters them.
    assert IMPORT not in page and MANUAL not in page


def test_list_filters_by_currency_and_dates(client, people, daily_rates, history_rates):
    client.force_login(people["finance_leader"])

    page = client.get(LIST, {"currency": "usd", "date_to": "2026-10-29"}).content.decode()

    assert "1 EUR = 1.0774 USD" in page and "1 EUR = 1.0802 USD" in page
    assert "1.0791" not in page and "JPY" not in page


def test_list_refuses_a_bad_date_filter_with_a_message(client, people, daily_rates):
    client.force_login(people["finance_leader"])

    page = client.get(LIST, {"date_from": "yesterday"}).content.decode()

    assert "Enter a valid date." in page and "1.0823" not in page


def test_list_pages_by_key(client, people, daily_rates, history_rates, monkeypatch):
    monkeypatch.setattr(views, "PAGE_SIZE", 20)
    client.force_login(people["finance_leader"])

    pages = [client.get(LIST).context["page"]]
    while pages[-1].next_key:
        pages.append(client.get(LIST, {"after": pages[-1].next_key}).context["page"])

    assert [len(page.rows) for page in pages] == [20, 20, 5]
    rows = [rate for page in pages for rate in page.rows]
    assert [r.pk for r in rows] == list(
        ExchangeRate.objects.order_by("-rate_date", "quote_currency").values_list("pk", flat=True)
    )


def test_list_runs_the_same_queries_for_few_and_many_rates(client, people, ngn_rate):
    client.force_login(people["ap_clerk"])
    services.ecb_rates_import(data=ecb_file({"2026-10-30": {"USD": "1.0791"}}), by=None)
    with CaptureQueriesContext(connection) as few:
        client.get(LIST)
    services.ecb_rates_import(data=DAILY.read_bytes(), by=None)
    services.ecb_rates_import(data=HISTORY.read_bytes(), by=None)
    with CaptureQueriesContext(connection) as many:
        client.get(LIST)

    assert len(many) == len(few)


def test_upload_imports_the_file_and_shows_the_counts(client, people):
    client.force_login(people["ap_manager"])
    upload = SimpleUploadedFile("eurofxref-daily.xml", DAILY.read_bytes(), "text/xml")

    page = client.post(IMPORT, {"file": upload}).content.decode()

    assert "eurofxref-daily.xml: 1 day (2026-11-03): 30 new, 0 unchanged, 0 changed." in page
    assert ExchangeRate.objects.count() == 30


def test_upload_of_a_bad_file_shows_why_and_writes_nothing(client, people):
    client.force_login(people["finance_leader"])
    bad = ecb_file({"2026-10-30": {"USD": "1,0791"}})

    page = client.post(IMPORT, {"file": SimpleUploadedFile("rates.xml", bad)}).content.decode()

    assert "The USD rate on 2026-10-30 is &#x27;1,0791&#x27;, not a number." in page
    assert "Nothing was imported." in page
    assert not ExchangeRate.objects.exists()


def test_manual_rate_page_records_and_audits(client, people):
    client.force_login(people["finance_leader"])

    answer = client.post(MANUAL, NGN_RATE)

    assert answer.status_code == 302 and answer["Location"] == f"{LIST}?currency=NGN"
    rate = ExchangeRate.objects.get()
    assert AuditEvent.objects.for_object(rate).get().action == AuditAction.RATE_ENTERED
    page = client.get(answer["Location"]).content.decode()
    assert "1 EUR = 1650.25 NGN" in page and "CBN official rate" in page


def test_manual_rate_page_shows_a_refusal(client, people, daily_rates):
    client.force_login(people["finance_leader"])

    usd = {**NGN_RATE, "rate_date": "2026-11-03", "quote_currency": "USD", "rate": "1.1"}

    page = client.post(MANUAL, usd).content.decode()

    assert "publishes EUR→USD for 2026-11-03" in page


@pytest.mark.parametrize("url", [LIST, IMPORT, MANUAL])
def test_a_requester_is_refused_every_rates_page(client, people, url):
    client.force_login(people["requester"])

    assert client.get(url).status_code == 403


@pytest.mark.parametrize("role", ["ap_clerk", "buyer", "approver"])
def test_readers_cannot_import_or_enter_rates(client, people, role):
    client.force_login(people[role])
    upload = SimpleUploadedFile("eurofxref-daily.xml", DAILY.read_bytes())

    assert client.post(IMPORT, {"file": upload}).status_code == 403
    assert client.get(MANUAL).status_code == 403
    assert not ExchangeRate.objects.exists()
