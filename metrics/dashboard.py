"""Arranging the facts into the dashboard: tiles with trend and target, charts, tables.

Everything here works on what the selectors returned (a fixed number of queries over the
facts); links point at the drill-down lists that recount the same numbers from invoices.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.template.defaultfilters import pluralize

from metrics import kpis, selectors
from metrics.drilldown import exceptions_url, invoices_url
from metrics.models import AgeBucket, KpiTarget, Measure
from metrics.selectors import Durations, KpiTotals, OpenSnapshot, Scope, monday, ratio
from p2p.money import format_money
from p2p.templatetags.p2p_tags import pct
from payables.models.exceptions import InvoiceException

TREND_WEEKS = 13
OWNERS = tuple(InvoiceException.Owner.choices)
RESOLVE_MEASURES = tuple(selectors.RESOLVE_MEASURES.values())
HUNDRED = Decimal("100")


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


# --- trends and targets ---------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """How a KPI moved against the previous period, and whether that is good news."""

    text: str
    css: str = ""  # "good", "bad" or "" (unchanged or not comparable)


def _movement(delta: Decimal, higher_is_better: bool) -> str:
    if delta == 0:
        return ""
    return "good" if (delta > 0) == higher_is_better else "bad"


def rate_trend(current: Decimal | None, previous: Decimal | None, days: int) -> Trend:
    if previous is None:
        return Trend(f"no data in the previous {days} days")
    if current is None:
        return Trend(f"previous {days} days: {pct(previous)}")
    points = (current - previous) * 100
    if abs(points) < Decimal("0.05"):
        return Trend(f"= previous {days} days ({pct(previous)})")
    arrow = "▲" if points > 0 else "▼"
    return Trend(
        f"{arrow} {abs(points):.1f} pts vs previous {days} days ({pct(previous)})",
        _movement(points, True),
    )


def amount_trend(
    current: Decimal | None, previous: Decimal | None, days: int, unit: str, *, higher_is_better
) -> Trend:
    suffix = f" {unit}" if unit else ""
    if previous is None:
        return Trend(f"no data in the previous {days} days")
    if current is None:
        return Trend(f"previous {days} days: {number(previous)}{suffix}")
    delta = current - previous
    if delta == 0:
        return Trend(f"= previous {days} days ({number(previous)}{suffix})")
    arrow = "▲" if delta > 0 else "▼"
    return Trend(
        f"{arrow} {number(abs(delta))}{suffix} vs previous {days} days ({number(previous)})",
        _movement(delta, higher_is_better),
    )


def number(value: Decimal | int | None) -> str:
    """1.5, 4, 51 — a median or count without trailing zeros."""
    if value is None:
        return "—"
    value = Decimal(value).quantize(Decimal("0.1"))
    return f"{value:,.0f}" if value == value.to_integral() else f"{value:,.1f}"


@dataclass(frozen=True)
class TargetStatus:
    """A KPI's target and whether the period met it."""

    text: str
    css: str = ""  # tile-ok / tile-danger
    value: Decimal | None = None


def target_status(kpi: kpis.Kpi, value: Decimal | None, target: KpiTarget | None) -> TargetStatus:
    if target is None:
        return TargetStatus("No target set")
    goal = target.target
    shown = f"{number(goal)} %" if kpi.unit == "rate" else f"{number(goal)} {kpi.target_unit}"
    if value is None:
        return TargetStatus(f"Target {shown}", value=goal)
    actual = value * HUNDRED if kpi.unit == "rate" else Decimal(value)
    met = actual >= goal if kpi.higher_is_better else actual <= goal
    if met:
        return TargetStatus(f"Target {shown}: met", "tile-ok", goal)
    gap = abs(actual - goal)
    unit = "pts" if kpi.unit == "rate" else kpi.target_unit
    return TargetStatus(f"Target {shown}: {number(gap)} {unit} off", "tile-danger", goal)


# --- tiles ----------------------------------------------------------------------------------


@dataclass
class Tile:
    """One headline number with its parts, drill links, trend, target and definition."""

    kpi: kpis.Kpi
    value: str
    url: str = ""
    lines: list[tuple[str, str]] = field(default_factory=list)  # (text, drill url or "")
    trend: Trend = Trend("")
    target: TargetStatus = TargetStatus("")


def _main_money(totals: KpiTotals, attribute: str) -> selectors.CurrencyAmounts | None:
    """The currency with the most discount available / spend: the one the tile headlines."""
    rows = [m for m in totals.money if getattr(m, attribute)]
    return max(rows, key=lambda m: getattr(m, attribute)) if rows else None


def _currency_rate(totals: KpiTotals, currency: str, rate: str) -> Decimal | None:
    for amounts in totals.money:
        if amounts.currency == currency:
            return getattr(amounts, rate)
    return None


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


def _share(part: int, whole: int, noun: str) -> str:
    return f"{part} of {whole} {noun}{pluralize(whole)}"


def headline_tiles(
    now: KpiTotals,
    before: KpiTotals,
    durations: dict[tuple[str, str], Durations],
    open_now: OpenSnapshot,
    open_before: OpenSnapshot,
    period: Period,
    targets: dict[str, KpiTarget],
    links: Links,
) -> list[Tile]:
    """The seven headline tiles, in reading order: match quality, payment, flow, compliance."""
    days = period.days
    tiles = []

    tile = Tile(kpis.FIRST_PASS, pct(now.first_pass_rate), links.invoice("first_match"))
    if now.first_match_attempts:
        tile.lines = [
            (_share(now.first_pass_matches, now.first_match_attempts, "invoice") + " passed",
             links.invoice("first_match", "first_pass")),
            (f"{now.first_match_attempts - now.first_pass_matches} did not",
             links.invoice("first_match", "not_first_pass")),
        ]  # fmt: skip
    else:
        tile.lines = [("No invoice matched for the first time", "")]
    tile.trend = rate_trend(now.first_pass_rate, before.first_pass_rate, days)
    tiles.append(tile)

    tile = Tile(kpis.TOUCHLESS, pct(now.touchless_rate), links.invoice("approved"))
    if now.invoices_approved:
        tile.lines = [
            (_share(now.touchless_approvals, now.invoices_approved, "approval") + " touchless",
             links.invoice("approved", "touchless")),
            (f"{now.invoices_approved - now.touchless_approvals} needed a person",
             links.invoice("approved", "touched")),
        ]  # fmt: skip
    else:
        tile.lines = [("No invoice approved", "")]
    tile.trend = rate_trend(now.touchless_rate, before.touchless_rate, days)
    tiles.append(tile)

    tile = Tile(kpis.ON_TIME, pct(now.on_time_rate), links.invoice("paid"))
    if now.invoices_paid:
        tile.lines = [
            (_share(now.paid_on_time, now.invoices_paid, "invoice") + " paid on time",
             links.invoice("paid", "on_time")),
            (f"{now.paid_late} paid late", links.invoice("paid", "late")),
        ]  # fmt: skip
    else:
        tile.lines = [("No invoice paid", "")]
    tile.trend = rate_trend(now.on_time_rate, before.on_time_rate, days)
    tiles.append(tile)

    main = _main_money(now, "discount_available")
    if main is None:
        tile = Tile(kpis.DISCOUNT_CAPTURE, "—", links.invoice("discount"))
        tile.lines = [("No discount window closed or paid", "")]
        tile.trend = rate_trend(None, before.discount_capture, days)
        capture = None
    else:
        capture = main.discount_capture
        tile = Tile(
            kpis.DISCOUNT_CAPTURE,
            format_money(main.discount_taken, main.currency),
            links.invoice("discount", "taken", currency=main.currency),
        )
        for amounts in now.discount_currencies:
            tile.lines.append(
                (f"{pct(amounts.discount_capture)} of "
                 f"{format_money(amounts.discount_available, amounts.currency)} taken",
                 links.invoice("discount", currency=amounts.currency)),
            )  # fmt: skip
            tile.lines.append(
                (f"{format_money(amounts.discount_missed, amounts.currency)} missed",
                 links.invoice("discount", "missed", currency=amounts.currency)),
            )  # fmt: skip
        tile.trend = rate_trend(
            capture, _currency_rate(before, main.currency, "discount_capture"), days
        )
    tiles.append(tile)

    approve = durations[("cur", Measure.APPROVE_DAYS)]
    pay = durations[("cur", Measure.PAY_DAYS)]
    cycle = approve.median
    tile = Tile(
        kpis.CYCLE_TIME,
        "—" if cycle is None else f"{number(cycle)} day{pluralize(cycle)}",
        links.invoice("approved"),
    )
    tile.lines = [
        (f"capture → approved, {approve.total} invoice{pluralize(approve.total)}",
         links.invoice("approved")),
        (f"capture → paid: {number(pay.median)} days, {pay.total} invoice{pluralize(pay.total)}",
         links.invoice("paid")),
    ]  # fmt: skip
    tile.trend = amount_trend(
        cycle,
        durations[("prev", Measure.APPROVE_DAYS)].median,
        days,
        "days",
        higher_is_better=False,
    )
    tiles.append(tile)

    end_links = links.for_period(period.end, period.end)
    tile = Tile(kpis.OPEN_EXCEPTIONS, str(open_now.total), end_links.exception("open"))
    per_owner = open_now.by(0)
    tile.lines = [
        (f"{label}: {per_owner.get(owner, 0)}", end_links.exception("open", owner=owner))
        for owner, label in OWNERS
    ]
    oldest = open_now.count(bucket=AgeBucket.OVER_30)
    if oldest:
        tile.lines.append(
            (f"{oldest} open over 30 days",
             end_links.exception("open", age=AgeBucket.OVER_30)),
        )  # fmt: skip
    tile.trend = amount_trend(
        Decimal(open_now.total),
        Decimal(open_before.total),
        days,
        "",
        higher_is_better=False,
    )
    tiles.append(tile)

    main = _main_money(now, "spend_total")
    compliance = None if main is None else main.po_compliance
    tile = Tile(kpis.PO_COMPLIANCE, pct(compliance), links.invoice("captured"))
    if main is None:
        tile.lines = [("No invoice spend", "")]
    for amounts in now.spend_currencies:
        tile.lines.append(
            (f"{format_money(amounts.spend_on_po, amounts.currency)} on a PO"
             + (f" ({pct(amounts.po_compliance)})" if len(now.spend_currencies) > 1 else ""),
             links.invoice("captured", "on_po", currency=amounts.currency)),
        )  # fmt: skip
        tile.lines.append(
            (f"{format_money(amounts.spend_off_po, amounts.currency)} without",
             links.invoice("captured", "off_po", currency=amounts.currency)),
        )  # fmt: skip
    tile.trend = rate_trend(
        compliance,
        None if main is None else _currency_rate(before, main.currency, "po_compliance"),
        days,
    )
    tiles.append(tile)

    values = {
        kpis.FIRST_PASS.key: now.first_pass_rate,
        kpis.TOUCHLESS.key: now.touchless_rate,
        kpis.ON_TIME.key: now.on_time_rate,
        kpis.DISCOUNT_CAPTURE.key: capture,
        kpis.CYCLE_TIME.key: cycle,
        kpis.OPEN_EXCEPTIONS.key: Decimal(open_now.total),
        kpis.PO_COMPLIANCE.key: compliance,
    }
    for tile in tiles:
        tile.target = target_status(tile.kpi, values[tile.kpi.key], targets.get(tile.kpi.key))
    return tiles


def _per_currency(totals: KpiTotals, rate: str, base: str) -> str:
    """A money rate per currency ("70.8 % EUR · 73.5 % USD"); one currency needs no label."""
    rows = [m for m in totals.money if getattr(m, base)]
    if len(rows) == 1:
        return pct(getattr(rows[0], rate))
    return " · ".join(f"{pct(getattr(m, rate))} {m.currency}" for m in rows) or "—"


# --- the full KPI table ---------------------------------------------------------------------


@dataclass
class KpiRow:
    """One KPI in the table of every definition: value, how it was counted, drill links."""

    kpi: kpis.Kpi
    value: str
    parts: list[tuple[str, str]]
    previous: str


def kpi_table(
    now: KpiTotals,
    before: KpiTotals,
    durations: dict[tuple[str, str], Durations],
    open_now: OpenSnapshot,
    open_before: OpenSnapshot,
    links: Links,
    scope: Scope,
) -> list[KpiRow]:
    """All ten DESIGN.md KPIs with their definitions, for the same filters and period."""

    def hours(label: str, owner: str, period: str) -> str:
        histogram = durations[(period, selectors.RESOLVE_MEASURES[owner])]
        return f"{label} {number(histogram.median)} h ({histogram.total})"

    rows = [
        KpiRow(kpis.FIRST_PASS, pct(now.first_pass_rate),
               [(_share(now.first_pass_matches, now.first_match_attempts, "invoice"),
                 links.invoice("first_match", "first_pass"))],
               pct(before.first_pass_rate)),
        KpiRow(kpis.MATCH_RATE, pct(now.match_rate),
               [(_share(now.invoices_matched, now.invoices_captured, "invoice"),
                 links.invoice("captured", "matched")),
                (f"{now.invoices_captured - now.invoices_matched} not (yet) matched",
                 links.invoice("captured", "unmatched"))],
               pct(before.match_rate)),
        KpiRow(kpis.TOUCHLESS, pct(now.touchless_rate),
               [(_share(now.touchless_approvals, now.invoices_approved, "approval"),
                 links.invoice("approved", "touchless"))],
               pct(before.touchless_rate)),
        KpiRow(kpis.ON_TIME, pct(now.on_time_rate),
               [(_share(now.paid_on_time, now.invoices_paid, "invoice"),
                 links.invoice("paid", "on_time")),
                (f"{now.paid_late} late", links.invoice("paid", "late"))],
               pct(before.on_time_rate)),
    ]  # fmt: skip
    discount_parts = [
        (f"{format_money(m.discount_taken, m.currency)} of "
         f"{format_money(m.discount_available, m.currency)} ({pct(m.discount_capture)})",
         links.invoice("discount", currency=m.currency))
        for m in now.discount_currencies
    ] or [("no discount window closed or paid", "")]  # fmt: skip
    rows.append(
        KpiRow(kpis.DISCOUNT_CAPTURE, _per_currency(now, "discount_capture", "discount_available"),
               discount_parts, _per_currency(before, "discount_capture", "discount_available"))
    )  # fmt: skip
    approve, pay = (
        durations[("cur", Measure.APPROVE_DAYS)],
        durations[("cur", Measure.PAY_DAYS)],
    )
    rows.append(
        KpiRow(kpis.CYCLE_TIME, f"{number(approve.median)} / {number(pay.median)} days",
               [(f"capture → approved: {number(approve.median)} days ({approve.total})",
                 links.invoice("approved")),
                (f"capture → paid: {number(pay.median)} days ({pay.total})",
                 links.invoice("paid"))],
               f"{number(durations[('prev', Measure.APPROVE_DAYS)].median)} / "
               f"{number(durations[('prev', Measure.PAY_DAYS)].median)} days")
    )  # fmt: skip
    rows.append(
        KpiRow(kpis.RESOLUTION_TIME,
               " · ".join(f"{label} {number(durations[('cur', selectors.RESOLVE_MEASURES[owner])].median)} h"
                          for owner, label in (("buyer", "buyer"), ("ap", "AP"))),
               [(hours(label, owner, "cur"), links.exception("resolved", owner=owner))
                for owner, label in OWNERS],
               " · ".join(f"{label} {number(durations[('prev', selectors.RESOLVE_MEASURES[owner])].median)} h"
                          for owner, label in (("buyer", "buyer"), ("ap", "AP"))))
    )  # fmt: skip
    spend_parts = [
        (f"{format_money(m.spend_on_po, m.currency)} of "
         f"{format_money(m.spend_total, m.currency)} ({pct(m.po_compliance)})",
         links.invoice("captured", "on_po", currency=m.currency))
        for m in now.spend_currencies
    ] or [("no invoice spend", "")]  # fmt: skip
    rows.append(
        KpiRow(kpis.PO_COMPLIANCE, _per_currency(now, "po_compliance", "spend_total"),
               spend_parts, _per_currency(before, "po_compliance", "spend_total"))
    )  # fmt: skip
    rows.append(
        KpiRow(kpis.VENDOR_ACCURACY, pct(now.vendor_accuracy),
               [(_share(now.invoices_without_exception, now.invoices_captured, "invoice")
                 + " without exception", links.invoice("captured", "clean")),
                ("per vendor: see vendors with most exceptions", "")],
               pct(before.vendor_accuracy))
    )  # fmt: skip
    buyer_note = (
        "for the selected buyer" if scope.buyer_id else "all buyers together; per buyer: Buyers tab"
    )
    rows.append(
        KpiRow(kpis.BUYER_PO_QUALITY, pct(now.first_pass_rate),
               [(_share(now.first_pass_matches, now.first_match_attempts, "invoice")
                 + f" — {buyer_note}", links.invoice("first_match", "first_pass"))],
               pct(before.first_pass_rate))
    )  # fmt: skip
    rows.append(
        KpiRow(kpis.OPEN_EXCEPTIONS, str(open_now.total),
               [(f"{label}: {open_now.by(0).get(owner, 0)}",
                 links.for_period(links.end, links.end).exception("open", owner=owner))
                for owner, label in OWNERS],
               str(open_before.total))
    )  # fmt: skip
    return rows


# --- charts ---------------------------------------------------------------------------------


def _percent(value: Decimal | None) -> float | None:
    # Floats only at the edge, for the chart's JSON; every number shown as text is Decimal.
    return None if value is None else round(float(value * 100), 1)


def _float(value: Decimal | None) -> float | None:
    return None if value is None else round(float(value), 2)


def weekly_trends(
    daily: selectors.DailyKpis,
    weekly_durations: dict[tuple[dt.date, str], Durations],
    week_open: dict[dt.date, OpenSnapshot],
    period: Period,
    targets: dict[str, KpiTarget],
    links: Links,
    currency: str | None,
) -> dict:
    """Thirteen weekly points for each headline KPI, with their targets and drill links."""
    weeks = period.weeks
    totals = [daily.between(week, week + dt.timedelta(days=6)) for week in weeks]

    def money_rate(total: KpiTotals, attribute: str) -> Decimal | None:
        return None if currency is None else _currency_rate(total, currency, attribute)

    series = {
        kpis.FIRST_PASS.key: [_percent(t.first_pass_rate) for t in totals],
        kpis.TOUCHLESS.key: [_percent(t.touchless_rate) for t in totals],
        kpis.ON_TIME.key: [_percent(t.on_time_rate) for t in totals],
        kpis.DISCOUNT_CAPTURE.key: [_percent(money_rate(t, "discount_capture")) for t in totals],
        kpis.CYCLE_TIME.key: [
            _float(weekly_durations.get((week, Measure.APPROVE_DAYS), Durations()).median)
            for week in weeks
        ],
        kpis.OPEN_EXCEPTIONS.key: [week_open[period.week_end(week)].total for week in weeks],
        kpis.PO_COMPLIANCE.key: [_percent(money_rate(t, "po_compliance")) for t in totals],
    }
    events = {
        kpis.FIRST_PASS.key: ("invoice", "first_match"),
        kpis.TOUCHLESS.key: ("invoice", "approved"),
        kpis.ON_TIME.key: ("invoice", "paid"),
        kpis.DISCOUNT_CAPTURE.key: ("invoice", "discount"),
        kpis.CYCLE_TIME.key: ("invoice", "approved"),
        kpis.OPEN_EXCEPTIONS.key: ("exception", "open"),
        kpis.PO_COMPLIANCE.key: ("invoice", "captured"),
    }
    charts = []
    for kpi in kpis.HEADLINE:
        kind, event = events[kpi.key]
        urls = []
        for week in weeks:
            week_links = links.for_period(week, week + dt.timedelta(days=6))
            if kind == "exception":
                end = period.week_end(week)
                urls.append(links.for_period(end, end).exception(event))
            else:
                urls.append(week_links.invoice(event))
        target = targets.get(kpi.key)
        charts.append(
            {
                "key": kpi.key,
                "label": kpi.label,
                "unit": "%" if kpi.unit == "rate" else ("days" if kpi.unit == "days" else ""),
                "values": series[kpi.key],
                "target": _float(target.target) if target else None,
                "urls": urls,
                "cells": list(zip(series[kpi.key], urls, strict=True)),
            }
        )
    return {"labels": [week.strftime("%d %b") for week in weeks], "charts": charts}


def pareto(slices: list[selectors.ExceptionSlice], links: Links, labels: dict[str, str]) -> dict:
    """Exceptions opened in the period by root cause, largest first, with the running share."""
    per_cause: dict[str, int] = {}
    for item in slices:
        if item.opened:
            per_cause[item.root_cause] = per_cause.get(item.root_cause, 0) + item.opened
    ordered = sorted(per_cause.items(), key=lambda pair: (-pair[1], pair[0]))
    total = sum(per_cause.values())
    running, rows = 0, []
    for cause, opened in ordered:
        running += opened
        rows.append(
            {
                "root_cause": cause,
                "label": labels.get(cause, cause or "Not recorded"),
                "opened": opened,
                "share": ratio(opened, total),
                "cumulative": ratio(running, total),
                "url": links.exception("opened", root_cause=cause) if cause else "",
            }
        )
    return {
        "rows": rows,
        "total": total,
        "chart": {
            "labels": [row["label"] for row in rows],
            "counts": [row["opened"] for row in rows],
            "cumulative": [_percent(row["cumulative"]) for row in rows],
            "urls": [row["url"] for row in rows],
        },
    }


def aging(open_now: OpenSnapshot, links: Links) -> dict:
    """Unresolved exceptions at the end of the period by age bucket, stacked by owner."""
    end_links = links.for_period(links.end, links.end)
    rows = []
    for bucket, label in AgeBucket.choices:
        cells = [
            {
                "owner": owner,
                "count": open_now.count(owner=owner, bucket=bucket),
                "url": end_links.exception("open", owner=owner, age=bucket),
            }
            for owner, _ in OWNERS
        ]
        rows.append(
            {
                "bucket": bucket,
                "label": label,
                "cells": cells,
                "total": sum(c["count"] for c in cells),
                "url": end_links.exception("open", age=bucket),
            }
        )
    return {
        "rows": rows,
        "owners": [label for _, label in OWNERS],
        "chart": {
            "labels": [row["label"] for row in rows],
            "datasets": [
                {"label": label, "data": [row["cells"][n]["count"] for row in rows]}
                for n, (_, label) in enumerate(OWNERS)
            ],
            "urls": [row["url"] for row in rows],
        },
    }


def discounts_by_week(
    daily: selectors.DailyKpis, period: Period, links: Links, currency: str | None
) -> dict:
    """Discount taken and missed per week, in the currency with the most discount."""
    rows = []
    for week in period.weeks:
        total = daily.between(week, week + dt.timedelta(days=6))
        amounts = next((m for m in total.money if m.currency == currency), None)
        week_links = links.for_period(week, week + dt.timedelta(days=6))
        rows.append(
            {
                "week": week,
                "taken": amounts.discount_taken if amounts else Decimal("0"),
                "missed": amounts.discount_missed if amounts else Decimal("0"),
                "taken_url": week_links.invoice("discount", "taken", currency=currency),
                "missed_url": week_links.invoice("discount", "missed", currency=currency),
            }
        )
    return {
        "currency": currency,
        "rows": rows,
        "chart": {
            "labels": [row["week"].strftime("%d %b") for row in rows],
            "taken": [_float(row["taken"]) for row in rows],
            "missed": [_float(row["missed"]) for row in rows],
            "taken_urls": [row["taken_url"] for row in rows],
            "missed_urls": [row["missed_url"] for row in rows],
        },
    }


def exceptions_by_week(daily: selectors.DailyKpis, period: Period, links: Links) -> dict:
    """Exceptions opened and resolved per week: is AP's queue growing or shrinking?"""
    rows = []
    for week in period.weeks:
        total = daily.between(week, week + dt.timedelta(days=6))
        week_links = links.for_period(week, week + dt.timedelta(days=6))
        rows.append(
            {
                "week": week,
                "opened": total.exceptions_opened,
                "resolved": total.exceptions_resolved,
                "opened_url": week_links.exception("opened"),
                "resolved_url": week_links.exception("resolved"),
            }
        )
    return {
        "rows": rows,
        "chart": {
            "labels": [row["week"].strftime("%d %b") for row in rows],
            "opened": [row["opened"] for row in rows],
            "resolved": [row["resolved"] for row in rows],
            "opened_urls": [row["opened_url"] for row in rows],
            "resolved_urls": [row["resolved_url"] for row in rows],
        },
    }


def resolution_by_owner(
    durations: dict[tuple[str, str], Durations],
    weekly_durations: dict[tuple[dt.date, str], Durations],
    period: Period,
    links: Links,
) -> dict:
    """Median hours open → resolved per owner, this period, before, and per week."""
    rows = []
    for owner, label in OWNERS:
        measure = selectors.RESOLVE_MEASURES[owner]
        now, before = durations[("cur", measure)], durations[("prev", measure)]
        rows.append(
            {
                "owner": owner,
                "label": label,
                "median": now.median,
                "mean": now.mean,
                "resolved": now.total,
                "previous": before.median,
                "trend": amount_trend(
                    now.median, before.median, period.days, "h", higher_is_better=False
                ),
                "url": links.exception("resolved", owner=owner),
            }
        )
    return {
        "rows": rows,
        "chart": {
            "labels": [week.strftime("%d %b") for week in period.weeks],
            "datasets": [
                {
                    "label": label,
                    "data": [
                        _float(
                            weekly_durations.get(
                                (week, selectors.RESOLVE_MEASURES[owner]), Durations()
                            ).median
                        )
                        for week in period.weeks
                    ],
                }
                for owner, label in OWNERS
            ],
        },
    }


# --- Chart.js specs -------------------------------------------------------------------------
# One generic script on the page draws every spec; clicking a bar or point opens the list
# behind it (`urls`, one per label, per dataset).

ACCENT, GREEN, RED, AMBER, GREY = "#4f5bd5", "#23a15f", "#dc4446", "#e09a16", "#9aa1b0"
OWNER_COLOURS = (AMBER, RED, ACCENT)  # buyer, requester, AP


def trend_specs(trends: dict) -> list[dict]:
    """One small line chart per headline KPI, with its target as a dashed line."""
    specs = []
    for chart in trends["charts"]:
        datasets = [
            {
                "label": chart["label"],
                "data": chart["values"],
                "color": ACCENT,
                "kind": "line",
                "urls": chart["urls"],
            }
        ]
        if chart["target"] is not None:
            datasets.append(
                {
                    "label": "Target",
                    "data": [chart["target"]] * len(trends["labels"]),
                    "color": GREEN,
                    "kind": "line",
                    "dashed": True,
                }
            )
        specs.append(
            {
                "id": f"trend-{chart['key']}",
                "type": "line",
                "labels": trends["labels"],
                "datasets": datasets,
                "unit": chart["unit"],
                "percent": chart["unit"] == "%",
                "legend": False,
            }
        )
    return specs


def pareto_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "labels": chart["labels"],
        "datasets": [
            {"label": "Exceptions opened", "data": chart["counts"], "color": ACCENT,
             "kind": "bar", "urls": chart["urls"]},
            {"label": "Cumulative share", "data": chart["cumulative"], "color": AMBER,
             "kind": "line", "axis": "y2"},
        ],
        "unit": "",
        "allLabels": True,
        "y2Percent": True,
        "legend": True,
    }  # fmt: skip


def aging_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "stacked": True,
        "allLabels": True,
        "labels": chart["labels"],
        "datasets": [
            {"label": dataset["label"], "data": dataset["data"], "color": colour, "kind": "bar",
             "urls": chart["urls"]}
            for dataset, colour in zip(chart["datasets"], OWNER_COLOURS, strict=True)
        ],
        "unit": "",
        "legend": True,
    }  # fmt: skip


def discount_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "stacked": True,
        "labels": chart["labels"],
        "datasets": [
            {"label": f"Taken ({data['currency']})", "data": chart["taken"], "color": GREEN,
             "kind": "bar", "urls": chart["taken_urls"]},
            {"label": f"Missed ({data['currency']})", "data": chart["missed"], "color": RED,
             "kind": "bar", "urls": chart["missed_urls"]},
        ],
        "unit": data["currency"] or "",
        "legend": True,
    }  # fmt: skip


def throughput_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "bar",
        "labels": chart["labels"],
        "datasets": [
            {"label": "Opened", "data": chart["opened"], "color": AMBER, "kind": "bar",
             "urls": chart["opened_urls"]},
            {"label": "Resolved", "data": chart["resolved"], "color": GREEN, "kind": "bar",
             "urls": chart["resolved_urls"]},
        ],
        "unit": "",
        "legend": True,
    }  # fmt: skip


def resolution_spec(chart_id: str, data: dict) -> dict:
    chart = data["chart"]
    return {
        "id": chart_id,
        "type": "line",
        "labels": chart["labels"],
        "datasets": [
            {"label": dataset["label"], "data": dataset["data"], "color": colour, "kind": "line"}
            for dataset, colour in zip(chart["datasets"], OWNER_COLOURS, strict=True)
        ],
        "unit": "h",
        "legend": True,
    }


def vendors_spec(chart_id: str, rows: list[dict], urls: dict[int, str]) -> dict:
    return {
        "id": chart_id,
        "type": "bar",
        "horizontal": True,
        "labels": [row["name"] for row in rows],
        "datasets": [
            {"label": "Exceptions opened", "data": [row["opened"] for row in rows],
             "color": RED, "kind": "bar", "urls": [urls.get(row["vendor_id"], "") for row in rows]},
        ],
        "unit": "",
        "legend": False,
    }  # fmt: skip
