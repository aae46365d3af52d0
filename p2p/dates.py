"""Plausible document dates: one rule for every way a date enters the system."""

import datetime as dt

from django.conf import settings
from django.utils import timezone


def _years_from(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a year that has none
        return day.replace(year=day.year + years, day=28)


def implausible_date(value: dt.date, what: str = "The invoice date") -> str | None:
    """Why `value` cannot be a real document date, or None when it can.

    A date far from today is a typo (9999-12-31, 2062 for 2026); refusing it here also keeps
    it away from due-date and discount arithmetic, which would overflow near year 9999.
    """
    today = timezone.localdate()
    back, ahead = settings.INVOICE_DATE_YEARS_BACK, settings.INVOICE_DATE_YEARS_AHEAD
    if value < _years_from(today, -back):
        return f"{what} {value.isoformat()} is more than {back} years ago; check the year."
    if value > _years_from(today, ahead):
        years = "a year" if ahead == 1 else f"{ahead} years"
        return f"{what} {value.isoformat()} is more than {years} ahead; check the year."
    return None
