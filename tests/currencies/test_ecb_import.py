"""The ECB reference-rate files: read by format, refused with the reason, imported idempotently."""

import datetime as dt
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from currencies import ecb, services
from currencies.models import ExchangeRate
from p2p.exceptions import DomainError
from tests.currencies.conftest import DAILY, DAILY_DAY, HISTORY, ecb_file


def test_reader_reads_the_daily_file_as_decimals():
    rates = ecb.read_ecb_xml(DAILY.read_bytes())

    assert len(rates) == 30
    assert {rate.rate_date for rate in rates} == {DAILY_DAY}
    by_currency = {rate.quote_currency: rate.rate for rate in rates}
    assert by_currency["USD"] == Decimal("1.0823")
    assert by_currency["IDR"] == Decimal("17089.85")
    assert all(isinstance(rate, Decimal) for rate in by_currency.values())


def test_reader_reads_every_day_of_a_historical_file():
    rates = ecb.read_ecb_xml(HISTORY.read_bytes())

    assert len(rates) == 15
    assert sorted({rate.rate_date for rate in rates}) == [
        dt.date(2026, 10, 28),
        dt.date(2026, 10, 29),
        dt.date(2026, 10, 30),
    ]


def test_reader_takes_any_currency_and_keeps_the_text_exactly():
    rates = ecb.read_ecb_xml(ecb_file({"2026-01-05": {"XAU": "0.000412345678", "ABC": "3"}}))

    assert [(r.quote_currency, r.rate) for r in rates] == [
        ("XAU", Decimal("0.000412345678")),
        ("ABC", Decimal("3")),
    ]


@pytest.mark.django_db
def test_daily_import_stores_every_rate_against_eur(daily_rates):
    assert daily_rates.summary() == "1 day (2026-11-03): 30 new, 0 unchanged, 0 changed"
    usd = ExchangeRate.objects.get(quote_currency="USD")
    assert (usd.base_currency, usd.rate_date, usd.rate, usd.source) == (
        "EUR",
        DAILY_DAY,
        Decimal("1.0823"),
        ExchangeRate.Source.ECB,
    )
    assert usd.entered_by is None


@pytest.mark.django_db
def test_import_is_idempotent(history_rates):
    again = services.ecb_rates_import(data=HISTORY.read_bytes(), by=None)

    assert (history_rates.new, history_rates.unchanged) == (15, 0)
    assert (again.days, again.new, again.unchanged, again.changed) == (3, 0, 15, 0)
    assert ExchangeRate.objects.count() == 15


@pytest.mark.django_db
def test_import_corrects_a_changed_rate_and_adds_new_ones(history_rates):
    corrected = ecb_file({"2026-10-30": {"USD": "1.0795", "JPY": "160.87", "NOK": "11.7"}})

    result = services.ecb_rates_import(data=corrected, by=None)

    assert (result.new, result.unchanged, result.changed) == (1, 1, 1)
    assert ExchangeRate.objects.get(
        quote_currency="USD", rate_date=dt.date(2026, 10, 30)
    ).rate == Decimal("1.0795")


@pytest.mark.django_db
def test_import_keeps_a_rate_entered_by_hand(ngn_rate):
    result = services.ecb_rates_import(data=ecb_file({"2026-10-30": {"NGN": "1600"}}), by=None)

    assert (result.new, result.kept_manual) == (0, 1)
    assert ExchangeRate.objects.get(quote_currency="NGN").rate == Decimal("1650.25")


HOSTILE = {
    "external entity": b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01">&x;</gesmes:Envelope>',
    "entity bomb": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>',
    "bare DTD": b'<?xml version="1.0"?><!DOCTYPE gesmes:Envelope SYSTEM "http://example.com/x.dtd">'
    b'<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"/>',
}


@pytest.mark.django_db
@pytest.mark.parametrize("data", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_xml_is_refused_unread(data):
    with pytest.raises(DomainError, match="DTD or entities"):
        services.ecb_rates_import(data=data, by=None)
    assert not ExchangeRate.objects.exists()


MALFORMED = {
    "not xml": (b"USD;1.0823", "not well-formed XML (line 1"),
    "another format": (b"<Invoice/>", "root element is not gesmes:Envelope"),
    "no cube": (ecb_file({}).replace(b"<Cube></Cube>", b""), "no Cube element"),
    "no day": (ecb_file({}), "holds no day"),
    "bad date": (
        ecb_file({"2026-10-30": {"USD": "1.0791"}, "2026-02-30": {"USD": "1.07"}}),
        "Day 2 of the file has the date '2026-02-30', not a YYYY-MM-DD date",
    ),
    "non-numeric rate": (
        ecb_file({"2026-10-30": {"USD": "1.0791", "JPY": "n/a"}}),
        "The JPY rate on 2026-10-30 is 'n/a', not a number",
    ),
    "zero rate": (
        ecb_file({"2026-10-30": {"USD": "0"}}),
        "The USD rate on 2026-10-30 is '0'; a rate must be above zero",
    ),
    "negative rate": (ecb_file({"2026-10-30": {"USD": "-1.08"}}), "must be above zero"),
    "lower-case currency": (
        ecb_file({"2026-10-30": {"usd": "1.0791"}}),
        "The currency 'usd' on 2026-10-30 is not an ISO 4217 code",
    ),
    "four-letter currency": (ecb_file({"2026-10-30": {"USDT": "1.0"}}), "'USDT' on 2026-10-30"),
    "too many decimals": (
        ecb_file({"2026-10-30": {"USD": "1.0000000000001"}}),
        "more digits than a rate keeps",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize(("data", "message"), MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_file_is_refused_naming_the_problem_and_writes_nothing(data, message):
    with pytest.raises(DomainError) as refused:
        services.ecb_rates_import(data=data, by=None)

    assert message in refused.value.message
    assert not ExchangeRate.objects.exists()


@pytest.mark.django_db
def test_a_bad_day_late_in_a_file_leaves_the_table_as_it_was(history_rates):
    bad = ecb_file({"2026-10-30": {"USD": "9.99"}, "2026-11-02": {"USD": "x"}})

    with pytest.raises(DomainError, match="'x', not a number"):
        services.ecb_rates_import(data=bad, by=None)

    assert ExchangeRate.objects.count() == 15
    assert ExchangeRate.objects.filter(rate=Decimal("9.99")).count() == 0


@pytest.mark.django_db
def test_command_imports_a_file_and_reports_the_counts():
    out = StringIO()
    call_command("import_ecb_rates", str(HISTORY), stdout=out)
    call_command("import_ecb_rates", str(HISTORY), stdout=out)

    assert "3 days (2026-10-28 to 2026-10-30): 15 new, 0 unchanged, 0 changed" in out.getvalue()
    assert "0 new, 15 unchanged, 0 changed" in out.getvalue()


@pytest.mark.django_db
def test_command_refuses_a_bad_file_with_the_reason(tmp_path):
    bad = tmp_path / "rates.xml"
    bad.write_bytes(ecb_file({"2026-10-30": {"USD": "abc"}}))

    with pytest.raises(CommandError, match="rates.xml: The USD rate on 2026-10-30 is 'abc'"):
        call_command("import_ecb_rates", str(bad))
