"""The dashboard's chart data: weekly trends, exception Pareto, aging, discounts, throughput."""

import datetime as dt
from decimal import Decimal
from typing import Any

from metrics import kpis, selectors
from metrics.dashboard.period import OWNERS, Links, Period
from metrics.dashboard.tiles import currency_rate
from metrics.dashboard.trends import amount_trend
from metrics.models import AgeBucket, KpiTarget, Measure
from metrics.selectors import Durations, KpiTotals, OpenSnapshot, ratio


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
        return None if currency is None else currency_rate(total, currency, attribute)

    series: dict[str, list[float | None]] = {
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
    running = 0
    rows: list[dict[str, Any]] = []
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
    rows: list[dict[str, Any]] = []
    for bucket, label in AgeBucket.choices:
        cells: list[dict[str, Any]] = [
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
    rows: list[dict[str, Any]] = []
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
    rows: list[dict[str, Any]] = []
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
    rows: list[dict[str, Any]] = []
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
