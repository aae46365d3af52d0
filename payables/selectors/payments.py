"""Read queries behind the payment pages: run lists, run composition, the cash calendar."""

import datetime as dt
from collections import defaultdict
from decimal import Decimal
from itertools import groupby
from typing import Any

from django.db.models import (
    Case,
    Count,
    DecimalField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce

from p2p.money import ZERO
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, discount_worth_taking
from payables.models.payments import (
    CompanySettings,
    Payment,
    PaymentHold,
    PaymentRun,
    PaymentRunExclusion,
)
from vendors.models import BankAccount

MONEY: "DecimalField[Decimal, Decimal]" = DecimalField(max_digits=18, decimal_places=2)
DAILY_ROWS = 7


def _signed_payable() -> Case:
    return Case(
        When(document_type=Invoice.DocumentType.CREDIT_NOTE, then=-F("payable_amount")),
        default=F("payable_amount"),
        output_field=MONEY,
    )


def run_list_queryset() -> QuerySet[PaymentRun]:
    """Runs with their people and live-payment counts, newest first."""
    return (
        PaymentRun.objects.select_related("prepared_by", "approved_by")
        .annotate(invoice_count=Count("payments", filter=~Q(payments__status=Payment.Status.VOID)))
        .order_by("-id")
    )


def totals_by_run(run_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per run and currency: net and discount of the live payments, in one query for a page."""
    rows = (
        Payment.objects.filter(run_id__in=run_ids)
        .live()
        .order_by()
        .values("run_id", "currency")
        .annotate(
            gross=Coalesce(Sum("gross_amount"), ZERO),
            discount=Coalesce(Sum("discount_taken"), ZERO),
            net=Coalesce(Sum("net_amount"), ZERO),
        )
        .order_by("run_id", "currency")
    )
    totals: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        totals[row["run_id"]].append(row)
    return totals


def run_composition(run: PaymentRun) -> dict[str, Any]:
    """The run per currency and vendor (live lines), plus lines taken out and what was left out."""
    payments = list(
        run.payments.select_related("invoice", "vendor", "voided_by")
        .prefetch_related(
            Prefetch(
                "vendor__bank_accounts",
                queryset=BankAccount.objects.filter(status=BankAccount.Status.VERIFIED).order_by(
                    "-verified_at"
                ),
                to_attr="verified_accounts",
            )
        )
        .order_by("currency", "vendor__name", "vendor_id", "invoice__due_date", "id")
    )
    live = [p for p in payments if p.status != Payment.Status.VOID]
    confirmations = {
        (c.vendor_id, c.currency): c for c in run.bank_confirmations.select_related("recorded_by")
    }
    currencies = []
    for currency, currency_group in groupby(live, key=lambda p: p.currency):
        in_currency = list(currency_group)
        transfers: list[dict[str, Any]] = []
        for vendor, vendor_group in groupby(in_currency, key=lambda p: p.vendor):
            lines = list(vendor_group)
            transfers.append(
                {
                    "vendor": vendor,
                    "currency": currency,
                    "account": vendor.verified_accounts[0] if vendor.verified_accounts else None,
                    "payments": lines,
                    "invoice_count": sum(1 for p in lines if p.net_amount >= 0),
                    "gross": sum((p.gross_amount for p in lines), ZERO),
                    "discount": sum((p.discount_taken for p in lines), ZERO),
                    "missed": sum((p.discount_available - p.discount_taken for p in lines), ZERO),
                    "net": sum((p.net_amount for p in lines), ZERO),
                    "status": lines[0].status,
                    "confirmation": confirmations.get((vendor.pk, currency)),
                }
            )
        currencies.append(
            {
                "currency": currency,
                "transfers": transfers,
                "invoice_count": len(in_currency),
                "gross": sum((t["gross"] for t in transfers), ZERO),
                "discount": sum((t["discount"] for t in transfers), ZERO),
                "missed": sum((t["missed"] for t in transfers), ZERO),
                "net": sum((t["net"] for t in transfers), ZERO),
            }
        )
    exclusions = list(
        run.exclusions.select_related("invoice", "invoice__vendor").order_by(
            "reason", "invoice__vendor__name", "invoice__due_date"
        )
    )
    return {
        "currencies": currencies,
        "payment_count": len(live),
        "vendor_count": len({(p.vendor_id, p.currency) for p in live}),
        "voided": [p for p in payments if p.status == Payment.Status.VOID],
        "exclusions": exclusions,
        "exports": list(
            run.exports.select_related("created_by").order_by("-format", "currency", "-id")
        ),
    }


def addable_invoices(run: PaymentRun, limit: int = 300) -> QuerySet[Invoice]:
    """Approved documents a clerk may add to the run: payable vendor, no hold, no dispute."""
    invoices = (
        Invoice.objects.payable()
        .select_related("vendor")
        .order_by("due_date", "vendor__name", "id")
    )
    return invoices[:limit]


def cash_calendar(today: dt.date, weeks: int = 6) -> list[dict[str, Any]]:
    """Per currency: what falls due and which discounts lapse, day by day then week by week.

    Due amounts count every unpaid approved document (credit notes negative), with the part
    already in a run shown apart; discounts count only invoices not yet in a run: those are
    the ones that can still be lost. Two grouped queries, whatever the number of invoices.
    """
    end = today + dt.timedelta(days=7 * weeks - 1)
    buckets: list[tuple[str, dt.date | None, dt.date]] = [
        ("Overdue", None, today - dt.timedelta(days=1))
    ]
    buckets += [
        (f"{day:%a %d %b}", day, day)
        for day in (today + dt.timedelta(days=n) for n in range(DAILY_ROWS))
    ]
    for week in range(1, weeks):
        start = today + dt.timedelta(days=7 * week)
        buckets.append(
            (
                f"{start:%d %b} – {start + dt.timedelta(days=6):%d %b}",
                start,
                start + dt.timedelta(days=6),
            )
        )

    def bucket_of(day: dt.date) -> int:
        if day < today:
            return 0
        offset = (day - today).days
        return 1 + offset if offset < DAILY_ROWS else 1 + DAILY_ROWS + offset // 7 - 1

    due_rows = (
        Invoice.objects.awaiting_payment()
        .filter(due_date__lte=end)
        .order_by()
        .values("currency", "due_date", "status")
        .annotate(count=Count("id"), amount=Coalesce(Sum(_signed_payable()), ZERO))
    )
    discount_rows = (
        Invoice.objects.unpaid()
        .filter(
            status=Invoice.Status.APPROVED,
            document_type=Invoice.DocumentType.INVOICE,
            discount_amount__gt=0,
            discount_date__range=(today, end),
        )
        .order_by()
        .values_list("currency", "discount_date")
        .annotate(
            count=Count("id"),
            amount=Sum("discount_amount"),
            worth=Coalesce(
                Sum("discount_amount", filter=Q(discount_worth_taking(_cost_of_capital()))),
                ZERO,
            ),
        )
    )

    def empty() -> dict[str, Any]:
        return {
            "due_count": 0,
            "due": ZERO,
            "in_run": ZERO,
            "discount_count": 0,
            "discount": ZERO,
            "worth": ZERO,
        }

    table: dict[str, list[dict[str, Any]]] = {}
    for row in due_rows:
        cells = table.setdefault(row["currency"], [empty() for _ in buckets])
        cell = cells[bucket_of(row["due_date"])]
        cell["due_count"] += row["count"]
        cell["due"] += row["amount"]
        if row["status"] == Invoice.Status.SCHEDULED:
            cell["in_run"] += row["amount"]
    for currency, day, count, amount, worth in discount_rows:
        cells = table.setdefault(currency, [empty() for _ in buckets])
        cell = cells[bucket_of(day)]
        cell["discount_count"] += count
        cell["discount"] += amount
        cell["worth"] += worth
    calendar = []
    for currency in sorted(table):
        cells = table[currency]
        rows = [
            {"label": label, "start": start, "end": stop, **cell}
            for (label, start, stop), cell in zip(buckets, cells, strict=True)
        ]
        total = empty()
        for cell in cells:
            for key in total:
                total[key] += cell[key]
        calendar.append(
            {
                "currency": currency,
                "rows": rows,
                "total": total,
                "week_due": sum((cell["due"] for cell in cells[1 : 1 + DAILY_ROWS]), ZERO),
            }
        )
    return calendar


def _cost_of_capital() -> Decimal:
    return CompanySettings.load().cost_of_capital_pct


def discount_deadlines(today: dt.date, days: int = 14) -> QuerySet[Invoice]:
    """Invoices whose discount lapses within `days`, soonest first, with what blocks them."""
    live_run = Payment.objects.filter(invoice=OuterRef("pk")).live()
    return (
        Invoice.objects.awaiting_payment()
        .filter(
            document_type=Invoice.DocumentType.INVOICE,
            discount_amount__gt=0,
            discount_date__gte=today,
            discount_date__lte=today + dt.timedelta(days=days),
        )
        .select_related("vendor")
        .with_discount_return()
        .annotate(
            run_number=Subquery(live_run.values("run__number")[:1]),
            run_id=Subquery(live_run.values("run_id")[:1]),
            on_hold=Exists(PaymentHold.objects.in_force().filter(invoice=OuterRef("pk"))),
            in_dispute=Exists(
                InvoiceException.objects.filter(
                    invoice=OuterRef("pk"), status=InvoiceException.Status.OPEN
                )
            ),
        )
        .order_by("discount_date", "-discount_amount", "id")
    )


def exclusion_summary(exclusions: list[PaymentRunExclusion]) -> list[dict[str, Any]]:
    """(reason, count) for the callout above the left-out list."""
    counts: dict[str, dict[str, Any]] = {}
    for exclusion in exclusions:
        entry = counts.setdefault(
            exclusion.reason, {"label": exclusion.get_reason_display(), "count": 0}
        )
        entry["count"] += 1
    return list(counts.values())


def calendar_table(calendar: list[dict[str, Any]]) -> dict[str, Any]:
    """The calendar turned for one table: a row per period, a cell per currency."""
    if not calendar:
        return {"currencies": [], "rows": [], "totals": []}
    rows = [
        {
            "label": row["label"],
            "cells": [
                {**currency["rows"][index], "currency": currency["currency"]}
                for currency in calendar
            ],
        }
        for index, row in enumerate(calendar[0]["rows"])
    ]
    return {
        "currencies": [currency["currency"] for currency in calendar],
        "rows": rows,
        "totals": [
            {**currency["total"], "currency": currency["currency"]} for currency in calendar
        ],
    }
