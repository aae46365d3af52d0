"""Read side of the exception queue: who sees what, the queue page's rows and counts, and the
side-by-side context of one exception. Every function runs a fixed number of queries."""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from p2p import roles
from p2p.roles import Perm
from payables.filters import InvoiceExceptionFilter
from payables.models.exceptions import (
    ExceptionComment,
    ExceptionMention,
    InvoiceException,
    InvoiceExceptionQuerySet,
    business_days_before,
)
from payables.models.invoices import Invoice, InvoiceLine
from payables.models.matching import MatchResult
from procurement.contracts import contract_price
from procurement.models import CostCenter, GLAccount, PurchaseOrderLine, ReceiptLine

Status = InvoiceException.Status
QUEUE_TITLES = {
    "ap": ("Exception queue", "Every unresolved problem on an invoice, what costs money first."),
    "buyer": ("My disputes", "Price and quantity disputes on your purchase orders."),
    "requester": ("Receipts needed", "Invoices waiting for you to record what arrived."),
    "buyer+requester": (
        "My disputes and receipts",
        "Disputes on your POs and receipts you still owe.",
    ),
}


def exception_scope(user: User) -> tuple[InvoiceExceptionQuerySet, str]:
    """The exceptions this user works and the name of that queue.

    AP sees the whole queue. A buyer sees the disputes on their own POs (routed to them or
    raised on a PO they own); a requester the receipts they still have to record.
    """
    exceptions = InvoiceException.objects.all()
    if roles.may(user, Perm.WORK_ALL_EXCEPTIONS):
        return exceptions, "ap"
    mine = Q(pk__in=[])
    scope = []
    if roles.may(user, Perm.ANSWER_DISPUTES):
        mine |= Q(owner=InvoiceException.Owner.BUYER) & (
            Q(owner_user=user) | Q(invoice__purchase_order__buyer=user)
        )
        # A missing receipt falls to the buyer only when the PO has no requester.
        mine |= Q(type=InvoiceException.Type.MISSING_RECEIPT, owner_user=user)
        scope.append("buyer")
    if roles.may(user, Perm.RAISE_REQUEST):
        mine |= Q(type=InvoiceException.Type.MISSING_RECEIPT, owner_user=user)
        scope.append("requester")
    return exceptions.filter(mine), "+".join(scope) or "none"


def queue_rows(exceptions: QuerySet[InvoiceException]) -> QuerySet[InvoiceException]:
    """The queue's rows with everything a row shows, in one query per page."""
    credit_notes = Invoice.objects.filter(
        vendor_id=OuterRef("invoice__vendor_id"),
        purchase_order_id=OuterRef("invoice__purchase_order_id"),
        document_type=Invoice.DocumentType.CREDIT_NOTE,
        captured_at__gte=OuterRef("credit_requested_at"),
    ).exclude(status=Invoice.Status.REJECTED)
    comments = (
        ExceptionComment.objects.filter(exception=OuterRef("pk"))
        .order_by()
        .values("exception")
        .annotate(n=Count("id"))
        .values("n")
    )
    return exceptions.select_related(
        "invoice",
        "invoice__vendor",
        "invoice__purchase_order",
        "invoice_line",
        "owner_user",
        "claimed_by",
        "resolved_by",
    ).annotate(
        credit_note_arrived=Exists(credit_notes),
        comment_count=Coalesce(Subquery(comments, output_field=IntegerField()), Value(0)),
    )


def counts_by_type(exceptions: QuerySet[InvoiceException]) -> list[dict[str, Any]]:
    """(type, label, count) for the type switch above the queue, in the model's type order."""
    counts = dict(
        exceptions.order_by().values_list("type").annotate(n=Count("id")).values_list("type", "n")
    )
    return [
        {"type": value, "label": label, "count": counts[value]}
        for value, label in InvoiceException.Type.choices
        if counts.get(value)
    ]


def counts_by_age(exceptions: QuerySet[InvoiceException]) -> list[dict[str, Any]]:
    """How many exceptions fall in each aging bucket, in one query."""
    now = timezone.now()
    aggregates = {}
    for key, (low, high) in InvoiceExceptionFilter.AGE_BOUNDS.items():
        condition = Q()
        if low is not None:
            condition &= Q(opened_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            condition &= Q(opened_at__gt=now - dt.timedelta(days=high))
        aggregates[key] = Count("id", filter=condition)
    counts = exceptions.order_by().aggregate(**aggregates)
    return [
        {"age": key, "label": label, "count": counts[key]}
        for key, label in InvoiceExceptionFilter.AGES
    ]


def queue_summary(exceptions: QuerySet[InvoiceException], today: dt.date) -> dict[str, int]:
    """The tiles: open, past their SLA, waiting for a vendor (and credit notes that came in),
    discounts lapsing within a week."""
    now = timezone.now()
    overdue = Q(pk__in=[])
    for owner, days in InvoiceException.SLA_BUSINESS_DAYS.items():
        overdue |= Q(owner=owner, opened_at__lt=business_days_before(now, days))
    week = today + dt.timedelta(days=7)
    credit_in = Exists(
        Invoice.objects.filter(
            vendor_id=OuterRef("invoice__vendor_id"),
            purchase_order_id=OuterRef("invoice__purchase_order_id"),
            document_type=Invoice.DocumentType.CREDIT_NOTE,
            captured_at__gte=OuterRef("credit_requested_at"),
        ).exclude(status=Invoice.Status.REJECTED)
    )
    is_open = Q(status=Status.OPEN)
    return exceptions.order_by().aggregate(
        open=Count("id", filter=is_open),
        overdue=Count("id", filter=is_open & overdue),
        waiting=Count("id", filter=Q(status=Status.WAITING_VENDOR)),
        credit_in=Count("id", filter=Q(credit_in, status=Status.WAITING_VENDOR)),
        discounts=Count(
            "invoice",
            distinct=True,
            filter=Q(
                status__in=InvoiceException.UNRESOLVED,
                invoice__discount_date__gte=today,
                invoice__discount_date__lte=week,
            ),
        ),
        claimed=Count("id", filter=is_open & Q(claimed_until__gt=now, claimed_by__isnull=False)),
    )


def unread_mentions(user: User) -> int:
    return ExceptionMention.objects.filter(user=user, read_at__isnull=True).count()


def mentions_for(user: User) -> QuerySet[ExceptionMention]:
    """The comments that named this user, unread first, newest first."""
    return (
        ExceptionMention.objects.filter(user=user)
        .select_related(
            "comment__author", "comment__exception__invoice__vendor", "comment__exception"
        )
        .order_by(F("read_at").desc(nulls_first=True), "-comment__created_at")
    )


@dataclass
class ExceptionContext:
    """Everything the person answering an exception needs side by side."""

    exception: InvoiceException
    invoice: Invoice
    line: InvoiceLine | None
    po_line: PurchaseOrderLine | None
    result: MatchResult | None
    receipts: list[ReceiptLine] = field(default_factory=list)
    billed: list[InvoiceLine] = field(default_factory=list)
    contract_price: Decimal | None = None
    # Per-unit and total differences, filled only for a line billed against a PO line.
    variance: dict[str, Decimal | None] = field(default_factory=dict)
    gl_account: GLAccount | None = None
    cost_center: CostCenter | None = None


def exception_context(exception: InvoiceException) -> ExceptionContext:
    """The PO line, its receipts, the invoice line, earlier billing, the contract price and
    the variance, for one exception (exception loaded with its invoice)."""
    invoice = exception.invoice
    line = (
        InvoiceLine.objects.select_related(
            "po_line",
            "po_line__gl_account",
            "po_line__cost_center",
            "match_result",
            "match_result__policy",
            "gl_account",
            "cost_center",
        )
        .filter(pk=exception.invoice_line_id)
        .first()
        if exception.invoice_line_id
        else None
    )
    po_line = line.po_line if line else None
    result = getattr(line, "match_result", None) if line else None
    context = ExceptionContext(
        exception=exception, invoice=invoice, line=line, po_line=po_line, result=result
    )
    if line is not None:
        context.gl_account = line.gl_account or (po_line.gl_account if po_line else None)
        context.cost_center = line.cost_center or (po_line.cost_center if po_line else None)
    if line is None or po_line is None:
        return context
    context.receipts = list(
        ReceiptLine.objects.filter(po_line=po_line)
        .select_related("receipt", "receipt__received_by")
        .order_by("receipt__received_on", "receipt_id")
    )
    context.billed = list(
        InvoiceLine.objects.filter(po_line=po_line)
        .select_related("invoice")
        .order_by("invoice__invoice_date", "invoice_id")
    )
    context.contract_price = contract_price(
        vendor_id=invoice.vendor_id,
        item_code=po_line.item_code,
        on_date=invoice.invoice_date,
        currency=invoice.currency,
    )
    price_diff = line.unit_price - po_line.unit_price
    context.variance = {
        "unit": price_diff,
        "total": price_diff * line.quantity,
        "pct": (price_diff / po_line.unit_price * 100) if po_line.unit_price else None,
        "vs_contract": (
            line.unit_price - context.contract_price if context.contract_price is not None else None
        ),
        "over_billed": (
            result.billed_qty_cumulative - result.billable_qty
            if result is not None and result.billable_qty is not None
            else None
        ),
    }
    return context
