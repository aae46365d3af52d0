"""The shared KPI dashboard: one page, the same numbers for procurement, AP and finance."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django import forms
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.template.defaultfilters import pluralize
from django.utils import timezone

from metrics import selectors
from p2p import roles
from p2p.templatetags.p2p_tags import pct
from procurement.models import CostCenter
from vendors.models import Vendor

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
TREND_WEEKS = 13
# Who may open a vendor's page from the table of vendors with most exceptions.
VENDOR_READERS = (roles.BUYER, roles.AP_CLERK, roles.AP_MANAGER, roles.FINANCE_LEADER)

# One definition per KPI, shown under each number (DESIGN.md, "KPIs").
DEFINITIONS = {
    "first_pass": "Invoices approved on their first match attempt ÷ invoices first matched in the period",
    "touchless": "Invoices captured → approved with no human action ÷ invoices approved",
    "on_time": "Invoices paid on or before their due date ÷ invoices paid",
    "discount": "Discount taken ÷ discount available (window closed or paid in the period)",
    "po_compliance": "Invoice spend on a PO ÷ all invoice spend",
    "exceptions": "Exceptions raised by matching in the period (price, quantity, receipt, PO, duplicate)",
    "captured": "Invoices and credit notes captured in the period, from any channel",
}


class DashboardFilterForm(forms.Form):
    """Period, vendor and cost center; anything invalid falls back to the whole company."""

    period = forms.TypedChoiceField(
        choices=[(str(days), f"Last {days} days") for days in PERIODS],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
    )
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.only("id", "name").order_by("name"),
        required=False,
        empty_label="All vendors",
    )
    cost_center = forms.ModelChoiceField(
        queryset=CostCenter.objects.order_by("code"),
        required=False,
        empty_label="All cost centers",
    )


@dataclass(frozen=True)
class Trend:
    """How a KPI moved against the previous period, and whether that is good news."""

    text: str
    css: str  # "good", "bad" or "" (unchanged or not comparable)


def _rate_trend(current: Decimal | None, previous: Decimal | None, days: int) -> Trend:
    if previous is None:
        return Trend(f"no data in the previous {days} days", "")
    if current is None:
        return Trend(f"previous {days} days: {pct(previous)}", "")
    points = (current - previous) * 100
    if abs(points) < Decimal("0.05"):
        return Trend(f"= previous {days} days ({pct(previous)})", "")
    arrow = "▲" if points > 0 else "▼"
    return Trend(
        f"{arrow} {abs(points):.1f} pts vs previous {days} days ({pct(previous)})",
        "good" if points > 0 else "bad",
    )


def _count_trend(current: int, previous: int, days: int, *, more_is_good: bool | None) -> Trend:
    if current == previous:
        return Trend(f"= previous {days} days ({previous})", "")
    arrow = "▲" if current > previous else "▼"
    css = (
        "" if more_is_good is None else ("good" if (current > previous) == more_is_good else "bad")
    )
    return Trend(f"{arrow} {abs(current - previous)} vs previous {days} days ({previous})", css)


def _share(part: int, whole: int, noun: str, *, nothing: str) -> str:
    """'10 of 17 invoices', or what to say when the denominator is zero."""
    if not whole:
        return nothing
    return f"{part} of {whole} {noun}{pluralize(whole)}"


def _tiles(comparison: selectors.PeriodComparison) -> list[dict]:
    """The KPI tiles in reading order: match quality, payment discipline, volume."""
    now, before, days = comparison.current, comparison.previous, comparison.days
    return [
        {
            "label": "First-pass match rate",
            "value": now.first_pass_rate,
            "kind": "rate",
            "detail": _share(
                now.first_pass_matches,
                now.first_match_attempts,
                "invoice",
                nothing="No invoice matched for the first time",
            ),
            "trend": _rate_trend(now.first_pass_rate, before.first_pass_rate, days),
            "definition": DEFINITIONS["first_pass"],
        },
        {
            "label": "Touchless rate",
            "value": now.touchless_rate,
            "kind": "rate",
            "detail": _share(
                now.touchless_approvals,
                now.invoices_approved,
                "approval",
                nothing="No invoice approved",
            ),
            "trend": _rate_trend(now.touchless_rate, before.touchless_rate, days),
            "definition": DEFINITIONS["touchless"],
        },
        {
            "label": "On-time payment",
            "value": now.on_time_rate,
            "kind": "rate",
            "detail": _share(
                now.paid_on_time, now.invoices_paid, "invoice", nothing="No invoice paid"
            )
            + (" paid on time" if now.invoices_paid else ""),
            "trend": _rate_trend(now.on_time_rate, before.on_time_rate, days),
            "definition": DEFINITIONS["on_time"],
        },
        {
            "label": "Discount capture",
            "value": now.discount_capture,
            "kind": "rate",
            "currencies": now.discount_currencies,
            "money": "discount",
            "trend": _rate_trend(now.discount_capture, before.discount_capture, days),
            "definition": DEFINITIONS["discount"],
        },
        {
            "label": "PO compliance",
            "value": now.po_compliance,
            "kind": "rate",
            "currencies": now.spend_currencies,
            "money": "spend",
            "trend": _rate_trend(now.po_compliance, before.po_compliance, days),
            "definition": DEFINITIONS["po_compliance"],
        },
        {
            "label": "Exceptions opened",
            "value": now.exceptions_opened,
            "kind": "count",
            "detail": f"{now.exceptions_resolved} resolved in the period",
            "trend": _count_trend(
                now.exceptions_opened, before.exceptions_opened, days, more_is_good=False
            ),
            "definition": DEFINITIONS["exceptions"],
            "warn": now.exceptions_opened > now.exceptions_resolved,
        },
        {
            "label": "Invoices captured",
            "value": now.invoices_captured,
            "kind": "count",
            "trend": _count_trend(
                now.invoices_captured, before.invoices_captured, days, more_is_good=None
            ),
            "definition": DEFINITIONS["captured"],
        },
    ]


def _chart_data(points: list[selectors.WeekPoint]) -> dict:
    """Percentages per week for Chart.js; None leaves a gap where nothing was matched."""

    def as_percent(value: Decimal | None) -> float | None:
        # Floats only at the edge, for the chart's JSON; the tiles use Decimal.
        return None if value is None else round(float(value * 100), 1)

    return {
        "labels": [point.week.strftime("%d %b") for point in points],
        "first_pass": [as_percent(point.first_pass_rate) for point in points],
        "touchless": [as_percent(point.touchless_rate) for point in points],
    }


def _period_links(request: HttpRequest, period: int) -> list[dict]:
    """The 7/30/90-day switch, keeping the vendor and cost-center filters."""
    links = []
    for days in PERIODS:
        query = QueryDict(mutable=True)
        query.update({k: v for k, v in request.GET.items() if k in ("vendor", "cost_center") and v})
        query["period"] = str(days)
        links.append({"days": days, "query": query.urlencode(), "active": days == period})
    return links


@roles.role_required(*roles.DASHBOARD_READERS)
def dashboard(request: HttpRequest) -> HttpResponse:
    """KPI tiles with their definitions, a 13-week trend and the vendors with most exceptions."""
    form = DashboardFilterForm(request.GET or None)
    chosen = form.cleaned_data if form.is_valid() else {}
    period = chosen.get("period") or DEFAULT_PERIOD
    vendor = chosen.get("vendor")
    cost_center = chosen.get("cost_center")
    scope = {
        "vendor_id": vendor.pk if vendor else None,
        "cost_center_id": cost_center.pk if cost_center else None,
    }
    end = timezone.localdate()
    start = end - dt.timedelta(days=period - 1)
    comparison = selectors.period_comparison(start=start, end=end, **scope)
    trend = selectors.weekly_trend(end=end, weeks=TREND_WEEKS, **scope)
    return render(
        request,
        "metrics/dashboard.html",
        {
            "form": form,
            "period": period,
            "period_links": _period_links(request, period),
            "can_open_vendors": roles.has_role(request.user, *VENDOR_READERS),
            "vendor": vendor,
            "cost_center": cost_center,
            "comparison": comparison,
            "tiles": _tiles(comparison),
            "trend": trend,
            "chart_data": _chart_data(trend),
            "worst_vendors": selectors.vendors_by_exceptions(start=start, end=end, **scope),
        },
    )
