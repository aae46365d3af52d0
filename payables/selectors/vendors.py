"""What AP knows about a vendor: its scorecard, the vendors on payment hold, and the open
purchase orders, invoices, exceptions and payments on the vendor page.

The vendors app sits below procurement and payables and never queries them; its pages load
these figures through the `vendor_panels` template tags, and `payables.api.vendors` serves
the scorecard and the payment-hold list under the same /api/vendors/ paths.
"""

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.db.models import (
    Avg,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from p2p.money import ZERO
from payables.models import Invoice, InvoiceException, MatchResult, Payment
from procurement.models import PurchaseOrder
from vendors.models import BankAccount, Vendor

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations

DETAIL_ROWS = 20
RECENT_PAYMENTS = 10
PAID_WINDOW_DAYS = 90
OPEN_INVOICE_STATUSES = (
    Invoice.Status.PENDING_MATCH,
    Invoice.Status.EXCEPTION,
    Invoice.Status.APPROVED,
    Invoice.Status.SCHEDULED,
)


# --- the vendor page -------------------------------------------------------------------------


def vendor_open_amounts(vendor: Vendor) -> dict[str, dict[str, Any]]:
    """Counts and sums for the tiles; amounts only in the vendor's own currency."""
    in_currency = Q(currency=vendor.currency)
    since = timezone.localdate() - dt.timedelta(days=PAID_WINDOW_DAYS)
    pos = (
        PurchaseOrder.objects.open()
        .filter(vendor=vendor)
        .aggregate(
            count=Count("id"), amount=Sum("total_amount", filter=in_currency, default=Decimal("0"))
        )
    )
    invoices = Invoice.objects.filter(vendor=vendor, status__in=OPEN_INVOICE_STATUSES).aggregate(
        count=Count("id"), amount=Sum("total_amount", filter=in_currency, default=Decimal("0"))
    )
    paid = Payment.objects.filter(
        vendor=vendor, status=Payment.Status.PAID, paid_on__gte=since
    ).aggregate(
        count=Count("id"),
        amount=Sum("net_amount", filter=in_currency, default=Decimal("0")),
        discount=Sum("discount_taken", filter=in_currency, default=Decimal("0")),
    )
    return {"pos": pos, "invoices": invoices, "paid": paid}


def vendor_open_documents(vendor: Vendor) -> dict[str, Any]:
    """The vendor page's lists: open POs, invoices and exceptions, recent payments, held."""
    open_pos = (
        PurchaseOrder.objects.open()
        .filter(vendor=vendor)
        .select_related("buyer")
        .order_by("-issued_at", "-id")[:DETAIL_ROWS]
    )
    open_invoices = (
        Invoice.objects.filter(vendor=vendor, status__in=OPEN_INVOICE_STATUSES)
        .select_related("purchase_order")
        .order_by("due_date", "id")[:DETAIL_ROWS]
    )
    open_exceptions = (
        InvoiceException.objects.filter(invoice__vendor=vendor, status=InvoiceException.Status.OPEN)
        .select_related("invoice", "owner_user")
        .order_by("-opened_at", "-id")[:DETAIL_ROWS]
    )
    payments = (
        Payment.objects.filter(vendor=vendor)
        .live()
        .select_related("run", "invoice")
        .order_by("-run__pay_date", "-id")[:RECENT_PAYMENTS]
    )
    held = Invoice.objects.filter(
        vendor=vendor, status=Invoice.Status.APPROVED, document_type=Invoice.DocumentType.INVOICE
    ).aggregate(count=Count("id"), amount=Sum("payable_amount", default=Decimal("0")))
    return {
        "pos": open_pos,
        "invoices": open_invoices,
        "exceptions": open_exceptions,
        "payments": payments,
        "held": held,
    }


# --- payment hold -----------------------------------------------------------------------------


class PaymentHoldFigures(TypedDict):
    """What vendors_on_payment_hold adds to each vendor."""

    held_invoices: int
    held_amount: Decimal


def vendors_on_payment_hold() -> "QuerySet[WithAnnotations[Vendor, PaymentHoldFigures]]":
    """Vendors whose invoices stay out of payment runs, with the reasons and what is held.

    The rules are the payment-run proposal's: the vendor is not active, a bank change
    awaits verification, or there is no verified account. Each vendor carries
    `pending_bank_change`, `has_verified_bank`, the pending request (`pending_accounts`)
    and its approved invoices held (`held_invoices`, `held_amount` in its own currency).
    """
    pending = BankAccount.objects.filter(status=BankAccount.Status.PENDING).select_related(
        "requested_by"
    )
    held = Q(
        invoices__status=Invoice.Status.APPROVED,
        invoices__document_type=Invoice.DocumentType.INVOICE,
    )
    holds: QuerySet[WithAnnotations[Vendor, PaymentHoldFigures]] = (
        Vendor.objects.with_payment_hold()
        .filter(on_payment_hold=True)
        .select_related("payment_terms")
        .prefetch_related(Prefetch("bank_accounts", queryset=pending, to_attr="pending_accounts"))
        .annotate(
            held_invoices=Count("invoices", filter=held),
            held_amount=Coalesce(
                Sum(
                    "invoices__payable_amount",
                    filter=held & Q(invoices__currency=F("currency")),
                ),
                ZERO,
            ),
        )
        .order_by("-held_invoices", "name", "pk")
    )
    return holds


# --- scorecard --------------------------------------------------------------------------------

SCORECARD_PERIODS = {
    "90d": ("Last 90 days", 90),
    "12m": ("Last 12 months", 365),
    "all": ("All time", None),
}
DEFAULT_SCORECARD_PERIOD = "12m"


@dataclass(frozen=True)
class DiscountLine:
    """Early-payment discounts offered by the terms, in one currency."""

    currency: str
    available: Decimal
    taken: Decimal

    @property
    def missed(self) -> Decimal:
        return self.available - self.taken


@dataclass(frozen=True)
class ExceptionCount:
    type: str
    label: str
    count: int
    open: int


@dataclass(frozen=True)
class Scorecard:
    """How a vendor's invoices fared: the feedback loop from AP to procurement."""

    vendor_id: int
    period: str
    since: dt.date | None
    invoices: int = 0
    clean_invoices: int = 0
    paid: int = 0
    paid_on_time: int = 0
    priced_lines: int = 0
    lines_above_po_price: int = 0
    average_price_variance: Decimal | None = None
    exceptions: tuple[ExceptionCount, ...] = field(default_factory=tuple)
    discounts: tuple[DiscountLine, ...] = field(default_factory=tuple)

    @property
    def accuracy(self) -> Decimal | None:
        """Share of invoices that never raised an exception (DESIGN.md 'vendor accuracy')."""
        return Decimal(self.clean_invoices) / self.invoices if self.invoices else None

    @property
    def on_time_rate(self) -> Decimal | None:
        return Decimal(self.paid_on_time) / self.paid if self.paid else None

    @property
    def exception_total(self) -> int:
        return sum(row.count for row in self.exceptions)

    @property
    def period_label(self) -> str:
        return SCORECARD_PERIODS[self.period][0]


def vendor_scorecard(vendor: Vendor, period: str = DEFAULT_SCORECARD_PERIOD) -> Scorecard:
    """The scorecard over the vendor's invoices captured in the period: four aggregate queries.

    Accuracy = invoices with no exception ÷ invoices; on-time = paid on or before the due
    date ÷ paid; average price variance = mean of (invoice − PO unit price) ÷ PO unit price
    over matched lines; discounts available once their window closed or the invoice was paid.
    """
    if period not in SCORECARD_PERIODS:
        period = DEFAULT_SCORECARD_PERIOD
    days = SCORECARD_PERIODS[period][1]
    today = timezone.localdate()
    since = today - dt.timedelta(days=days) if days else None
    in_period = Q(captured_at__date__gte=since) if since else Q()

    invoices = Invoice.objects.filter(in_period, vendor=vendor)
    totals = invoices.annotate(
        excepted=Exists(InvoiceException.objects.filter(invoice=OuterRef("pk")))
    ).aggregate(
        invoices=Count("id"),
        clean=Count("id", filter=Q(excepted=False)),
        paid=Count("id", filter=Q(status=Invoice.Status.PAID)),
        on_time=Count("id", filter=Q(status=Invoice.Status.PAID, paid_at__date__lte=F("due_date"))),
    )

    exceptions = (
        InvoiceException.objects.filter(invoice__in=invoices)
        .values("type")
        .annotate(
            count=Count("id"), open=Count("id", filter=Q(status=InvoiceException.Status.OPEN))
        )
        .order_by("-count", "type")
    )
    labels = dict(InvoiceException.Type.choices)

    relative_variance = ExpressionWrapper(
        (F("invoice_unit_price") - F("po_unit_price")) / F("po_unit_price"),
        output_field=DecimalField(max_digits=18, decimal_places=6),
    )
    prices = MatchResult.objects.filter(
        invoice_line__invoice__in=invoices, po_unit_price__gt=0
    ).aggregate(
        lines=Count("pk"),
        above=Count("pk", filter=Q(invoice_unit_price__gt=F("po_unit_price"))),
        average=Avg(relative_variance),
    )

    taken = (
        Payment.objects.filter(invoice=OuterRef("pk"), status=Payment.Status.PAID)
        .values("invoice")
        .annotate(total=Sum("discount_taken"))
        .values("total")
    )
    discounts = (
        invoices.filter(discount_amount__gt=0)
        .exclude(status=Invoice.Status.REJECTED)
        .filter(Q(status=Invoice.Status.PAID) | Q(discount_date__lt=today))
        .annotate(taken=Coalesce(Subquery(taken), ZERO))
        .values("currency")
        .annotate(available=Sum("discount_amount"), taken_total=Sum("taken"))
        .order_by("currency")
    )
    return Scorecard(
        vendor_id=vendor.pk,
        period=period,
        since=since,
        invoices=totals["invoices"],
        clean_invoices=totals["clean"],
        paid=totals["paid"],
        paid_on_time=totals["on_time"],
        priced_lines=prices["lines"],
        lines_above_po_price=prices["above"],
        average_price_variance=prices["average"],
        exceptions=tuple(
            ExceptionCount(
                row["type"], labels.get(row["type"], row["type"]), row["count"], row["open"]
            )
            for row in exceptions
        ),
        discounts=tuple(
            DiscountLine(row["currency"], row["available"], row["taken_total"]) for row in discounts
        ),
    )
