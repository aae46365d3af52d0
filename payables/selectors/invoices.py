"""Read queries behind the AP pages that are more than a queryset method."""

from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db.models import (
    Case,
    DecimalField,
    F,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest

from p2p.money import ZERO
from payables.models.invoices import Invoice, InvoiceLine
from procurement.models import PurchaseOrder, PurchaseOrderLine

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

QTY: "DecimalField[Decimal, Decimal]" = DecimalField(max_digits=18, decimal_places=4)
MONEY: "DecimalField[Decimal, Decimal]" = DecimalField(max_digits=18, decimal_places=2)


def invoice_list_queryset() -> QuerySet[Invoice]:
    """Invoices with what the list shows, in one query per page."""
    return Invoice.objects.select_related("vendor", "purchase_order").order_by(
        "-invoice_date", "-id"
    )


def open_purchase_orders() -> QuerySet[PurchaseOrder]:
    """POs an invoice can be entered against: issued and not closed or cancelled."""
    return PurchaseOrder.objects.open().select_related("vendor").order_by("-id")


class OpenToBill(TypedDict):
    """What po_lines_with_open_to_bill adds to each PO line."""

    billed_qty: Decimal
    open_to_bill: Decimal


def po_lines_with_open_to_bill(
    po: PurchaseOrder,
) -> "list[WithAnnotations[PurchaseOrderLine, OpenToBill]]":
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
