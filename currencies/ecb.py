"""Reader for the European Central Bank's euro reference-rate XML.

The daily file (eurofxref-daily.xml) and the historical ones (eurofxref-hist.xml,
eurofxref-hist-90d.xml) share one format: a `gesmes:Envelope` whose eurofxref `Cube` holds
one `Cube time="YYYY-MM-DD"` per day, each with one `Cube currency="USD" rate="1.0823"` per
currency, every rate meaning 1 EUR = rate currency. This reads the format, not one file:
any number of days, any currencies. Untrusted input: no DTD, no entities, bounded size.
"""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from currencies.models import RATE_DIGITS, RATE_PLACES, rate_fits
from p2p.exceptions import DomainError
from p2p.xml import parse_untrusted

GESMES = "http://www.gesmes.org/xml/2002-08-01"
EUROFXREF = "http://www.ecb.int/vocabulary/2002-08-01/eurofxref"
CUBE = f"{{{EUROFXREF}}}Cube"
ENVELOPE = f"{{{GESMES}}}Envelope"
ECB_BASE = "EUR"
# The full history since 1999 is about 6 MB; anything far beyond is not an ECB file.
MAX_FILE_BYTES = 32 * 1024 * 1024
_CURRENCY = re.compile(r"[A-Z]{3}")


@dataclass(frozen=True)
class EcbRate:
    """One published rate: 1 EUR = rate quote_currency on rate_date."""

    rate_date: dt.date
    quote_currency: str
    rate: Decimal


def read_ecb_xml(data: bytes) -> list[EcbRate]:
    """Every rate of the file, in file order; DomainError naming what and where if not."""
    if len(data) > MAX_FILE_BYTES:
        raise DomainError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; ECB rate files above "
            f"{MAX_FILE_BYTES // 1024 // 1024} MB are refused."
        )
    root = _parse(data)
    if root.tag != ENVELOPE:
        raise DomainError(
            "This is not an ECB reference-rate file: its root element is not gesmes:Envelope."
        )
    outer = root.find(CUBE)
    if outer is None:
        raise DomainError("The file has no Cube element: it holds no rates.")
    days = outer.findall(CUBE)
    if not days:
        raise DomainError("The file's Cube holds no day (Cube time=...): it holds no rates.")
    rates: list[EcbRate] = []
    seen_days: set[dt.date] = set()
    for day_number, day in enumerate(days, start=1):
        rate_date = _day(day, day_number)
        if rate_date in seen_days:
            raise DomainError(f"Day {rate_date:%Y-%m-%d} appears twice in the file.")
        seen_days.add(rate_date)
        seen_currencies: set[str] = set()
        entries = day.findall(CUBE)
        if not entries:
            raise DomainError(f"Day {rate_date:%Y-%m-%d} of the file lists no currency.")
        for entry in entries:
            rate = _rate(entry, rate_date)
            if rate.quote_currency in seen_currencies:
                raise DomainError(f"{rate.quote_currency} appears twice on {rate_date:%Y-%m-%d}.")
            seen_currencies.add(rate.quote_currency)
            rates.append(rate)
    return rates


def _parse(data: bytes) -> Element:
    return parse_untrusted(data, kind="ECB rate files")


def _day(day: Element, day_number: int) -> dt.date:
    text = (day.get("time") or "").strip()
    if not text:
        raise DomainError(f"Day {day_number} of the file has no time attribute.")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DomainError(
            f"Day {day_number} of the file has the date '{text}', not a YYYY-MM-DD date."
        ) from None


def _rate(entry: Element, rate_date: dt.date) -> EcbRate:
    where = f"on {rate_date:%Y-%m-%d}"
    currency = (entry.get("currency") or "").strip()
    if not _CURRENCY.fullmatch(currency):
        raise DomainError(
            f"The currency '{currency}' {where} is not an ISO 4217 code of three capital letters."
        )
    if currency == ECB_BASE:
        raise DomainError(f"The file quotes EUR against itself {where}.")
    text = (entry.get("rate") or "").strip()
    try:
        # From the attribute's text, never through float: '1.0823' stays exactly 1.0823.
        rate = Decimal(text)
    except InvalidOperation:
        raise DomainError(f"The {currency} rate {where} is '{text}', not a number.") from None
    if not rate.is_finite() or rate <= 0:
        raise DomainError(f"The {currency} rate {where} is '{text}'; a rate must be above zero.")
    if not rate_fits(rate):
        raise DomainError(
            f"The {currency} rate {where} is '{text}': more digits than a rate keeps "
            f"({RATE_DIGITS - RATE_PLACES} before the point, {RATE_PLACES} after)."
        )
    return EcbRate(rate_date=rate_date, quote_currency=currency, rate=rate)
