"""Rates as people read them: '1 EUR = 1.0823 USD'."""

from decimal import ROUND_HALF_UP, Decimal

from django import template

from currencies.models import ExchangeRate, plain_rate

register = template.Library()


@register.filter
def rate_pair(rate: ExchangeRate) -> str:
    """'1 EUR = 1.0823 USD', the rate without trailing zeros."""
    return f"1 {rate.base_currency} = {plain_rate(rate.rate)} {rate.quote_currency}"


@register.filter
def inverse_pair(rate: ExchangeRate) -> str:
    """'1 USD = 0.923961 EUR': the other way round, to six significant digits (display only)."""
    inverse = (1 / rate.rate).normalize()
    return f"1 {rate.quote_currency} = {plain_rate(_significant(inverse, 6))} {rate.base_currency}"


def _significant(number: Decimal, digits: int) -> Decimal:
    return number.quantize(Decimal(1).scaleb(number.adjusted() - digits + 1), ROUND_HALF_UP)
