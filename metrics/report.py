"""The weekly AP–procurement sync report: root causes, worst vendors and POs, missed discounts.

Counts come from the same facts as the dashboard (so the meeting and the dashboard agree);
examples, POs and discount reasons read the week's own documents, a bounded set.
"""

import csv
import datetime as dt
import io
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, Q, Sum, Value, Window
from django.db.models.functions import Coalesce, NullIf, RowNumber
from django.utils import timezone

from metrics import selectors
from metrics.drilldown import _midnight
from metrics.models import DailyExceptionFact, InvoiceKpi, WeeklySyncNote
from metrics.selectors import Scope, ratio
from p2p.models import AuditAction, AuditEvent
from p2p.money import format_money
from payables.models.exceptions import InvoiceException
from payables.models.payments import PaymentRunExclusion
from vendors.models import Vendor

EXAMPLES_PER_CAUSE = 3
WORST = 10
DISCOUNT_ROWS_SHOWN = 25
ROOT_CAUSE_LABELS = dict(InvoiceException.RootCause.choices)
TYPE_LABELS = dict(InvoiceException.Type.choices)
OWNER_LABELS = dict(InvoiceException.Owner.choices)
EVERYONE = Scope()


@dataclass(frozen=True)
class Week:
    """Monday to Sunday; a week still running ends today."""

    monday: dt.date

    @property
    def end(self) -> dt.date:
        return min(self.monday + dt.timedelta(days=6), max(timezone.localdate(), self.monday))

    @property
    def sunday(self) -> dt.date:
        return self.monday + dt.timedelta(days=6)

    @property
    def previous(self) -> "Week":
        return Week(self.monday - dt.timedelta(weeks=1))

    @property
    def next(self) -> "Week | None":
        following = self.monday + dt.timedelta(weeks=1)
        return Week(following) if following <= timezone.localdate() else None

    @property
    def is_running(self) -> bool:
        return self.end < self.sunday

    @property
    def label(self) -> str:
        year, number, _ = self.monday.isocalendar()
        return f"{year}-W{number:02d}"


@dataclass
class MissedDiscount:
    """One invoice whose discount was (partly) missed, and why."""

    kpi: InvoiceKpi
    reason: str
    detail: str

    @property
    def missed(self) -> Decimal:
        return self.kpi.discount_available - self.kpi.discount_taken

    @property
    def label(self) -> str:
        return REASONS[self.reason]


@dataclass
class WeeklyReport:
    """Everything the weekly sync page, its email and its CSV exports show."""

    week: Week
    root_causes: list[dict] = field(default_factory=list)
    opened_this_week: int = 0
    opened_last_week: int = 0
    worst_vendors: list[dict] = field(default_factory=list)
    worst_pos: list[dict] = field(default_factory=list)
    repeat_vendors: list[dict] = field(default_factory=list)
    repeat_pos: list[dict] = field(default_factory=list)
    missed_discounts: list[MissedDiscount] = field(default_factory=list)
    missed_by_reason: list[dict] = field(default_factory=list)
    note: WeeklySyncNote | None = None
    previous_note: WeeklySyncNote | None = None
    history: list[AuditEvent] = field(default_factory=list)


def _week_span(week: Week) -> tuple[dt.datetime, dt.datetime]:
    return _midnight(week.monday), _midnight(week.sunday + dt.timedelta(days=1))


def _effective_root_cause():
    return Coalesce(NullIf("root_cause", Value("")), "suggested_root_cause")


def root_causes(week: Week) -> tuple[list[dict], int, int]:
    """Exceptions opened this week and last by root cause, with the largest examples."""
    this_week = selectors.exception_slices(EVERYONE, week.monday, week.end)
    last_week = selectors.exception_slices(EVERYONE, week.previous.monday, week.previous.sunday)
    now: Counter = Counter()
    before: Counter = Counter()
    amounts: dict[str, defaultdict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    owners: dict[str, Counter] = defaultdict(Counter)
    for item in this_week:
        now[item.root_cause] += item.opened
        owners[item.root_cause][item.owner] += item.opened
        for currency, amount in item.amounts:
            amounts[item.root_cause][currency] += amount
    for item in last_week:
        before[item.root_cause] += item.opened
    start, end = _week_span(week)
    examples: dict[str, list[InvoiceException]] = defaultdict(list)
    ranked = (
        InvoiceException.objects.filter(opened_at__gte=start, opened_at__lt=end)
        .annotate(
            cause=_effective_root_cause(),
            rank=Window(
                RowNumber(),
                partition_by=[_effective_root_cause()],
                order_by=[F("amount_at_stake").desc(), F("id").asc()],
            ),
        )
        .filter(rank__lte=EXAMPLES_PER_CAUSE)
        .select_related("invoice", "invoice__vendor", "invoice__purchase_order")
        .order_by("cause", "rank")
    )
    for exception in ranked:
        # django-stubs types a custom QuerySet's annotate() as returning plain models.
        examples[exception.cause].append(exception)  # type: ignore[attr-defined]
    total_now, total_before = sum(now.values()), sum(before.values())
    rows = []
    for cause in sorted(set(now) | set(before), key=lambda c: (-now[c], -before[c], c)):
        rows.append(
            {
                "root_cause": cause,
                "label": ROOT_CAUSE_LABELS.get(cause, cause or "Not recorded"),
                "this_week": now[cause],
                "last_week": before[cause],
                "change": now[cause] - before[cause],
                "share": ratio(now[cause], total_now),
                "owners": ", ".join(
                    f"{OWNER_LABELS.get(owner, owner)} {count}"
                    for owner, count in owners[cause].most_common()
                ),
                "amounts": sorted(amounts[cause].items()),
                "examples": examples.get(cause, []),
            }
        )
    return rows, total_now, total_before


def _vendor_counts(monday: dt.date, end: dt.date, vendor_ids: list[int] | None = None) -> Counter:
    rows = EVERYONE.facts(DailyExceptionFact, by="vendor").filter(
        day__range=(monday, end), opened__gt=0
    )
    if vendor_ids is not None:
        rows = rows.filter(vendor_id__in=vendor_ids)
    return Counter(
        dict(rows.values("vendor_id").annotate(n=Sum("opened")).values_list("vendor_id", "n"))
    )


def worst_vendors(week: Week) -> tuple[list[dict], list[dict]]:
    """The vendors with most exceptions this week, and those with exceptions both weeks."""
    worst = selectors.vendors_by_exceptions(EVERYONE, week.monday, week.end, limit=WORST)
    previous = _vendor_counts(week.previous.monday, week.previous.sunday)
    current = _vendor_counts(week.monday, week.end)
    for row in worst:
        row["last_week"] = previous.get(row["vendor_id"], 0)
        row["change"] = row["opened"] - row["last_week"]
    repeat_ids = sorted(set(previous) & set(current), key=lambda v: (-current[v], v))
    names = {row["vendor_id"]: row["name"] for row in worst}
    missing = [v for v in repeat_ids if v not in names]
    if missing:
        names.update(Vendor.objects.filter(pk__in=missing).values_list("pk", "name"))
    repeat = [
        {
            "vendor_id": vendor_id,
            "name": names.get(vendor_id, "—"),
            "this_week": current[vendor_id],
            "last_week": previous[vendor_id],
        }
        for vendor_id in repeat_ids
    ]
    return worst, repeat


def worst_pos(week: Week) -> tuple[list[dict], list[dict]]:
    """The POs whose invoices raised most exceptions this week, and repeat offenders."""
    start, end = _week_span(week)
    before_start, _ = _week_span(week.previous)
    rows = list(
        InvoiceException.objects.filter(
            opened_at__gte=before_start, opened_at__lt=end, invoice__purchase_order__isnull=False
        )
        .values(
            "invoice__purchase_order_id",
            "invoice__purchase_order__number",
            "invoice__vendor__name",
            "invoice__purchase_order__buyer__username",
            "invoice__purchase_order__buyer__first_name",
            "invoice__purchase_order__buyer__last_name",
            "invoice__currency",
        )
        .annotate(
            this_week=Count("id", filter=Q(opened_at__gte=start)),
            last_week=Count("id", filter=Q(opened_at__lt=start)),
            price=Count("id", filter=Q(opened_at__gte=start, type="price_variance")),
            quantity=Count(
                "id",
                filter=Q(opened_at__gte=start, type__in=["qty_over_billed", "missing_receipt"]),
            ),
            at_stake=Sum("amount_at_stake", filter=Q(opened_at__gte=start)),
        )
        .order_by("-this_week", "-last_week", "invoice__purchase_order__number")
    )
    result = []
    for row in rows:
        buyer = " ".join(
            part
            for part in (
                row["invoice__purchase_order__buyer__first_name"],
                row["invoice__purchase_order__buyer__last_name"],
            )
            if part
        ) or (row["invoice__purchase_order__buyer__username"] or "—")
        result.append(
            {
                "po_id": row["invoice__purchase_order_id"],
                "number": row["invoice__purchase_order__number"],
                "vendor": row["invoice__vendor__name"],
                "buyer": buyer,
                "this_week": row["this_week"],
                "last_week": row["last_week"],
                "change": row["this_week"] - row["last_week"],
                "price": row["price"],
                "quantity": row["quantity"],
                "at_stake": row["at_stake"] or Decimal("0"),
                "currency": row["invoice__currency"],
            }
        )
    worst = [row for row in result if row["this_week"]][:WORST]
    repeat = [row for row in result if row["this_week"] and row["last_week"]]
    return worst, repeat


REASONS = {
    "exception": "In exception on the discount date",
    "late_approval": "Not approved by the discount date",
    "excluded": "Left out of a payment run",
    "not_proposed": "Approved in time, not paid in time",
    "partial": "Only part of the discount taken",
}


def missed_discounts(week: Week) -> tuple[list[MissedDiscount], list[dict]]:
    """Discounts whose window closed (or that were paid) this week without being taken, and why."""
    rows = list(
        InvoiceKpi.objects.filter(
            discount_day__range=(week.monday, week.end),
            discount_taken__lt=F("discount_available"),
        )
        .select_related("invoice", "vendor", "purchase_order")
        .order_by("-discount_available", "invoice_id")
    )
    ids = [row.invoice_id for row in rows]
    blocking: dict[int, list[InvoiceException]] = defaultdict(list)
    for exception in InvoiceException.objects.filter(invoice_id__in=ids).order_by("opened_at"):
        blocking[exception.invoice_id].append(exception)
    exclusions: dict[int, PaymentRunExclusion] = {}
    for exclusion in (
        PaymentRunExclusion.objects.filter(invoice_id__in=ids)
        .select_related("run")
        .order_by("run__pay_date", "id")
    ):
        exclusions[exclusion.invoice_id] = exclusion
    result = [
        _why(row, blocking.get(row.invoice_id, []), exclusions.get(row.invoice_id)) for row in rows
    ]
    summary: dict[str, dict] = {}
    for item in result:
        slot = summary.setdefault(
            item.reason, {"reason": item.reason, "label": REASONS[item.reason], "count": 0,
                          "amounts": Counter()}
        )  # fmt: skip
        slot["count"] += 1
        slot["amounts"][item.kpi.currency] += item.missed
    by_reason = sorted(summary.values(), key=lambda s: -s["count"])
    for slot in by_reason:
        slot["amounts"] = sorted(slot["amounts"].items())
    return result, by_reason


def _why(
    row: InvoiceKpi, exceptions: list[InvoiceException], exclusion: PaymentRunExclusion | None
) -> MissedDiscount:
    deadline = row.discount_date
    # Rows come by discount_day, which the rollup sets only when there is a discount date.
    assert deadline is not None
    deadline_end = _midnight(deadline + dt.timedelta(days=1))
    if row.discount_taken > 0:
        return MissedDiscount(
            row,
            "partial",
            f"{format_money(row.discount_taken, row.currency)} of "
            f"{format_money(row.discount_available, row.currency)} taken",
        )
    unresolved = [
        x
        for x in exceptions
        if x.opened_at < deadline_end and (x.resolved_at is None or x.resolved_at >= deadline_end)
    ]
    if unresolved:
        kinds = ", ".join(
            f"{TYPE_LABELS.get(x.type, x.type).lower()} ({OWNER_LABELS.get(x.owner, x.owner)})"
            for x in unresolved
        )
        return MissedDiscount(row, "exception", f"Open on {deadline:%d %b}: {kinds}")
    if row.approved_day is None or row.approved_day > deadline:
        when = (
            f"approved only on {row.approved_day:%d %b}"
            if row.approved_day
            else f"still {row.invoice.get_status_display().lower()}"
        )
        return MissedDiscount(row, "late_approval", f"Discount date {deadline:%d %b}; {when}")
    if exclusion is not None:
        return MissedDiscount(
            row, "excluded", f"{exclusion.run.number}: {exclusion.get_reason_display()}"
        )
    paid = f"paid {row.paid_day:%d %b}" if row.paid_day else "not paid"
    return MissedDiscount(
        row,
        "not_proposed",
        f"Approved {row.approved_day:%d %b}, {paid}; discount date {deadline:%d %b}",
    )


def build(week: Week) -> WeeklyReport:
    """The whole report for one week (about a dozen queries, bounded by the week's documents)."""
    report = WeeklyReport(week=week)
    report.root_causes, report.opened_this_week, report.opened_last_week = root_causes(week)
    report.worst_vendors, report.repeat_vendors = worst_vendors(week)
    report.worst_pos, report.repeat_pos = worst_pos(week)
    report.missed_discounts, report.missed_by_reason = missed_discounts(week)
    notes = {
        note.week: note
        for note in WeeklySyncNote.objects.filter(
            week__in=[week.monday, week.previous.monday]
        ).select_related("updated_by")
    }
    report.note = notes.get(week.monday)
    report.previous_note = notes.get(week.previous.monday)
    if report.note is not None:
        report.history = list(
            AuditEvent.objects.for_objects([("metrics.weeklysyncnote", report.note.pk)]).filter(
                action=AuditAction.ACTIONS_SAVED
            )
        )
    return report


# --- CSV ------------------------------------------------------------------------------------

CSV_TABLES = {
    "root_causes": "Exceptions by root cause",
    "examples": "Examples per root cause",
    "vendors": "Worst vendors",
    "pos": "Worst POs",
    "repeat_vendors": "Repeat offenders: vendors",
    "repeat_pos": "Repeat offenders: POs",
    "discounts": "Discounts missed",
    "actions": "Actions agreed",
}


def _pct(value: Decimal | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def csv_rows(report: WeeklyReport, table: str) -> tuple[list[str], list[list]]:
    """Header and rows of one of the report's tables, exactly as on the page."""
    if table == "root_causes":
        return (
            ["root_cause", "label", "this_week", "last_week", "change", "share_pct", "owners",
             "at_stake"],
            [[r["root_cause"], r["label"], r["this_week"], r["last_week"], r["change"],
              _pct(r["share"]), r["owners"],
              "; ".join(f"{amount} {currency}" for currency, amount in r["amounts"])]
             for r in report.root_causes],
        )  # fmt: skip
    if table == "examples":
        return (
            ["root_cause", "type", "owner", "invoice", "vendor", "po", "opened_at", "status",
             "amount_at_stake", "currency", "detail"],
            [[r["root_cause"], x.type, x.owner, x.invoice.number, x.invoice.vendor.name,
              x.invoice.purchase_order.number if x.invoice.purchase_order else "",
              timezone.localtime(x.opened_at).isoformat(timespec="minutes"), x.status,
              x.amount_at_stake, x.invoice.currency, x.detail]
             for r in report.root_causes for x in r["examples"]],
        )  # fmt: skip
    if table == "vendors":
        return (
            ["vendor", "exceptions_this_week", "last_week", "change", "invoices_captured",
             "vendor_accuracy_pct", "first_pass_pct"],
            [[r["name"], r["opened"], r["last_week"], r["change"], r["captured"],
              _pct(r["vendor_accuracy"]), _pct(r["first_pass_rate"])]
             for r in report.worst_vendors],
        )  # fmt: skip
    if table in ("pos", "repeat_pos"):
        rows = report.worst_pos if table == "pos" else report.repeat_pos
        return (
            ["po", "vendor", "buyer", "exceptions_this_week", "last_week", "change",
             "price_variances", "quantity_or_receipt", "at_stake", "currency"],
            [[r["number"], r["vendor"], r["buyer"], r["this_week"], r["last_week"], r["change"],
              r["price"], r["quantity"], r["at_stake"], r["currency"]] for r in rows],
        )  # fmt: skip
    if table == "repeat_vendors":
        return (
            ["vendor", "exceptions_this_week", "exceptions_last_week"],
            [[r["name"], r["this_week"], r["last_week"]] for r in report.repeat_vendors],
        )
    if table == "discounts":
        return (
            ["invoice", "vendor", "po", "discount_date", "available", "taken", "missed",
             "currency", "reason", "detail"],
            [[m.kpi.invoice.number, m.kpi.vendor.name,
              m.kpi.purchase_order.number if m.kpi.purchase_order else "",
              m.kpi.discount_date.isoformat(),  # type: ignore[union-attr]  # see _why()
              m.kpi.discount_available, m.kpi.discount_taken,
              m.missed, m.kpi.currency, REASONS[m.reason], m.detail]
             for m in report.missed_discounts],
        )  # fmt: skip
    if table == "actions":
        note_rows = [
            [note.week.isoformat(), note.actions, note.updated_by.get_username(),
             timezone.localtime(note.updated_at).isoformat(timespec="minutes")]
            for note in (report.note, report.previous_note) if note is not None
        ]  # fmt: skip
        return ["week", "actions", "updated_by", "updated_at"], note_rows
    raise KeyError(table)


def csv_text(report: WeeklyReport, table: str) -> str:
    header, rows = csv_rows(report, table)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        # Spreadsheet formula injection: a vendor may name itself "=HYPERLINK(...)".
        writer.writerow(
            ["'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return buffer.getvalue()
