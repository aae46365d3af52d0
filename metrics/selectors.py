"""Dashboard reads: a handful of aggregate queries over the daily facts, never over invoices.

A `Scope` (vendor, cost centers, buyer) picks the one grain of the facts that answers it, so
an unfiltered dashboard sums one row per day and currency however many invoices there are.
Each function returns plain dataclasses; the views only arrange them.
"""

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Case, CharField, Q, QuerySet, Sum, Value, When
from django.db.models.functions import TruncWeek

from metrics.models import (
    KPI_COUNT_COLUMNS,
    KPI_MONEY_COLUMNS,
    AgeBucket,
    DailyExceptionFact,
    DailyKpiFact,
    DurationFact,
    Grain,
    KpiTarget,
    Measure,
    OpenExceptionFact,
)
from p2p.money import ZERO

# The fact tables a Scope reads; each has the grain and the vendor, cost center and buyer.
FactModel = DailyKpiFact | DailyExceptionFact | OpenExceptionFact | DurationFact
RESOLVE_MEASURES = {
    "buyer": Measure.RESOLVE_HOURS_BUYER,
    "requester": Measure.RESOLVE_HOURS_REQUESTER,
    "ap": Measure.RESOLVE_HOURS_AP,
}


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    """numerator ÷ denominator, or None when there is nothing to divide by (shown as —)."""
    if not denominator:
        return None
    return Decimal(numerator) / Decimal(denominator)


def monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


# --- scope --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The dashboard's filters. None means "all"; cost centers come from a department or one."""

    vendor_id: int | None = None
    cost_center_ids: tuple[int, ...] | None = None
    buyer_id: int | None = None

    @property
    def is_filtered(self) -> bool:
        return any(v is not None for v in (self.vendor_id, self.cost_center_ids, self.buyer_id))

    def grain(self, *, by: str | None = None) -> str:
        """The coarsest grain holding every filtered dimension and `by` (a breakdown)."""
        dims = {
            name
            for name, value in (
                ("vendor", self.vendor_id),
                ("cost_center", self.cost_center_ids),
                ("buyer", self.buyer_id),
            )
            if value is not None
        }
        if by:
            dims.add(by)
        if not dims:
            return Grain.COMPANY
        if dims == {"cost_center"}:
            return Grain.COST_CENTER
        if dims == {"buyer"}:
            return Grain.BUYER
        return Grain.DETAIL

    def facts(self, model: type[FactModel], *, by: str | None = None) -> QuerySet[FactModel]:
        """Rows of one fact table at the grain for these filters (and breakdown)."""
        rows = model.objects.filter(grain=self.grain(by=by))
        if self.vendor_id is not None:
            rows = rows.filter(vendor_id=self.vendor_id)
        if self.cost_center_ids is not None:
            rows = rows.filter(cost_center_id__in=self.cost_center_ids)
        if self.buyer_id is not None:
            rows = rows.filter(buyer_id=self.buyer_id)
        return rows

    def invoice_filter(self, prefix: str = "") -> Q:
        """The same filters on InvoiceKpi rows (drill-downs), optionally through a relation."""
        condition = Q()
        if self.vendor_id is not None:
            condition &= Q(**{f"{prefix}vendor_id": self.vendor_id})
        if self.cost_center_ids is not None:
            condition &= Q(**{f"{prefix}cost_center_id__in": self.cost_center_ids})
        if self.buyer_id is not None:
            condition &= Q(**{f"{prefix}buyer_id": self.buyer_id})
        return condition


# --- KPI totals -----------------------------------------------------------------------------


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
    def spend_off_po(self) -> Decimal:
        return self.spend_total - self.spend_on_po

    @property
    def po_compliance(self) -> Decimal | None:
        return ratio(self.spend_on_po, self.spend_total)


@dataclass(frozen=True)
class KpiTotals:
    """The facts of one period summed: counts over all currencies, money per currency."""

    invoices_captured: int = 0
    invoices_matched: int = 0
    invoices_without_exception: int = 0
    first_match_attempts: int = 0
    first_pass_matches: int = 0
    invoices_approved: int = 0
    touchless_approvals: int = 0
    approve_days_sum: int = 0
    exceptions_opened: int = 0
    exceptions_resolved: int = 0
    invoices_paid: int = 0
    paid_on_time: int = 0
    pay_days_sum: int = 0
    money: tuple[CurrencyAmounts, ...] = field(default_factory=tuple)

    @property
    def first_pass_rate(self) -> Decimal | None:
        return ratio(self.first_pass_matches, self.first_match_attempts)

    @property
    def match_rate(self) -> Decimal | None:
        return ratio(self.invoices_matched, self.invoices_captured)

    @property
    def vendor_accuracy(self) -> Decimal | None:
        return ratio(self.invoices_without_exception, self.invoices_captured)

    @property
    def touchless_rate(self) -> Decimal | None:
        return ratio(self.touchless_approvals, self.invoices_approved)

    @property
    def on_time_rate(self) -> Decimal | None:
        return ratio(self.paid_on_time, self.invoices_paid)

    @property
    def paid_late(self) -> int:
        return self.invoices_paid - self.paid_on_time

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


def _sum_rows(rows: Iterable[dict[str, Any]]) -> KpiTotals:
    counts: Counter[str] = Counter()
    money: dict[str, defaultdict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        for name in KPI_COUNT_COLUMNS:
            counts[name] += row[name]
        for name in KPI_MONEY_COLUMNS:
            money[row["currency"]][name] += row[name]
    return KpiTotals(
        **{name: counts[name] for name in KPI_COUNT_COLUMNS},
        money=tuple(
            CurrencyAmounts(currency, **{name: sums[name] or ZERO for name in KPI_MONEY_COLUMNS})
            for currency, sums in sorted(money.items())
        ),
    )


@dataclass(frozen=True)
class DailyKpis:
    """Per-day, per-currency sums for a span of days; any sub-period is summed in Python."""

    rows: tuple[dict[str, Any], ...]
    # Tiles, trends and tables ask for the same weeks again and again.
    _sums: dict[tuple[dt.date, dt.date], KpiTotals] = field(
        default_factory=dict, compare=False, repr=False
    )

    def between(self, start: dt.date, end: dt.date) -> KpiTotals:
        key = (start, end)
        if key not in self._sums:
            self._sums[key] = _sum_rows(row for row in self.rows if start <= row["day"] <= end)
        return self._sums[key]


def daily_kpis(scope: Scope, start: dt.date, end: dt.date) -> DailyKpis:
    """One query: the KPI facts of [start, end] summed per day and currency."""
    sums = {name: Sum(name, default=0) for name in KPI_COUNT_COLUMNS}
    sums.update({name: Sum(name, default=ZERO) for name in KPI_MONEY_COLUMNS})
    rows = (
        scope.facts(DailyKpiFact)
        .filter(day__range=(start, end))
        .values("day", "currency")
        .annotate(**sums)
        .order_by("day", "currency")
    )
    return DailyKpis(rows=tuple(rows))


# --- durations (medians) --------------------------------------------------------------------


@dataclass(frozen=True)
class Durations:
    """How many invoices or exceptions, and the median and mean of their days or hours."""

    total: int = 0
    median: Decimal | None = None
    mean: Decimal | None = None


# The histograms are summed and their medians found in the database, so only one row per
# group reaches Python however many distinct durations the facts hold. The median is the
# middle value; with an even count, the mean of the two middle ones (ranks counted from 0).
_MEDIANS = """
SELECT {keys}, total, weighted,
       MIN(value) FILTER (WHERE running > (total - 1) / 2) AS lower_middle,
       MIN(value) FILTER (WHERE running > total / 2) AS upper_middle
FROM (
    SELECT h.*, SUM(n) OVER (PARTITION BY {keys} ORDER BY value) AS running,
           SUM(n) OVER (PARTITION BY {keys}) AS total,
           SUM(n * value) OVER (PARTITION BY {keys}) AS weighted
    FROM ({histogram}) h
) ranked
GROUP BY {keys}, total, weighted
"""


def _medians(
    histogram: QuerySet[Any, Any], keys: tuple[str, ...]
) -> dict[tuple[Any, ...], Durations]:
    """Durations per key from a queryset yielding (*keys, value, n) rows."""
    inner, params = histogram.query.sql_with_params()
    sql = _MEDIANS.format(keys=", ".join(keys), histogram=inner)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    result = {}
    for *key, total, weighted, lower, upper in rows:
        result[tuple(_as_date(k) for k in key)] = Durations(
            total=int(total),
            median=(Decimal(lower) + Decimal(upper)) / 2,
            mean=Decimal(weighted) / Decimal(total),
        )
    return result


def duration_stats(
    scope: Scope, periods: dict[str, tuple[dt.date, dt.date]], measures: Iterable[str]
) -> dict[tuple[str, str], Durations]:
    """One query: count, median and mean per (period label, measure), periods not overlapping."""
    measures = list(measures)
    whens = [When(day__range=span, then=Value(label)) for label, span in periods.items()]
    first = min(span[0] for span in periods.values())
    last = max(span[1] for span in periods.values())
    histogram = (
        scope.facts(DurationFact)
        .filter(day__range=(first, last), measure__in=measures)
        .annotate(period=Case(*whens, default=Value(""), output_field=CharField()))
        .values("period", "measure", "value")
        .annotate(n=Sum("count"))
        .order_by()
    )
    found = _medians(histogram, ("period", "measure"))
    return {
        (label, measure): found.get((label, measure), Durations())
        for label in periods
        for measure in measures
    }


def weekly_duration_stats(
    scope: Scope, first_monday: dt.date, end: dt.date, measures: Iterable[str]
) -> dict[tuple[dt.date, str], Durations]:
    """One query: count, median and mean per (week's Monday, measure) from first_monday to end."""
    histogram = (
        scope.facts(DurationFact)
        .filter(day__range=(first_monday, end), measure__in=list(measures))
        .annotate(week=TruncWeek("day"))
        .values("week", "measure", "value")
        .annotate(n=Sum("count"))
        .order_by()
    )
    return _medians(histogram, ("week", "measure"))


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


# --- exceptions -----------------------------------------------------------------------------


@dataclass(frozen=True)
class ExceptionSlice:
    """Exceptions of one root cause, type and owner in a period."""

    root_cause: str
    type: str
    owner: str
    opened: int
    resolved: int
    resolve_hours_sum: int
    amounts: tuple[tuple[str, Decimal], ...]  # (currency, amount at stake when opened)


def exception_slices(scope: Scope, start: dt.date, end: dt.date) -> list[ExceptionSlice]:
    """One query: exceptions opened and resolved in the period by root cause, type and owner."""
    rows = (
        scope.facts(DailyExceptionFact)
        .filter(day__range=(start, end))
        .values("root_cause", "type", "owner", "currency")
        .annotate(
            opened_n=Sum("opened"),
            resolved_n=Sum("resolved"),
            hours=Sum("resolve_hours_sum"),
            amount=Sum("amount_opened"),
        )
        .order_by("root_cause", "type", "owner", "currency")
    )
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in rows:
        key = (row["root_cause"], row["type"], row["owner"])
        slot = merged.setdefault(key, {"opened": 0, "resolved": 0, "hours": 0, "amounts": []})
        slot["opened"] += row["opened_n"]
        slot["resolved"] += row["resolved_n"]
        slot["hours"] += row["hours"]
        if row["amount"]:
            slot["amounts"].append((row["currency"], row["amount"]))
    return [
        ExceptionSlice(
            root_cause=key[0],
            type=key[1],
            owner=key[2],
            opened=slot["opened"],
            resolved=slot["resolved"],
            resolve_hours_sum=slot["hours"],
            amounts=tuple(slot["amounts"]),
        )
        for key, slot in merged.items()
    ]


@dataclass(frozen=True)
class OpenSnapshot:
    """Unresolved exceptions at the end of one day, by owner, type and age bucket."""

    day: dt.date
    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    amounts: dict[str, Decimal] = field(default_factory=dict)  # per currency

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by(self, position: int) -> dict[str, int]:
        """Totals per owner (0), type (1) or age bucket (2)."""
        totals: Counter[str] = Counter()
        for key, count in self.counts.items():
            totals[key[position]] += count
        return dict(totals)

    def count(self, *, owner: str | None = None, bucket: str | None = None) -> int:
        return sum(
            n
            for (o, _t, b), n in self.counts.items()
            if (owner is None or o == owner) and (bucket is None or b == bucket)
        )


def open_snapshots(scope: Scope, days: Iterable[dt.date]) -> dict[dt.date, OpenSnapshot]:
    """One query: the open-exception snapshot for each of the given days."""
    days = sorted(set(days))
    rows = (
        scope.facts(OpenExceptionFact)
        .filter(day__in=days)
        .values("day", "owner", "type", "age_bucket", "currency")
        .annotate(n=Sum("open_count"), amount=Sum("open_amount"))
        .order_by()
    )
    counts: dict[dt.date, Counter[tuple[str, str, str]]] = defaultdict(Counter)
    amounts: dict[dt.date, defaultdict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        counts[row["day"]][(row["owner"], row["type"], row["age_bucket"])] += row["n"]
        amounts[row["day"]][row["currency"]] += row["amount"] or ZERO
    return {
        day: OpenSnapshot(day=day, counts=dict(counts[day]), amounts=dict(amounts[day]))
        for day in days
    }


def vendors_by_exceptions(
    scope: Scope, start: dt.date, end: dt.date, *, limit: int = 10
) -> list[dict[str, Any]]:
    """Two queries: the vendors whose invoices raised most exceptions, with their quality."""
    top = list(
        scope.facts(DailyExceptionFact, by="vendor")
        .filter(day__range=(start, end), opened__gt=0)
        .values("vendor_id", "vendor__name")
        .annotate(opened_n=Sum("opened"))
        .order_by("-opened_n", "vendor_id")[:limit]
    )
    if not top:
        return []
    ids = [row["vendor_id"] for row in top]
    quality = {
        row["vendor_id"]: row
        for row in scope.facts(DailyKpiFact, by="vendor")
        .filter(day__range=(start, end), vendor_id__in=ids)
        .values("vendor_id")
        .annotate(
            captured=Sum("invoices_captured"),
            clean=Sum("invoices_without_exception"),
            attempts=Sum("first_match_attempts"),
            first_pass=Sum("first_pass_matches"),
            resolved=Sum("exceptions_resolved"),
        )
        .order_by()
    }
    result = []
    for row in top:
        facts = quality.get(row["vendor_id"], {})
        result.append(
            {
                "vendor_id": row["vendor_id"],
                "name": row["vendor__name"],
                "opened": row["opened_n"],
                "resolved": facts.get("resolved") or 0,
                "captured": facts.get("captured") or 0,
                "vendor_accuracy": ratio(facts.get("clean") or 0, facts.get("captured") or 0),
                "first_pass_rate": ratio(facts.get("first_pass") or 0, facts.get("attempts") or 0),
            }
        )
    return result


# --- buyers ---------------------------------------------------------------------------------


def buyer_quality(scope: Scope, start: dt.date, end: dt.date) -> list[dict[str, Any]]:
    """Buyer PO quality per buyer: first-pass matches of invoices against each buyer's POs."""
    kpi_rows = (
        scope.facts(DailyKpiFact, by="buyer")
        .filter(day__range=(start, end), buyer_id__isnull=False)
        .values("buyer_id")
        .annotate(
            attempts=Sum("first_match_attempts"),
            first_pass=Sum("first_pass_matches"),
            captured=Sum("invoices_captured"),
        )
        .order_by()
    )
    exception_rows = (
        scope.facts(DailyExceptionFact, by="buyer")
        .filter(day__range=(start, end), buyer_id__isnull=False)
        .values("buyer_id", "owner")
        .annotate(opened_n=Sum("opened"), resolved_n=Sum("resolved"))
        .order_by()
    )
    buyers: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"attempts": 0, "first_pass": 0, "captured": 0, "exceptions": 0, "disputes": 0}
    )
    for row in kpi_rows:
        buyers[row["buyer_id"]].update(
            attempts=row["attempts"], first_pass=row["first_pass"], captured=row["captured"]
        )
    for row in exception_rows:
        buyers[row["buyer_id"]]["exceptions"] += row["opened_n"]
        if row["owner"] == "buyer":
            buyers[row["buyer_id"]]["disputes"] += row["opened_n"]
    users = {
        user.pk: user
        for user in get_user_model()
        .objects.filter(pk__in=list(buyers))
        .only("id", "username", "first_name", "last_name")
    }
    rows = [
        {
            "buyer_id": buyer_id,
            "name": (users[buyer_id].get_full_name() or users[buyer_id].username)
            if buyer_id in users
            else "—",
            **values,
            "quality": ratio(values["first_pass"], values["attempts"]),
        }
        for buyer_id, values in buyers.items()
    ]
    rows.sort(key=lambda r: (r["quality"] is None, r["quality"] or 0, r["name"]))
    return rows


# --- targets --------------------------------------------------------------------------------


def targets() -> dict[str, KpiTarget]:
    return {target.kpi: target for target in KpiTarget.objects.select_related("set_by")}


AGE_BUCKETS = tuple(AgeBucket)
