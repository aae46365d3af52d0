"""Vendor pages: the list and one vendor's page, read-only (vendor editing comes later).

Bank details are shown masked everywhere; the full IBAN never reaches a template.
"""

import datetime as dt
from decimal import Decimal

from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from p2p import roles
from p2p.models import AuditEvent
from payables.models import Invoice, InvoiceException, Payment
from procurement.models import PurchaseOrder
from vendors.api import VENDOR_READERS
from vendors.filters import VendorFilter
from vendors.models import BankAccount, Vendor

PAGE_SIZE = 50
DETAIL_ROWS = 20
RECENT_PAYMENTS = 10
TIMELINE_EVENTS = 50
PAID_WINDOW_DAYS = 90
OPEN_INVOICE_STATUSES = (
    Invoice.Status.PENDING_MATCH,
    Invoice.Status.EXCEPTION,
    Invoice.Status.APPROVED,
    Invoice.Status.SCHEDULED,
)


def vendor_list_queryset() -> QuerySet:
    """Vendors with their terms and live bank accounts (verified or awaiting verification)."""
    live_accounts = BankAccount.objects.filter(
        status__in=(BankAccount.Status.VERIFIED, BankAccount.Status.PENDING)
    ).order_by("vendor_id", "-requested_at", "-id")
    return (
        Vendor.objects.select_related("payment_terms")
        .prefetch_related(
            Prefetch("bank_accounts", queryset=live_accounts, to_attr="live_accounts")
        )
        .order_by("name", "id")
    )


def _first(accounts: list[BankAccount], status: str) -> BankAccount | None:
    return next((account for account in accounts if account.status == status), None)


@roles.role_required(*VENDOR_READERS)
def vendor_list(request: HttpRequest) -> HttpResponse:
    """Every vendor with its terms, status and whether its bank details are verified."""
    vendor_filter = VendorFilter(request.GET or None, queryset=vendor_list_queryset())
    page = Paginator(vendor_filter.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    for vendor in page.object_list:
        vendor.verified_account = _first(vendor.live_accounts, BankAccount.Status.VERIFIED)
        vendor.pending_account = _first(vendor.live_accounts, BankAccount.Status.PENDING)
    return render(
        request,
        "vendors/vendor_list.html",
        {
            "filter": vendor_filter,
            "page": page,
            "filtered": any(request.GET.get(key) for key in ("q", "status")),
        },
    )


def _open_amounts(vendor: Vendor) -> dict:
    """Counts, sums and accuracy for the tiles; amounts only in the vendor's own currency."""
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
    # Vendor accuracy (DESIGN.md): its invoices with no exception ÷ its invoices.
    accuracy = (
        Invoice.objects.filter(vendor=vendor, captured_at__date__gte=since)
        .annotate(excepted=Exists(InvoiceException.objects.filter(invoice=OuterRef("pk"))))
        .aggregate(invoices=Count("id"), clean=Count("id", filter=Q(excepted=False)))
    )
    accuracy["rate"] = (
        Decimal(accuracy["clean"]) / accuracy["invoices"] if accuracy["invoices"] else None
    )
    return {"pos": pos, "invoices": invoices, "paid": paid, "accuracy": accuracy}


@roles.role_required(*VENDOR_READERS)
def vendor_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One vendor: facts, bank accounts, open POs and invoices, exceptions, payments, history."""
    vendor = get_object_or_404(Vendor.objects.select_related("payment_terms"), pk=pk)
    bank_accounts = list(
        vendor.bank_accounts.select_related("requested_by", "verified_by").order_by(
            "-requested_at", "-id"
        )
    )
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
        .exclude(status=Payment.Status.VOID)
        .select_related("run", "invoice")
        .order_by("-run__pay_date", "-id")[:RECENT_PAYMENTS]
    )
    refs = [("vendors.vendor", vendor.pk)] + [("vendors.bankaccount", a.pk) for a in bank_accounts]
    # The newest events, shown oldest first like every other timeline.
    events = list(AuditEvent.objects.for_objects(refs).order_by("-at", "-id")[:TIMELINE_EVENTS])
    events.reverse()
    return render(
        request,
        "vendors/vendor_detail.html",
        {
            "vendor": vendor,
            "bank_accounts": bank_accounts,
            "pending_change": any(a.status == BankAccount.Status.PENDING for a in bank_accounts),
            "has_verified": any(a.status == BankAccount.Status.VERIFIED for a in bank_accounts),
            "open_pos": open_pos,
            "open_invoices": open_invoices,
            "open_exceptions": open_exceptions,
            "payments": payments,
            "events": events,
            "totals": _open_amounts(vendor),
            "paid_window_days": PAID_WINDOW_DAYS,
            "can_open_runs": roles.has_role(request.user, *roles.PAYMENT_READERS),
        },
    )
