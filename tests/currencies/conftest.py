import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from currencies import services

FIXTURES = Path(__file__).parent / "fixtures"
DAILY = FIXTURES / "eurofxref-daily.xml"
HISTORY = FIXTURES / "eurofxref-hist-extract.xml"
# The daily file's day, a Tuesday; the history extract covers Wed 28 to Fri 30 October.
DAILY_DAY = dt.date(2026, 11, 3)


def ecb_file(days: dict[str, dict[str, str]]) -> bytes:
    """An ECB-format file with the given {day: {currency: rate}} (the text exactly as given)."""
    cubes = "".join(
        f'<Cube time="{day}">'
        + "".join(f'<Cube currency="{ccy}" rate="{rate}"/>' for ccy, rate in rates.items())
        + "</Cube>"
        for day, rates in days.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" '
        'xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">'
        "<gesmes:subject>Reference rates</gesmes:subject>"
        f"<Cube>{cubes}</Cube></gesmes:Envelope>"
    ).encode()


@pytest.fixture
def daily_rates(db):
    return services.ecb_rates_import(data=DAILY.read_bytes(), by=None)


@pytest.fixture
def history_rates(db):
    return services.ecb_rates_import(data=HISTORY.read_bytes(), by=None)


# A rate the ECB does not publish, as finance would enter it (also the API's and form's input).
NGN_RATE = {
    "rate_date": "2026-10-30",
    "base_currency": "EUR",
    "quote_currency": "NGN",
    "rate": "1650.25",
    "reason": "CBN official rate",
}


@pytest.fixture
def ngn_rate(people):
    return services.manual_rate_enter(
        **{**NGN_RATE, "rate_date": dt.date(2026, 10, 30), "rate": Decimal(NGN_RATE["rate"])},
        by=people["finance_leader"],
    )
