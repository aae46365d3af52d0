"""Read queries for the procurement pages: who may see what, and the PO's whole life in one go.

Every function here returns a bounded number of queries whatever the row count, so list
pages and the lifecycle page stay fast as the books grow.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import DecimalField, Prefetch, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from p2p import roles
from p2p.models import AuditEvent
from payables.models import Invoice, InvoiceException, MatchResult, Payment
from procurement.models import (
    ApprovalStep,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseRequest,
    Receipt,
    ReceiptLine,
)

ZERO = Decimal("0")
# Everyone except a plain requester reads every request and PO (approvers, buyers, AP, finance).
_READ_ALL_ROLES = tuple(role for role in roles.PO_READERS if role != roles.REQUESTER)


def sees_everything(user: AbstractBaseUser) -> bool:
    """A user whose roles go beyond 'requester' reads all requests and POs."""
    return roles.has_role(user, *_READ_ALL_ROLES)


def _pending_steps() -> Prefetch:
    return Prefetch(
        "approvals",
        queryset=ApprovalStep.objects.filter(status=ApprovalStep.Status.PENDING).select_related(
            "approver_user", "approver_group"
        ),
        to_attr="pending_steps",
    )


def request_list(user: AbstractBaseUser) -> QuerySet[PurchaseRequest]:
    """A requester's own requests with the step each one waits on and the POs it became."""
    return (
        PurchaseRequest.objects.filter(requester=user)
        .select_related("cost_center")
        .prefetch_related(
            _pending_steps(),
            Prefetch(
                "purchase_orders", queryset=PurchaseOrder.objects.only("id", "number", "request_id")
            ),
        )
        .order_by("-id")
    )


def visible_requests(user: AbstractBaseUser) -> QuerySet[PurchaseRequest]:
    """Requests the user may open: plain requesters see their own only."""
    requests = PurchaseRequest.objects.all()
    if not sees_everything(user):
        requests = requests.filter(requester=user)
    return requests


def request_for_detail(user: AbstractBaseUser, pk: int) -> PurchaseRequest | None:
    """One request with what its page shows, or None when the user may not see it."""
    return (
        visible_requests(user)
        .select_related("requester", "cost_center", "gl_account", "preferred_vendor")
        .prefetch_related(
            "lines",
            Prefetch(
                "approvals",
                queryset=ApprovalStep.objects.select_related(
                    "approver_user", "approver_group", "decided_by"
                ),
            ),
            Prefetch("purchase_orders", queryset=PurchaseOrder.objects.select_related("vendor")),
        )
        .filter(pk=pk)
        .first()
    )


def decidable_steps(user: AbstractBaseUser) -> QuerySet[ApprovalStep]:
    """Pending approval steps this user may decide, never on requests they raised.

    Mirrors services.can_decide: a step names one user or a group the user belongs to.
    """
    steps = ApprovalStep.objects.filter(
        status=ApprovalStep.Status.PENDING, request__status=PurchaseRequest.Status.PENDING_APPROVAL
    ).exclude(request__requester=user)
    if not user.is_superuser:
        steps = steps.filter(
            Q(approver_user=user)
            | Q(approver_user__isnull=True, approver_group__in=user.groups.values("pk"))
        )
    return steps.select_related(
        "request__requester", "request__cost_center", "approver_user", "approver_group"
    ).order_by("request__submitted_at", "id")


def visible_purchase_orders(user: AbstractBaseUser) -> QuerySet[PurchaseOrder]:
    """POs the user may open: plain requesters see the POs of their own requests only."""
    orders = PurchaseOrder.objects.all()
    if not sees_everything(user):
        orders = orders.filter(request__requester=user)
    return orders


def po_list(user: AbstractBaseUser) -> QuerySet[PurchaseOrder]:
    """The PO list rows with vendor, buyer and request in the same query."""
    return (
        visible_purchase_orders(user).select_related("vendor", "buyer", "request").order_by("-id")
    )


def requests_awaiting_po() -> QuerySet[PurchaseRequest]:
    """Approved requests a buyer has not yet turned into a purchase order."""
    return (
        PurchaseRequest.objects.filter(status=PurchaseRequest.Status.APPROVED)
        .select_related("requester", "cost_center", "preferred_vendor")
        .order_by("decided_at", "id")
    )


@dataclass
class PurchaseOrderLife:
    """Everything one purchase order's page shows, fetched in a fixed number of queries."""

    po: PurchaseOrder
    lines: list[PurchaseOrderLine]
    approvals: list[ApprovalStep]
    receipts: list[Receipt]
    invoices: list[Invoice]
    match_results: list[MatchResult]
    exceptions: list[InvoiceException]
    payments: list[Payment]
    events: list[AuditEvent]
    totals: dict[str, Decimal] = field(default_factory=dict)

    @property
    def open_exceptions(self) -> int:
        return sum(1 for e in self.exceptions if e.status == InvoiceException.Status.OPEN)


def po_life(user: AbstractBaseUser, pk: int) -> PurchaseOrderLife | None:
    """The whole life of one PO: request, approvals, lines, receipts, invoices, matches,
    exceptions, payments and one audit timeline across all of them."""
    po = (
        visible_purchase_orders(user)
        .select_related(
            "vendor",
            "buyer",
            "payment_terms",
            "request__requester",
            "request__cost_center",
            "request__gl_account",
        )
        .filter(pk=pk)
        .first()
    )
    if po is None:
        return None
    live_billing = ~Q(invoice_lines__invoice__status=Invoice.Status.REJECTED)
    lines = list(
        po.lines.select_related("gl_account", "cost_center").annotate(
            billed_qty=Coalesce(
                Sum("invoice_lines__quantity", filter=live_billing),
                ZERO,
                output_field=DecimalField(max_digits=18, decimal_places=4),
            )
        )
    )
    approvals = (
        list(po.request.approvals.select_related("approver_user", "approver_group", "decided_by"))
        if po.request_id
        else []
    )
    receipts = list(
        po.receipts.select_related("received_by")
        .prefetch_related(Prefetch("lines", queryset=ReceiptLine.objects.select_related("po_line")))
        .order_by("received_on", "id")
    )
    # An invoice belongs here when it names the PO or bills one of its lines.
    invoices = list(
        Invoice.objects.filter(Q(purchase_order=po) | Q(lines__po_line__purchase_order=po))
        .distinct()
        .select_related("vendor")
        .order_by("invoice_date", "id")
    )
    invoice_ids = [invoice.pk for invoice in invoices]
    match_results = list(
        MatchResult.objects.filter(invoice_id__in=invoice_ids)
        .select_related("invoice", "invoice_line", "po_line")
        .order_by("invoice_id", "invoice_line__line_no")
    )
    exceptions = list(
        InvoiceException.objects.filter(invoice_id__in=invoice_ids)
        .select_related("invoice", "invoice_line", "owner_user", "resolved_by")
        .order_by("opened_at", "id")
    )
    payments = list(
        Payment.objects.filter(invoice_id__in=invoice_ids)
        .select_related("run", "invoice")
        .order_by("run_id", "id")
    )
    refs = [("procurement.purchaseorder", po.pk)]
    if po.request_id:
        refs.append(("procurement.purchaserequest", po.request_id))
    refs += [("procurement.approvalstep", step.pk) for step in approvals]
    refs += [("procurement.receipt", receipt.pk) for receipt in receipts]
    refs += [("payables.invoice", pk) for pk in invoice_ids]
    refs += [("payables.invoiceexception", exception.pk) for exception in exceptions]
    refs += [("payables.paymentrun", run_id) for run_id in {p.run_id for p in payments}]
    events = list(AuditEvent.objects.for_objects(refs))

    billed_invoices = [i for i in invoices if i.status != Invoice.Status.REJECTED]
    totals = {
        "ordered": po.total_amount,
        "received": sum((line.received_qty * line.unit_price for line in lines), ZERO),
        "invoiced": sum((i.total_amount for i in billed_invoices), ZERO),
        "paid": sum((p.net_amount for p in payments if p.status == Payment.Status.PAID), ZERO),
        "discount": sum(
            (p.discount_taken for p in payments if p.status == Payment.Status.PAID), ZERO
        ),
    }
    return PurchaseOrderLife(
        po=po,
        lines=lines,
        approvals=approvals,
        receipts=receipts,
        invoices=invoices,
        match_results=match_results,
        exceptions=exceptions,
        payments=payments,
        events=events,
        totals=totals,
    )


def receivable_po(user: AbstractBaseUser, pk: int) -> PurchaseOrder | None:
    """A PO the user may record receipts on: its requester, or any buyer."""
    orders = PurchaseOrder.objects.select_related("vendor", "request")
    if not roles.has_role(user, roles.BUYER):
        orders = orders.filter(request__requester=user)
    return orders.filter(pk=pk).first()
