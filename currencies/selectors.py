"""Exchange-rate reads: the lookup rule every amount in another currency goes through."""

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db.models import Q, QuerySet

from currencies.ecb import ECB_BASE
from currencies.models import RATE_DIGITS, RATE_PLACES, RATE_STEP, ExchangeRate
from p2p.exceptions import DomainError
from p2p.money import round_money

_CURRENCY = re.compile(r"[A-Z]{3}")
ONE = Decimal(1)
_LARGEST_RATE = Decimal(10) ** (RATE_DIGITS - RATE_PLACES)
# Amounts are stored as (18, 2): a converted amount must fit that column.
_LARGEST_AMOUNT = Decimal("9999999999999999.99")


def _code(currency: str) -> str:
    if not _CURRENCY.fullmatch(currency):
        raise DomainError(f"'{currency}' is not an ISO 4217 code of three capital letters.")
    return currency


def _leg(base: str, quote: str, on: dt.date, since: dt.date) -> Decimal | None:
    """1 base in quote from the newest row of the pair either way round, unrounded; or None.

    Each direction is one probe of the (base, quote, date) key; the newer row wins, and on the
    same day the row stated in the asked direction. An inverse is 1 / rate at the context's 28
    significant digits and is only rounded once, at the end of `rate`.
    """
    pairs = ExchangeRate.objects.all()
    direct = pairs.for_pair(base, quote).latest_on(on, since)
    inverse = pairs.for_pair(quote, base).latest_on(on, since)
    if direct is not None and (inverse is None or direct.rate_date >= inverse.rate_date):
        return direct.rate
    if inverse is not None:
        return ONE / inverse.rate
    return None


def rate(base: str, quote: str, on: dt.date) -> Decimal:
    """How many `quote` one `base` buys on `on`, by the lookup rule; DomainError if none.

    The rate dated `on`, else the newest earlier one within FX_RATE_MAX_AGE_DAYS (weekends
    and holidays have no ECB rate), stated either way round. A pair with no rate of its own
    is crossed through EUR, the ECB's base: GBP→USD = (EUR→USD) / (EUR→GBP), each leg found
    by the same rule.
    """
    base, quote = _code(base), _code(quote)
    if base == quote:
        return ONE
    max_age = dt.timedelta(days=settings.FX_RATE_MAX_AGE_DAYS)
    since = on - max_age if on - dt.date.min > max_age else dt.date.min
    found = _leg(base, quote, on, since)
    if found is None and ECB_BASE not in (base, quote):
        in_base = _leg(ECB_BASE, base, on, since)
        in_quote = _leg(ECB_BASE, quote, on, since) if in_base is not None else None
        if in_base is not None and in_quote is not None:
            found = in_quote / in_base
    if found is None:
        raise DomainError(f"No {base}→{quote} rate for {on:%Y-%m-%d}: import rates or enter one.")
    if not RATE_STEP <= found < _LARGEST_RATE:
        # Only a cross of two extreme manual rates gets here; no currency pair is that far apart.
        raise DomainError(
            f"The {base}→{quote} rate for {on:%Y-%m-%d} works out at {found:.6E}, outside what a "
            "rate can be; check the rates it is crossed from."
        )
    # Inverse and cross rates keep the column's twelve decimals, rounded half-up once: a
    # document that stores the rate it used stores exactly the number it was converted with,
    # and twelve places leave even the smallest inverse (1 / IDR) eight significant digits,
    # more than the ECB's own five or six.
    return found.quantize(RATE_STEP, rounding=ROUND_HALF_UP)


def convert(amount: Decimal, from_ccy: str, to_ccy: str, on: dt.date) -> Decimal:
    """`amount` in `from_ccy` expressed in `to_ccy` on `on`, rounded to its minor unit."""
    exact = amount * rate(from_ccy, to_ccy, on)
    # Checked before rounding, which would overflow the decimal context on a huge product.
    if abs(exact) > _LARGEST_AMOUNT:
        raise DomainError(f"{amount} {from_ccy} in {to_ccy} is too large for an amount.")
    return round_money(exact, to_ccy)


@dataclass(frozen=True)
class RatePage:
    """One page of the rates list and the key of its last row, for the next page."""

    rows: list[ExchangeRate]
    next_key: str


def rate_list_queryset() -> QuerySet[ExchangeRate]:
    """Rates newest day first, currencies alphabetically, with who entered the manual ones."""
    return ExchangeRate.objects.select_related("entered_by").order_by(
        "-rate_date", "quote_currency", "base_currency"
    )


def rate_page(rates: QuerySet[ExchangeRate], after: str, size: int) -> RatePage:
    """The `size` rates after the key `after` ('' for the first page), seeking by the list's
    order (date, quote, base) rather than counting past an offset: the table gains some thirty
    rows every working day and keeps them forever."""
    key = _parse_key(after)
    if key is not None:
        day, quote, base = key
        rates = rates.filter(
            Q(rate_date__lt=day)
            | Q(rate_date=day, quote_currency__gt=quote)
            | Q(rate_date=day, quote_currency=quote, base_currency__gt=base)
        )
    rows = list(rates[: size + 1])
    last = rows[size - 1] if len(rows) > size else None
    next_key = (
        f"{last.rate_date:%Y-%m-%d}.{last.quote_currency}.{last.base_currency}" if last else ""
    )
    return RatePage(rows=rows[:size], next_key=next_key)


def _parse_key(after: str) -> tuple[dt.date, str, str] | None:
    """A key from a link ('2026-11-03.USD.EUR'); a mangled one starts from the first page."""
    parts = after.split(".")
    if len(parts) != 3 or not all(_CURRENCY.fullmatch(code) for code in parts[1:]):
        return None
    try:
        return dt.date.fromisoformat(parts[0]), parts[1], parts[2]
    except ValueError:
        return None
