"""Read queries behind the AP pages that are more than a queryset method."""

import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import (
    Case,
    Count,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, Now

from p2p import roles
from payables.models import Invoice, InvoiceException, InvoiceLine
from procurement.models import PurchaseOrder, PurchaseOrderLine

ZERO = Decimal("0")
QTY = DecimalField(max_digits=18, decimal_places=4)
MONEY = DecimalField(max_digits=18, decimal_places=2)


def invoice_list_queryset() -> QuerySet[Invoice]:
    """Invoices with what the list shows, in one query per page."""
    return Invoice.objects.select_related("vendor", "purchase_order").order_by(
        "-invoice_date", "-id"
    )


def open_purchase_orders() -> QuerySet[PurchaseOrder]:
    """POs an invoice can be entered against: issued and not closed or cancelled."""
    return PurchaseOrder.objects.open().select_related("vendor").order_by("-id")


def po_lines_with_open_to_bill(po: PurchaseOrder) -> list[PurchaseOrderLine]:
    """The PO's lines with `billed_qty` (on live invoices, net of credit notes) and `open_to_bill`."""
    billed = (
        InvoiceLine.objects.filter(po_line=OuterRef("pk"))
        .exclude(invoice__status=Invoice.Status.REJECTED)
        .values("po_line")
        .annotate(
            qty=Sum(
                Case(
                    When(
                        invoice__document_type=Invoice.DocumentType.CREDIT_NOTE, then=-F("quantity")
                    ),
                    default=F("quantity"),
                )
            )
        )
        .values("qty")
    )
    return list(
        po.lines.annotate(billed_qty=Coalesce(Subquery(billed, output_field=QTY), Value(ZERO)))
        .annotate(
            open_to_bill=Greatest(F("quantity") - F("billed_qty"), Value(ZERO), output_field=QTY)
        )
        .order_by("line_no")
    )


def exception_scope(user: AbstractBaseUser) -> tuple[QuerySet[InvoiceException], str]:
    """The exceptions this user works and the name of that queue.

    AP sees the whole queue. Buyers see the disputes routed to them on their POs; requesters
    see the receipts they still have to record. Anyone else sees nothing.
    """
    exceptions = InvoiceException.objects.all()
    if roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER):
        return exceptions, "ap"
    mine = Q(pk__in=[])
    scope = []
    if roles.has_role(user, roles.BUYER):
        mine |= Q(owner=InvoiceException.Owner.BUYER, owner_user=user)
        scope.append("buyer")
    if roles.has_role(user, roles.REQUESTER):
        mine |= Q(type=InvoiceException.Type.MISSING_RECEIPT, owner_user=user)
        scope.append("requester")
    return exceptions.filter(mine), "+".join(scope) or "none"


def exception_queue(
    exceptions: QuerySet[InvoiceException], today: dt.date
) -> QuerySet[InvoiceException]:
    """What costs money first: a discount still to be won soonest, then due date, then amount."""
    return (
        exceptions.select_related(
            "invoice", "invoice__vendor", "invoice__purchase_order", "invoice_line", "owner_user"
        )
        .annotate(
            # A lapsed discount can no longer be won, so it does not jump the queue.
            discount_deadline=Case(
                When(invoice__discount_date__gte=today, then=F("invoice__discount_date")),
                default=None,
            ),
            age=Now() - F("opened_at"),
        )
        .order_by(
            F("discount_deadline").asc(nulls_last=True),
            F("invoice__due_date").asc(nulls_last=True),
            F("amount_at_stake").desc(),
            "id",
        )
    )


def exception_counts_by_type(exceptions: QuerySet[InvoiceException]) -> list[dict]:
    """(type, label, count) for the tiles above the queue, in the model's type order."""
    counts = dict(
        exceptions.order_by().values_list("type").annotate(n=Count("id")).values_list("type", "n")
    )
    return [
        {"type": value, "label": label, "count": counts[value]}
        for value, label in InvoiceException.Type.choices
        if counts.get(value)
    ]


def cash_calendar(today: dt.date) -> list[dict]:
    """Per currency: approved invoices falling due within 7/14/30 days and discounts lapsing in 7."""
    week, fortnight, month = (today + dt.timedelta(days=n) for n in (7, 14, 30))

    def due_by(day: dt.date) -> Coalesce:
        return Coalesce(
            Sum("total_amount", filter=Q(due_date__lte=day)), Value(ZERO), output_field=MONEY
        )

    rows = (
        Invoice.objects.filter(status=Invoice.Status.APPROVED)
        .order_by()
        .values("currency")
        .annotate(
            overdue=Coalesce(
                Sum("total_amount", filter=Q(due_date__lt=today)), Value(ZERO), output_field=MONEY
            ),
            due_7=due_by(week),
            due_14=due_by(fortnight),
            due_30=due_by(month),
            discount_7=Coalesce(
                Sum("discount_amount", filter=Q(discount_date__gte=today, discount_date__lte=week)),
                Value(ZERO),
                output_field=MONEY,
            ),
            discount_7_count=Count(
                "id", filter=Q(discount_date__gte=today, discount_date__lte=week)
            ),
        )
        .order_by("currency")
    )
    return list(rows)
