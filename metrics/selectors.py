"""Dashboard reads: a few aggregate queries over the daily KPI facts, never over invoices.

Each query's cost depends on the number of fact rows in the period (days × vendors × cost
centers × buyers), not on how many invoices those days held.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncWeek

from metrics.models import DailyKpiFact

ZERO = Decimal("0")
COUNT_FIELDS = (
    "invoices_captured",
    "first_match_attempts",
    "first_pass_matches",
    "invoices_approved",
    "touchless_approvals",
    "exceptions_opened",
    "exceptions_resolved",
    "invoices_paid",
    "paid_on_time",
)
MONEY_FIELDS = ("discount_available", "discount_taken", "spend_total", "spend_on_po")


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """numerator ÷ denominator, or None when there is nothing to divide by (shown as —)."""
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


@dataclass(frozen=True)
class CurrencyAmounts:
    """Money sums for one currency: amounts in different currencies are never added up."""

    currency: str
    discount_available: Decimal = ZERO
    discount_taken: Decimal = ZERO
    spend_total: Decimal = ZERO
    spend_on_po: Decimal = ZERO

    @property
    def discount_missed(self) -> Decimal:
        return self.discount_available - self.discount_taken

    @property
    def discount_capture(self) -> Decimal | None:
        return ratio(self.discount_taken, self.discount_available)

    @property
    def po_compliance(self) -> Decimal | None:
        return ratio(self.spend_on_po, self.spend_total)


@dataclass(frozen=True)
class KpiTotals:
    """The facts of one period summed: counts over all currencies, money per currency."""

    invoices_captured: int = 0
    first_match_attempts: int = 0
    first_pass_matches: int = 0
    invoices_approved: int = 0
    touchless_approvals: int = 0
    exceptions_opened: int = 0
    exceptions_resolved: int = 0
    invoices_paid: int = 0
    paid_on_time: int = 0
    money: tuple[CurrencyAmounts, ...] = field(default_factory=tuple)

    @property
    def first_pass_rate(self) -> Decimal | None:
        return ratio(self.first_pass_matches, self.first_match_attempts)

    @property
    def touchless_rate(self) -> Decimal | None:
        return ratio(self.touchless_approvals, self.invoices_approved)

    @property
    def on_time_rate(self) -> Decimal | None:
        return ratio(self.paid_on_time, self.invoices_paid)

    @property
    def discount_currencies(self) -> tuple[CurrencyAmounts, ...]:
        return tuple(m for m in self.money if m.discount_available)

    @property
    def spend_currencies(self) -> tuple[CurrencyAmounts, ...]:
        return tuple(m for m in self.money if m.spend_total)

    @property
    def discount_capture(self) -> Decimal | None:
        """One rate only when all discounts are in one currency; otherwise see per currency."""
        rows = self.discount_currencies
        return rows[0].discount_capture if len(rows) == 1 else None

    @property
    def po_compliance(self) -> Decimal | None:
        rows = self.spend_currencies
        return rows[0].po_compliance if len(rows) == 1 else None


@dataclass(frozen=True)
class PeriodComparison:
    """This period's totals beside the same number of days just before it."""

    start: dt.date
    end: dt.date
    current: KpiTotals
    previous: KpiTotals

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def facts(*, vendor_id: int | None = None, cost_center_id: int | None = None) -> QuerySet:
    """Fact rows narrowed by the dashboard's vendor and cost-center filters."""
    rows = DailyKpiFact.objects.all()
    if vendor_id:
        rows = rows.filter(vendor_id=vendor_id)
    if cost_center_id:
        rows = rows.filter(cost_center_id=cost_center_id)
    return rows


def period_comparison(
    *, start: dt.date, end: dt.date, vendor_id: int | None = None, cost_center_id: int | None = None
) -> PeriodComparison:
    """KPI totals for [start, end] and the equally long period before it, in one query."""
    previous_start = start - (end - start) - dt.timedelta(days=1)
    periods = {"cur": Q(day__gte=start), "prev": Q(day__lt=start)}
    aggregates = {}
    for prefix, condition in periods.items():
        for name in COUNT_FIELDS:
            aggregates[f"{prefix}_{name}"] = Sum(name, filter=condition, default=0)
        for name in MONEY_FIELDS:
            aggregates[f"{prefix}_{name}"] = Sum(name, filter=condition, default=ZERO)
    rows = list(
        facts(vendor_id=vendor_id, cost_center_id=cost_center_id)
        .filter(day__range=(previous_start, end))
        .values("currency")
        .annotate(**aggregates)
        .order_by("currency")
    )
    return PeriodComparison(
        start=start,
        end=end,
        current=_totals(rows, "cur"),
        previous=_totals(rows, "prev"),
    )


def _totals(rows: list[dict], prefix: str) -> KpiTotals:
    counts = {name: sum(row[f"{prefix}_{name}"] for row in rows) for name in COUNT_FIELDS}
    money = tuple(
        CurrencyAmounts(row["currency"], **{name: row[f"{prefix}_{name}"] for name in MONEY_FIELDS})
        for row in rows
    )
    return KpiTotals(**counts, money=money)


@dataclass(frozen=True)
class WeekPoint:
    """One week of the trend chart."""

    week: dt.date  # the Monday
    first_match_attempts: int
    first_pass_matches: int
    invoices_approved: int
    touchless_approvals: int

    @property
    def first_pass_rate(self) -> Decimal | None:
        return ratio(self.first_pass_matches, self.first_match_attempts)

    @property
    def touchless_rate(self) -> Decimal | None:
        return ratio(self.touchless_approvals, self.invoices_approved)


def weekly_trend(
    *,
    end: dt.date,
    weeks: int = 13,
    vendor_id: int | None = None,
    cost_center_id: int | None = None,
) -> list[WeekPoint]:
    """First-pass and touchless counts per ISO week for the `weeks` weeks ending with `end`."""
    last_monday = end - dt.timedelta(days=end.weekday())
    first_monday = last_monday - dt.timedelta(weeks=weeks - 1)
    rows = (
        facts(vendor_id=vendor_id, cost_center_id=cost_center_id)
        .filter(day__range=(first_monday, end))
        .annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(
            attempts=Sum("first_match_attempts"),
            first_pass=Sum("first_pass_matches"),
            approved=Sum("invoices_approved"),
            touchless=Sum("touchless_approvals"),
        )
        .order_by("week")
    )
    by_week = {_as_date(row["week"]): row for row in rows}
    points = []
    for n in range(weeks):
        monday = first_monday + dt.timedelta(weeks=n)
        row = by_week.get(monday, {})
        points.append(
            WeekPoint(
                week=monday,
                first_match_attempts=row.get("attempts") or 0,
                first_pass_matches=row.get("first_pass") or 0,
                invoices_approved=row.get("approved") or 0,
                touchless_approvals=row.get("touchless") or 0,
            )
        )
    return points


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def vendors_by_exceptions(
    *,
    start: dt.date,
    end: dt.date,
    vendor_id: int | None = None,
    cost_center_id: int | None = None,
    limit: int = 10,
) -> list[dict]:
    """The vendors whose invoices raised the most exceptions in the period."""
    rows = (
        facts(vendor_id=vendor_id, cost_center_id=cost_center_id)
        .filter(day__range=(start, end), vendor__isnull=False)
        .values("vendor_id", "vendor__name")
        .annotate(
            exceptions_opened=Sum("exceptions_opened"),
            exceptions_resolved=Sum("exceptions_resolved"),
            invoices_captured=Sum("invoices_captured"),
            first_match_attempts=Sum("first_match_attempts"),
            first_pass_matches=Sum("first_pass_matches"),
        )
        .filter(exceptions_opened__gt=0)
        .order_by("-exceptions_opened", "vendor__name")[:limit]
    )
    return [
        {
            **row,
            "first_pass_rate": ratio(row["first_pass_matches"], row["first_match_attempts"]),
        }
        for row in rows
    ]
