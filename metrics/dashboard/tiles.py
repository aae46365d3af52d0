"""Arranging the facts into the dashboard's headline tiles and the full KPI table.

Everything here works on what the selectors returned (a fixed number of queries over the
facts); links point at the drill-down lists that recount the same numbers from invoices.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.template.defaultfilters import pluralize

from metrics import kpis, selectors
from metrics.dashboard.period import OWNERS, Links, Period
from metrics.dashboard.trends import (
    TargetStatus,
    Trend,
    amount_trend,
    number,
    rate_trend,
    target_status,
)
from metrics.models import AgeBucket, KpiTarget, Measure
from metrics.selectors import Durations, KpiTotals, OpenSnapshot, Scope
from p2p.money import format_money
from p2p.templatetags.p2p_tags import pct


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


def currency_rate(totals: KpiTotals, currency: str, rate: str) -> Decimal | None:
    for amounts in totals.money:
        if amounts.currency == currency:
            return getattr(amounts, rate)
    return None


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
            capture, currency_rate(before, main.currency, "discount_capture"), days
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
        None if main is None else currency_rate(before, main.currency, "po_compliance"),
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
