"""What the dashboard is drawn for: the period and its trend weeks, the drill-down links,
the exception owners and the resolve-time measures.
"""

import datetime as dt
from dataclasses import dataclass

from metrics import selectors
from metrics.drilldown import exceptions_url, invoices_url
from metrics.selectors import monday
from payables.models import InvoiceException

TREND_WEEKS = 13
OWNERS = tuple(InvoiceException.Owner.choices)
RESOLVE_MEASURES = tuple(selectors.RESOLVE_MEASURES.values())


@dataclass(frozen=True)
class Period:
    """The chosen period, the equally long one before it, and the 13 trend weeks."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous_end(self) -> dt.date:
        return self.start - dt.timedelta(days=1)

    @property
    def previous_start(self) -> dt.date:
        return self.start - dt.timedelta(days=self.days)

    @property
    def weeks(self) -> list[dt.date]:
        """The Mondays of the 13 weeks ending with the week of `end`."""
        last = monday(self.end)
        return [last - dt.timedelta(weeks=TREND_WEEKS - 1 - n) for n in range(TREND_WEEKS)]

    def week_end(self, week: dt.date) -> dt.date:
        return min(week + dt.timedelta(days=6), self.end)

    @property
    def first_day(self) -> dt.date:
        return min(self.previous_start, self.weeks[0])


@dataclass(frozen=True)
class Links:
    """Builds drill-down URLs for one period and filter set, or none for those who may not."""

    scope_params: dict[str, str]
    start: dt.date
    end: dt.date
    invoices: bool
    exceptions: bool

    def invoice(self, event: str, part: str = "all", **extra: object) -> str:
        if not self.invoices:
            return ""
        params = {"event": event, "part": part, "start": self.start, "end": self.end, **extra}
        return invoices_url(self.scope_params, **params)

    def exception(self, event: str, **extra: object) -> str:
        if not self.exceptions:
            return ""
        params = {"event": event, "start": self.start, "end": self.end, **extra}
        return exceptions_url(self.scope_params, **params)

    def for_period(self, start: dt.date, end: dt.date) -> "Links":
        return Links(self.scope_params, start, end, self.invoices, self.exceptions)
