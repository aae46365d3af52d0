"""Metrics pages: the shared KPI dashboard, its drill-downs, targets and the weekly sync report."""

from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_POST

from metrics import kpis, report, selectors, services
from metrics.dashboard import chartjs, charts, tiles
from metrics.dashboard.period import OWNERS, RESOLVE_MEASURES, Links, Period
from metrics.drilldown import EVENT_DAY, exception_rows, exceptions_url, invoice_rows
from metrics.forms import (
    PERIODS,
    DashboardForm,
    ExceptionDrillForm,
    InvoiceDrillForm,
    ReportEmailForm,
    TargetForm,
    WeekForm,
    WeeklyActionsForm,
)
from metrics.models import AgeBucket, Measure
from metrics.report_pdf import render_weekly_pdf
from p2p import roles
from p2p.exceptions import DomainError, NotAllowed
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm
from payables.models.exceptions import InvoiceException
from vendors.models import Vendor

PAGE_SIZE = 50
# (key, tab label, permission to see it): the same facts and definitions, arranged per audience.
AUDIENCES = (
    ("overview", "Overview", Perm.READ_DASHBOARD),
    ("buyers", "Buyer PO quality", Perm.SEE_BUYER_KPIS),
    ("ap", "AP queue health", Perm.SEE_AP_KPIS),
)
SCOPE_KEYS = ("vendor", "department", "cost_center", "buyer")
ROOT_CAUSE_LABELS = dict(InvoiceException.RootCause.choices)


def _audiences(user) -> list[tuple[str, str]]:
    return [(key, label) for key, label, perm in AUDIENCES if roles.may(user, perm)]


def _default_audience(user) -> str:
    # Which tab a role lands on is who the user is, not what they may do.
    if roles.has_role(user, roles.FINANCE_LEADER):
        return "overview"
    if roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER):
        return "ap"
    if roles.has_role(user, roles.BUYER):
        return "buyers"
    return "overview"


def _query(request: HttpRequest, **changes: str | None) -> str:
    """The current query string with some parameters changed (None drops one)."""
    query = request.GET.copy()
    for key, value in changes.items():
        query.pop(key, None)
        if value is not None:
            query[key] = value
    return query.urlencode()


@roles.role_required(Perm.READ_DASHBOARD)
def dashboard_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Headline KPIs with trend and target, charts and tables, per audience, from the facts."""
    user = request.user
    allowed = dict(_audiences(user))
    audience = request.GET.get("view") or _default_audience(user)
    if audience not in allowed:
        raise NotAllowed("This view of the dashboard is not for your role.")
    data = request.GET.copy()
    # A buyer's own view starts with their POs; "All buyers" in the filter widens it.
    if audience == "buyers" and "buyer" not in data and roles.has_role(user, roles.BUYER):
        data["buyer"] = str(user.pk)
    form = DashboardForm(data)
    if not form.is_valid():
        # Keep the page useful: show the errors and fall back to the whole company.
        form_errors = [error for errors in form.errors.values() for error in errors]
        form = DashboardForm(QueryDict(f"period={PERIODS[1]}"))
        form.is_valid()
    else:
        form_errors = []
    scope = form.scope()
    start, end = form.period_bounds()
    period = Period(start, end)
    links = Links(
        form.scope_params(),
        start,
        end,
        invoices=roles.may(user, Perm.READ_INVOICES),
        exceptions=roles.may(user, Perm.DRILL_EXCEPTIONS),
    )

    daily = selectors.daily_kpis(scope, period.first_day, end)
    now = daily.between(start, end)
    before = daily.between(period.previous_start, period.previous_end)
    durations = selectors.duration_stats(
        scope,
        {"cur": (start, end), "prev": (period.previous_start, period.previous_end)},
        [m.value for m in Measure],
    )
    weekly_measures = [Measure.APPROVE_DAYS]
    if audience in ("ap", "buyers"):
        weekly_measures += list(RESOLVE_MEASURES)
    weekly = selectors.weekly_duration_stats(scope, period.weeks[0], end, weekly_measures)
    snapshots = selectors.open_snapshots(
        scope, {end, period.previous_end, *(period.week_end(week) for week in period.weeks)}
    )
    targets = selectors.targets()
    open_now, open_before = snapshots[end], snapshots[period.previous_end]
    discount_currency = _main_currency(daily.between(period.weeks[0], end))

    context: dict[str, Any] = {
        "form": form,
        "form_errors": form_errors,
        "audience": audience,
        "audiences": [
            {"key": key, "label": label, "query": _query(request, view=key)}
            for key, label in allowed.items()
        ],
        "period": period,
        "period_links": [
            {
                "days": days,
                "query": _query(request, period=str(days), start=None, end=None),
                "active": not form.cleaned_data.get("start")
                and (form.cleaned_data.get("period") or PERIODS[1]) == days,
            }
            for days in PERIODS
        ],
        "scope": scope,
        "tiles": tiles.headline_tiles(
            now, before, durations, open_now, open_before, period, targets, links
        ),
        "kpi_rows": tiles.kpi_table(now, before, durations, open_now, open_before, links, scope),
        "trends": charts.weekly_trends(
            daily, weekly, snapshots, period, targets, links, discount_currency
        ),
        "can_set_targets": roles.may(user, Perm.SET_TARGETS),
        "can_read_report": roles.may(user, Perm.READ_REPORT),
        "can_open_vendors": roles.may(user, Perm.READ_VENDORS),
    }
    if audience in ("overview", "ap"):
        context["aging"] = charts.aging(open_now, links)
        context["discounts"] = charts.discounts_by_week(daily, period, links, discount_currency)
    slices = selectors.exception_slices(scope, start, end)
    if audience == "overview":
        context["pareto"] = charts.pareto(slices, links, ROOT_CAUSE_LABELS)
        context["worst_vendors"] = selectors.vendors_by_exceptions(scope, start, end)
        context["vendor_links"] = {}
        for row in context["worst_vendors"]:
            vendor_links = Links(
                {**links.scope_params, "vendor": str(row["vendor_id"])},
                start,
                end,
                links.invoices,
                links.exceptions,
            )
            row["url"] = context["vendor_links"][row["vendor_id"]] = vendor_links.exception(
                "opened"
            )
            row["invoices_url"] = vendor_links.invoice("captured")
    elif audience == "buyers":
        buyer_slices = [s for s in slices if s.owner == "buyer"]
        context["pareto"] = charts.pareto(buyer_slices, links, ROOT_CAUSE_LABELS)
        context["buyer_rows"] = _buyer_rows(scope, form, start, end, links, user)
        context["resolution"] = charts.resolution_by_owner(durations, weekly, period, links)
    else:
        ap_slices = [s for s in slices if s.owner == "ap"]
        context["pareto"] = charts.pareto(ap_slices, links, ROOT_CAUSE_LABELS)
        context["throughput"] = charts.exceptions_by_week(daily, period, links)
        context["resolution"] = charts.resolution_by_owner(durations, weekly, period, links)
        context["queue_links"] = queue_links = _queue_links(scope, form)
        context["queue_rows"] = [
            {
                "label": label,
                "cells": [row["cells"][n] for row in context["aging"]["rows"]],
                "total": sum(row["cells"][n]["count"] for row in context["aging"]["rows"]),
                "queue_url": queue_links[owner],
            }
            for n, (owner, label) in enumerate(OWNERS)
        ]
    context["charts"] = _chart_specs(context)
    context["filter_options"] = _filter_options(form)
    return render(request, "metrics/dashboard.html", context)


def _options(rows, selected: str, empty: str) -> SafeString:
    """<option> tags for a filter select, built in one pass: a Django widget renders a template
    per option, which for a few thousand vendors costs more than the rest of the page."""
    tags = [f'<option value=""{"" if selected else " selected"}>{escape(empty)}</option>']
    for value, label in rows:
        marker = " selected" if str(value) == selected else ""
        tags.append(f'<option value="{escape(value)}"{marker}>{escape(label)}</option>')
    return mark_safe("".join(tags))  # noqa: S308 — every value and label is escaped above


def _filter_options(form: DashboardForm) -> dict[str, str]:
    data = form.cleaned_data
    chosen = {key: str(getattr(data.get(key), "pk", data.get(key) or "")) for key in SCOPE_KEYS}
    # form.fields types every field as Field; the ones read here are (Model)ChoiceFields.
    buyers = [
        (user.pk, user.get_full_name() or user.username)
        for user in form.fields["buyer"].queryset  # type: ignore[attr-defined]
    ]
    return {
        "vendor": _options(
            Vendor.objects.order_by("name").values_list("pk", "name"),
            chosen["vendor"],
            "All vendors",
        ),
        "department": _options(
            [
                (name, name)
                for name, _label in form.fields["department"].choices  # type: ignore[attr-defined]
                if name
            ],
            chosen["department"],
            "All departments",
        ),
        "cost_center": _options(
            ((center.pk, str(center)) for center in form.cost_centers),
            chosen["cost_center"],
            "All cost centers",
        ),
        "buyer": _options(buyers, chosen["buyer"], "All buyers"),
    }


def _chart_specs(context: dict) -> list[dict]:
    specs = chartjs.trend_specs(context["trends"])
    if "pareto" in context:
        specs.append(chartjs.pareto_spec("chart-pareto", context["pareto"]))
    if "aging" in context:
        specs.append(chartjs.aging_spec("chart-aging", context["aging"]))
    if context.get("discounts") and context["discounts"]["currency"]:
        specs.append(chartjs.discount_spec("chart-discounts", context["discounts"]))
    if "throughput" in context:
        specs.append(chartjs.throughput_spec("chart-throughput", context["throughput"]))
    if "resolution" in context:
        specs.append(chartjs.resolution_spec("chart-resolution", context["resolution"]))
    if context.get("worst_vendors"):
        specs.append(
            chartjs.vendors_spec("chart-vendors", context["worst_vendors"], context["vendor_links"])
        )
    return specs


def _main_currency(totals: selectors.KpiTotals) -> str | None:
    rows = totals.discount_currencies or totals.spend_currencies
    if not rows:
        return None
    return max(rows, key=lambda m: (m.discount_available, m.spend_total)).currency


def _buyer_rows(scope, form, start, end, links, user) -> list[dict]:
    rows = selectors.buyer_quality(
        selectors.Scope(vendor_id=scope.vendor_id, cost_center_ids=scope.cost_center_ids),
        start,
        end,
    )
    for row in rows:
        buyer_links = Links(
            {**links.scope_params, "buyer": str(row["buyer_id"])},
            start,
            end,
            links.invoices,
            links.exceptions,
        )
        row["first_pass_url"] = buyer_links.invoice("first_match", "first_pass")
        row["attempts_url"] = buyer_links.invoice("first_match")
        row["disputes_url"] = buyer_links.exception("opened", owner="buyer")
        row["exceptions_url"] = buyer_links.exception("opened")
        row["is_me"] = row["buyer_id"] == user.pk
    return rows


def _queue_links(scope: selectors.Scope, form: DashboardForm) -> dict[str, str]:
    """Links into AP's own exception queue, with the filters that queue understands."""
    base = {"status": "open"}
    if scope.vendor_id:
        base["vendor"] = str(scope.vendor_id)
    url = reverse("payables:exception_list")
    links = {"all": f"{url}?{urlencode(base)}"}
    for owner, _label in InvoiceException.Owner.choices:
        links[owner] = f"{url}?{urlencode({**base, 'owner': owner})}"
    return links


# --- drill-downs ----------------------------------------------------------------------------


def _page(request: HttpRequest, rows):
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


@roles.role_required(Perm.READ_INVOICES)
def drill_invoices(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The invoices behind one dashboard number, counted exactly as the facts count them."""
    form = InvoiceDrillForm(request.GET)
    if not form.is_valid():
        return render(request, "metrics/drill_invalid.html", {"form": form}, status=400)
    data = form.cleaned_data
    event, part = data["event"], data.get("part") or "all"
    rows = invoice_rows(
        scope=form.scope(),
        event=event,
        part=part,
        start=data["start"],
        end=data["end"],
        currency=(data.get("currency") or "").upper(),
    )
    summary = list(
        rows.order_by()
        .values("currency")
        .annotate(
            n=Count("invoice_id"),
            spend=Sum("spend"),
            available=Sum("discount_available"),
            taken=Sum("discount_taken"),
        )
        .order_by("currency")
    )
    # form.fields types every field as Field; these are ChoiceFields.
    labels = dict(form.fields["event"].choices)  # type: ignore[attr-defined]
    parts = dict(form.fields["part"].choices)  # type: ignore[attr-defined]
    return render(
        request,
        "metrics/drill_invoices.html",
        {
            "form": form,
            "event": event,
            "event_label": labels[event],
            "part": part,
            "part_label": parts[part],
            "day_field": EVENT_DAY[event],
            "page": _page(request, rows),
            "count": sum(row["n"] for row in summary),
            "summary": summary,
            "definition": _definition_for(event, part),
            "back": _dashboard_back(form),
            "filters": _filter_labels(form),
            "sibling_parts": _sibling_parts(request, event),
        },
    )


def _definition_for(event: str, part: str) -> kpis.Kpi:
    if event == "first_match":
        return kpis.FIRST_PASS
    if event == "approved":
        return kpis.CYCLE_TIME if part == "all" else kpis.TOUCHLESS
    if event == "paid":
        return kpis.ON_TIME
    if event == "discount":
        return kpis.DISCOUNT_CAPTURE
    if part in ("matched", "unmatched"):
        return kpis.MATCH_RATE
    if part in ("clean", "with_exception"):
        return kpis.VENDOR_ACCURACY
    return kpis.PO_COMPLIANCE


_SIBLINGS = {
    "captured": ("all", "on_po", "off_po", "matched", "unmatched", "clean", "with_exception"),
    "first_match": ("all", "first_pass", "not_first_pass"),
    "approved": ("all", "touchless", "touched"),
    "paid": ("all", "on_time", "late"),
    "discount": ("all", "taken", "missed"),
}


def _sibling_parts(request: HttpRequest, event: str) -> list[dict]:
    labels = dict(InvoiceDrillForm.base_fields["part"].choices)  # type: ignore[attr-defined]
    current = request.GET.get("part") or "all"
    return [
        {
            "part": part,
            "label": labels[part],
            "query": _query(request, part=part, page=None),
            "active": part == current,
        }
        for part in _SIBLINGS[event]
    ]


def _filter_labels(form) -> list[str]:
    data = form.cleaned_data
    labels = []
    if data.get("vendor"):
        labels.append(data["vendor"].name)
    if data.get("department"):
        labels.append(f"department {data['department']}")
    if data.get("cost_center"):
        labels.append(str(data["cost_center"]))
    if data.get("buyer"):
        labels.append(f"buyer {data['buyer'].get_full_name() or data['buyer'].username}")
    if data.get("currency"):
        labels.append(data["currency"].upper())
    return labels


def _dashboard_back(form) -> str:
    params = {**form.scope_params(), "start": form.cleaned_data["start"].isoformat(),
              "end": form.cleaned_data["end"].isoformat()}  # fmt: skip
    return f"{reverse('metrics:dashboard')}?{urlencode(params)}"


@roles.role_required(Perm.DRILL_EXCEPTIONS)
def drill_exceptions(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The exceptions behind one dashboard number (opened, resolved or unresolved at the end)."""
    form = ExceptionDrillForm(request.GET)
    if not form.is_valid():
        return render(request, "metrics/drill_invalid.html", {"form": form}, status=400)
    data = form.cleaned_data
    rows = exception_rows(
        scope=form.scope(),
        event=data["event"],
        start=data["start"],
        end=data["end"],
        type=data.get("type") or "",
        owner=data.get("owner") or "",
        root_cause=data.get("root_cause") or "",
        age=data.get("age") or "",
        currency=(data.get("currency") or "").upper(),
    )
    page = _page(request, rows)
    user = request.user
    # The same test the exception page applies to let this user in.
    is_ap = roles.may(user, Perm.WORK_ALL_EXCEPTIONS)
    is_buyer = roles.may(user, Perm.ANSWER_DISPUTES)
    reads_invoices = roles.may(user, Perm.READ_INVOICES)
    for exception in page.object_list:
        # Open the exception where its own page admits this user, else its invoice.
        if (
            is_ap
            or exception.owner_user_id == user.pk
            or (is_buyer and exception.owner == InvoiceException.Owner.BUYER)
        ):
            exception.link = reverse("payables:exception_detail", args=[exception.pk])
        elif reads_invoices:
            exception.link = reverse("payables:invoice_detail", args=[exception.invoice_id])
        else:
            exception.link = ""
        if exception.resolved_at:
            exception.hours = int(
                (exception.resolved_at - exception.opened_at).total_seconds() // 3600
            )
    event_labels = dict(form.fields["event"].choices)  # type: ignore[attr-defined]
    describing = [
        label
        for label in (
            dict(InvoiceException.Type.choices).get(data.get("type") or ""),
            dict(InvoiceException.Owner.choices).get(data.get("owner") or ""),
            ROOT_CAUSE_LABELS.get(data.get("root_cause") or ""),
            dict(AgeBucket.choices).get(data.get("age") or ""),
        )
        if label
    ]
    queue_query = {"status": "open"}
    for key in ("type", "owner"):
        if data.get(key):
            queue_query[key] = data[key]
    if data.get("vendor"):
        queue_query["vendor"] = str(data["vendor"].pk)
    return render(
        request,
        "metrics/drill_exceptions.html",
        {
            "form": form,
            "event": data["event"],
            "event_label": event_labels[data["event"]],
            "describing": describing,
            "page": page,
            "count": page.paginator.count,
            "definition": kpis.OPEN_EXCEPTIONS if data["event"] == "open" else kpis.RESOLUTION_TIME,
            "back": _dashboard_back(form),
            "filters": _filter_labels(form),
            "queue_url": f"{reverse('payables:exception_list')}?{urlencode(queue_query)}"
            if is_ap and data["event"] == "open"
            else "",
        },
    )


# --- targets --------------------------------------------------------------------------------


def _target_rows(current: dict) -> list[dict]:
    return [{"kpi": kpi, "target": current.get(kpi.key)} for kpi in kpis.HEADLINE]


@roles.role_required(Perm.SET_TARGETS)
def targets_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Finance leaders set the target of each headline KPI; tiles show met or missed."""
    if request.method == "POST":
        form = TargetForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.kpi_target_set(kpi=data["kpi"], target=data["target"], by=request.user)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                label = kpis.BY_KEY[data["kpi"]].label
                messages.success(
                    request,
                    f"Target for {label} saved."
                    if data["target"] is not None
                    else f"Target for {label} removed.",
                )
        else:
            messages.error(request, "Enter the target as a number, e.g. 85 or 2.5.")
        if not request.htmx:
            return redirect("metrics:targets")
    context = {"rows": _target_rows(selectors.targets()), "inline_messages": bool(request.htmx)}
    template = "metrics/_target_rows.html" if request.htmx else "metrics/targets.html"
    return render(request, template, context)


# --- the weekly sync report -----------------------------------------------------------------


def _week(request: HttpRequest, value=None) -> report.Week:
    form = WeekForm({"week": value if value is not None else request.GET.get("week", "")})
    return report.Week(form.monday())


@roles.role_required(Perm.READ_REPORT)
def weekly_report_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The weekly AP–procurement sync: root causes, worst vendors and POs, missed discounts."""
    week = _week(request)
    weekly = report.build(week)
    if request.GET.get("format") == "pdf":
        response = HttpResponse(render_weekly_pdf(weekly), content_type="application/pdf")
        response["Content-Disposition"] = f'attachment; filename="weekly-sync-{week.label}.pdf"'
        return response
    table = request.GET.get("csv")
    if table:
        if table not in report.CSV_TABLES:
            return HttpResponse("Unknown table.", status=400, content_type="text/plain")
        response = HttpResponse(report.csv_text(weekly, table), content_type="text/csv")
        response["Content-Disposition"] = (
            f'attachment; filename="weekly-sync-{week.label}-{table}.csv"'
        )
        return response
    can_edit = roles.may(request.user, Perm.EDIT_KPI_ACTIONS)
    return render(
        request,
        "metrics/weekly_report.html",
        _report_context(request, weekly, can_edit=can_edit),
    )


def _report_context(
    request: AuthenticatedHttpRequest,
    weekly: report.WeeklyReport,
    *,
    can_edit: bool,
    inline_messages=False,
) -> dict:
    week = weekly.week
    # Every count in the report opens the exceptions behind it, for the same week.
    span = {"event": "opened", "start": week.monday, "end": week.end}
    for row in weekly.root_causes:
        row["url"] = (
            exceptions_url({}, **span, root_cause=row["root_cause"]) if row["root_cause"] else ""
        )
    for row in [*weekly.worst_vendors, *weekly.repeat_vendors]:
        row["url"] = exceptions_url({"vendor": str(row["vendor_id"])}, **span)
    return {
        "inline_messages": inline_messages,
        "report": weekly,
        "week": week,
        "previous_url": f"{reverse('metrics:weekly_report')}?week={week.previous.monday}",
        "next_url": f"{reverse('metrics:weekly_report')}?week={week.next.monday}"
        if week.next
        else "",
        "csv_tables": report.CSV_TABLES,
        "can_edit": can_edit,
        "actions_form": WeeklyActionsForm(
            initial={"week": week.monday, "actions": weekly.note.actions if weekly.note else ""}
        ),
        "email_form": ReportEmailForm(
            initial={"week": week.monday, "recipients": request.user.email}
        ),
        "discounts_shown": weekly.missed_discounts[: report.DISCOUNT_ROWS_SHOWN],
        "dashboard_url": f"{reverse('metrics:dashboard')}?"
        + urlencode({"start": week.monday.isoformat(), "end": week.end.isoformat()}),
    }


@require_POST
@roles.role_required(Perm.EDIT_KPI_ACTIONS)
def weekly_actions_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Save the actions agreed for a week (htmx swaps the actions card; plain POST redirects)."""
    form = WeeklyActionsForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose the week and write the actions agreed.")
        return redirect("metrics:weekly_report")
    week = report.Week(form.cleaned_data["week"])
    try:
        services.weekly_actions_save(
            week=week.monday, actions=form.cleaned_data["actions"], by=request.user
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Actions for the week of {week.monday:%d %b %Y} saved.")
    if request.htmx:
        weekly = report.build(week)
        return render(
            request,
            "metrics/_weekly_actions.html",
            _report_context(request, weekly, can_edit=True, inline_messages=True),
        )
    return redirect(f"{reverse('metrics:weekly_report')}?week={week.monday}")


@require_POST
@roles.role_required(Perm.READ_REPORT)
def weekly_report_email_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Email the week's report as HTML to the addresses given."""
    form = ReportEmailForm(request.POST)
    week_value = request.POST.get("week", "")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                # An ErrorList yields its messages as strings; the stubs say ValidationError too.
                messages.error(request, error)  # type: ignore[arg-type]
        return redirect(f"{reverse('metrics:weekly_report')}?week={week_value}")
    week = report.Week(selectors.monday(form.cleaned_data["week"]))
    weekly = report.build(week)
    context = _report_context(request, weekly, can_edit=False)
    context["site_url"] = request.build_absolute_uri("/").rstrip("/")
    subject = f"AP–procurement weekly sync, week of {week.monday:%d %b %Y}"
    try:
        services.weekly_report_send(
            week=week.monday,
            recipients=form.cleaned_data["recipients"],
            subject=subject,
            html=render_to_string("metrics/weekly_report_email.html", context, request=request),
            text=render_to_string("metrics/weekly_report_email.txt", context, request=request),
            pdf=(f"weekly-sync-{week.label}.pdf", render_weekly_pdf(weekly)),
            by=request.user,
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Report sent to {', '.join(form.cleaned_data['recipients'])}.")
    return redirect(f"{reverse('metrics:weekly_report')}?week={week.monday}")
