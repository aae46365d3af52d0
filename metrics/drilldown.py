"""The invoices and exceptions behind a dashboard number, by the same definitions as the facts.

Invoice lists read the KPI snapshot (metrics_invoicekpi) the facts are summed from, so a list
has exactly as many rows as the number it came from. Exception lists read the exceptions
with their invoice's dimensions from the same snapshot, as the rollup does.
"""

import datetime as dt
import functools
from urllib.parse import urlencode

from django.db.models import F, Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from metrics.models import AGE_BUCKET_BOUNDS, InvoiceKpi
from metrics.selectors import Scope
from payables.models.exceptions import InvoiceException

EVENT_DAY = {
    "captured": "captured_day",
    "first_match": "first_match_day",
    "approved": "approved_day",
    "paid": "paid_day",
    "discount": "discount_day",
}
PARTS = {
    "all": Q(),
    "first_pass": Q(first_pass=True),
    "not_first_pass": Q(first_pass=False),
    "touchless": Q(touchless=True),
    "touched": Q(touchless=False),
    "on_time": Q(on_time=True),
    "late": Q(on_time=False),
    "taken": Q(discount_taken__gte=F("discount_available")),
    "missed": Q(discount_taken__lt=F("discount_available")),
    "on_po": Q(on_po=True),
    "off_po": Q(on_po=False),
    "matched": Q(matched=True),
    "unmatched": Q(matched=False),
    "clean": Q(had_exception=False),
    "with_exception": Q(had_exception=True),
}


def invoice_rows(
    *,
    scope: Scope,
    event: str,
    part: str,
    start: dt.date,
    end: dt.date,
    currency: str = "",
) -> QuerySet:
    """KPI snapshot rows whose `event` day lies in [start, end] and that belong to `part`."""
    day = EVENT_DAY[event]
    rows = InvoiceKpi.objects.filter(
        scope.invoice_filter(), PARTS[part or "all"], **{f"{day}__range": (start, end)}
    )
    if currency:
        rows = rows.filter(currency=currency)
    return rows.select_related("invoice", "vendor", "purchase_order", "buyer").order_by(
        f"-{day}", "-invoice_id"
    )


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=timezone.get_default_timezone())


def effective_root_cause(root_cause: str) -> Q:
    """The recorded root cause, or the suggested one while nobody has recorded it."""
    return Q(root_cause=root_cause) | Q(root_cause="", suggested_root_cause=root_cause)


def exception_rows(
    *,
    scope: Scope,
    event: str,
    start: dt.date,
    end: dt.date,
    type: str = "",
    owner: str = "",
    root_cause: str = "",
    age: str = "",
    currency: str = "",
) -> QuerySet:
    """Exceptions opened or resolved in [start, end], or unresolved at the end of `end`."""
    after_start, after_end = _midnight(start), _midnight(end + dt.timedelta(days=1))
    rows = InvoiceException.objects.filter(
        scope.invoice_filter("invoice__kpi__"), invoice__kpi__isnull=False
    )
    if event == "opened":
        rows = rows.filter(opened_at__gte=after_start, opened_at__lt=after_end)
    elif event == "resolved":
        rows = rows.filter(
            status="resolved", resolved_at__gte=after_start, resolved_at__lt=after_end
        )
    else:
        rows = rows.filter(opened_at__lt=after_end).exclude(
            status="resolved", resolved_at__lt=after_end
        )
        if age:
            rows = rows.filter(_age_condition(age, end))
    if type:
        rows = rows.filter(type=type)
    if owner:
        rows = rows.filter(owner=owner)
    if root_cause:
        rows = rows.filter(effective_root_cause(root_cause))
    if currency:
        rows = rows.filter(invoice__kpi__currency=currency)
    return rows.select_related(
        "invoice", "invoice__vendor", "invoice__purchase_order", "owner_user"
    ).order_by("opened_at", "id")


def _age_condition(age: str, end: dt.date) -> Q:
    """Opened on a day that makes it `age` old at the end of `end` (same bounds as the rollup)."""
    for bucket, first, last in AGE_BUCKET_BOUNDS:
        if bucket == age:
            # Age in days = end − opened day: opened on or before end − first ...
            condition = Q(opened_at__lt=_midnight(end - dt.timedelta(days=first - 1)))
            if last is not None:
                # ... and on or after end − last.
                condition &= Q(opened_at__gte=_midnight(end - dt.timedelta(days=last)))
            return condition
    return Q()


def invoices_url(scope_params: dict[str, str], **params: object) -> str:
    """Link to the invoice drill-down, keeping the dashboard's filters."""
    return _url("metrics:drill_invoices", scope_params, params)


def exceptions_url(scope_params: dict[str, str], **params: object) -> str:
    """Link to the exception drill-down, keeping the dashboard's filters."""
    return _url("metrics:drill_exceptions", scope_params, params)


@functools.cache
def _path(name: str) -> str:
    # A dashboard builds a few hundred links to the same two pages.
    return reverse(name)


def _url(name: str, scope_params: dict[str, str], params: dict[str, object]) -> str:
    query = {**scope_params}
    for key, value in params.items():
        if value not in (None, ""):
            query[key] = value.isoformat() if isinstance(value, dt.date) else str(value)
    return f"{_path(name)}?{urlencode(query)}"
