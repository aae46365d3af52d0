"""Trend arrows against the previous period and the status against a KPI's target."""

from dataclasses import dataclass
from decimal import Decimal

from metrics import kpis
from metrics.models import KpiTarget
from p2p.templatetags.p2p_tags import pct

HUNDRED = Decimal("100")


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
