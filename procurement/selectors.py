"""Read queries for the procurement pages: who may see what, and the PO's whole life in one go.

Every function here returns a bounded number of queries whatever the row count, so list
pages and the lifecycle page stay fast as the books grow.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth.models import Group, User
from django.db.models import (
    DecimalField,
    Exists,
    F,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from p2p import roles
from p2p.models import AuditEvent
from p2p.money import ZERO
from p2p.roles import Perm
from procurement import contracts, invoicing
from procurement.models import (
    ApprovalDelegation,
    ApprovalStep,
    Budget,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRevision,
    PurchaseRequest,
    Receipt,
    ReceiptLine,
    RequestAttachment,
)

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class OpenAmount(TypedDict):
    """What a PO line still commits: ordered minus approved invoicing, never below zero."""

    open_amount: Decimal


class LineBilling(OpenAmount):
    """A PO line on its page: what it still commits and how much of it was billed."""

    billed_qty: Decimal


class BudgetFigures(TypedDict):
    """A budget's position, summed from the documents."""

    committed: Decimal
    spent: Decimal
    available: Decimal


_MONEY: "DecimalField[Decimal, Decimal]" = DecimalField(max_digits=18, decimal_places=2)


def sees_everything(user: User) -> bool:
    """A user whose roles go beyond 'requester' reads all requests and POs."""
    return roles.may(user, Perm.READ_ALL_REQUESTS)


def _pending_steps() -> "Prefetch[str, QuerySet[ApprovalStep], str]":
    return Prefetch(
        "approvals",
        queryset=ApprovalStep.objects.filter(status=ApprovalStep.Status.PENDING).select_related(
            "approver_user", "approver_group"
        ),
        to_attr="pending_steps",
    )


def _last_event_at() -> Subquery:
    return Subquery(
        AuditEvent.objects.filter(
            object_type="procurement.purchaserequest", object_id=OuterRef("pk")
        )
        .order_by("-at", "-id")
        .values("at")[:1]
    )


def request_list(user: User) -> QuerySet[PurchaseRequest]:
    """A requester's own requests with the step each one waits on, the POs it became and
    when anything last happened to it."""
    return (
        PurchaseRequest.objects.filter(requester=user)
        .select_related("cost_center")
        .annotate(last_activity=_last_event_at())
        .prefetch_related(
            _pending_steps(),
            Prefetch("orders", queryset=PurchaseOrder.objects.only("id", "number")),
        )
        .order_by("-id")
    )


def visible_requests(user: User) -> QuerySet[PurchaseRequest]:
    """Requests the user may open: plain requesters see their own only."""
    requests = PurchaseRequest.objects.all()
    if not sees_everything(user):
        requests = requests.filter(requester=user)
    return requests


def request_for_detail(user: User, pk: int) -> PurchaseRequest | None:
    """One request with what its page shows, or None when the user may not see it."""
    return (
        visible_requests(user)
        .select_related("requester", "cost_center", "gl_account", "preferred_vendor")
        .prefetch_related(
            "lines",
            "editors",
            Prefetch(
                "approvals",
                queryset=ApprovalStep.objects.filter(purchase_order__isnull=True).select_related(
                    "approver_user", "approver_group", "decided_by", "on_behalf_of"
                ),
            ),
            Prefetch("orders", queryset=PurchaseOrder.objects.select_related("vendor")),
            Prefetch("attachments", queryset=_attachments()),
        )
        .filter(pk=pk)
        .first()
    )


def _attachments() -> QuerySet[RequestAttachment]:
    return RequestAttachment.objects.current().select_related("uploaded_by")


def removed_attachments(request_pk: int) -> list[RequestAttachment]:
    """Attachments taken off a request, for the roles that audit it."""
    return list(
        RequestAttachment.objects.filter(request_id=request_pk, removed_at__isnull=False)
        .select_related("uploaded_by", "removed_by")
        .order_by("removed_at", "id")
    )


def attachment_for(user: User, request_pk: int, pk: int) -> RequestAttachment | None:
    """One attachment of a request the user may see, or None."""
    return (
        RequestAttachment.objects.filter(
            pk=pk, request_id=request_pk, request__in=visible_requests(user)
        )
        .select_related("request")
        .first()
    )


def delegators_of(user: User, on_date: dt.date | None = None) -> list[User]:
    """The people `user` stands in for today, with their groups prefetched."""
    day = on_date or timezone.localdate()
    return [
        delegation.from_user
        for delegation in ApprovalDelegation.objects.active_on(day)
        .filter(to_user=user.pk, from_user__is_active=True)
        .select_related("from_user")
        .prefetch_related(Prefetch("from_user__groups", queryset=Group.objects.only("id", "name")))
    ]


def _authority(user: User) -> Q:
    """Pending steps a user holds: named for them, or for a group they belong to."""
    if user.is_superuser:
        return Q()
    return Q(approver_user=user.pk) | Q(
        approver_user__isnull=True, approver_group__in=user.groups.values("pk")
    )


def decidable_steps(user: User) -> QuerySet[ApprovalStep]:
    """Pending approval steps this user may decide (their own, or those of the people they
    stand in for), never on requests they raised.

    Mirrors services.decision_capacity: a step names one user or a group the user belongs
    to, directly or through a delegation in force today.
    """
    awaiting = Q(
        purchase_order__isnull=True, request__status=PurchaseRequest.Status.PENDING_APPROVAL
    )
    awaiting |= Q(purchase_order__isnull=False, purchase_order__awaiting_reapproval=True)
    steps = (
        ApprovalStep.objects.filter(status=ApprovalStep.Status.PENDING)
        .filter(awaiting)
        .exclude(request__requester=user)
    )
    authority = _authority(user)
    delegators = delegators_of(user)
    for delegator in delegators:
        authority |= _authority(delegator)
    return (
        steps.filter(authority)
        .select_related(
            "request__requester",
            "request__cost_center",
            "request__gl_account",
            "approver_user",
            "approver_group",
            "purchase_order__vendor",
            "raised_by",
        )
        .order_by("created_at", "id")
    )


def on_behalf_label(step: ApprovalStep, user: User, delegators: list[User]) -> str:
    """'' when the user holds the step themselves, else the name of whom they stand in for.

    Call `annotate_on_behalf` for a list; it reads the user's groups once."""
    return annotate_on_behalf([step], user, delegators)[0]


def annotate_on_behalf(steps: list[ApprovalStep], user: User, delegators: list[User]) -> list[str]:
    """For each step: '' when the user holds it, else whom they stand in for."""
    own_groups = None if user.is_superuser else set(user.groups.values_list("pk", flat=True))
    stand_ins = [
        (delegator, {group.pk for group in delegator.groups.all()}) for delegator in delegators
    ]

    def holds(step: ApprovalStep, person: User, groups: set[int] | None) -> bool:
        if step.approver_user_id:
            return step.approver_user_id == person.pk
        return groups is None or step.approver_group_id in groups

    labels = []
    for step in steps:
        label = ""
        if not holds(step, user, own_groups):
            for delegator, groups in stand_ins:
                if holds(step, delegator, groups):
                    label = delegator.get_full_name() or delegator.username
                    break
        labels.append(label)
    return labels


def _ordered_for(user: User) -> Exists:
    return Exists(
        PurchaseOrder.requests.through.objects.filter(
            purchaseorder_id=OuterRef("pk"), purchaserequest__requester=user.pk
        )
    )


def visible_purchase_orders(user: User) -> QuerySet[PurchaseOrder]:
    """POs the user may open: plain requesters see the POs of their own requests only."""
    orders = PurchaseOrder.objects.all()
    if not sees_everything(user):
        orders = orders.filter(Q(request__requester=user) | Q(_ordered_for(user)))
    return orders


def po_list(user: User) -> QuerySet[PurchaseOrder]:
    """The PO list rows with vendor, buyer and request in the same query."""
    return (
        visible_purchase_orders(user).select_related("vendor", "buyer", "request").order_by("-id")
    )


def requests_awaiting_po() -> QuerySet[PurchaseRequest]:
    """Approved requests a buyer has not yet turned into a purchase order."""
    return (
        PurchaseRequest.objects.filter(status=PurchaseRequest.Status.APPROVED)
        .select_related("requester", "cost_center", "gl_account", "preferred_vendor")
        .order_by("decided_at", "id")
    )


@dataclass
class PurchaseOrderLife:
    """Everything one purchase order's page shows, fetched in a fixed number of queries."""

    po: PurchaseOrder
    lines: "list[WithAnnotations[PurchaseOrderLine, LineBilling]]"
    approvals: list[ApprovalStep]
    requests: list[PurchaseRequest]
    po_approvals: list[ApprovalStep]
    revisions: list[PurchaseOrderRevision]
    receipts: list[Receipt]
    billing: invoicing.PoBilling
    events: list[AuditEvent]
    totals: dict[str, Decimal] = field(default_factory=dict)


def po_life(user: User, pk: int) -> PurchaseOrderLife | None:
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
    lines = list(
        po.lines.select_related("gl_account", "cost_center").annotate(
            billed_qty=invoicing.billed_quantity(),
            # What the line still commits against its budget (see open_po_lines).
            open_amount=Greatest(
                F("amount")
                - Coalesce(invoicing.billed_on_po_line(), Value(ZERO), output_field=_MONEY),
                Value(ZERO),
                output_field=_MONEY,
            ),
        )
    )
    requests = list(po.requests.select_related("requester", "cost_center", "gl_account"))
    if not requests and po.request is not None:
        requests = [po.request]
    request_ids = [request.pk for request in requests]
    all_steps = list(
        ApprovalStep.objects.filter(
            Q(request_id__in=request_ids, purchase_order__isnull=True) | Q(purchase_order=po)
        )
        .select_related("approver_user", "approver_group", "decided_by", "on_behalf_of", "request")
        .order_by("request_id", "created_at", "step", "id")
    )
    approvals = [step for step in all_steps if step.purchase_order_id is None]
    po_approvals = [step for step in all_steps if step.purchase_order_id is not None]
    revisions = list(po.revisions.select_related("created_by").order_by("-id"))
    receipts = list(
        po.receipts.select_related("received_by")
        .prefetch_related(Prefetch("lines", queryset=ReceiptLine.objects.select_related("po_line")))
        .order_by("received_on", "id")
    )
    billing = invoicing.po_billing(po)
    refs = [("procurement.purchaseorder", po.pk)]
    refs += [("procurement.purchaserequest", request_id) for request_id in request_ids]
    refs += [("procurement.approvalstep", step.pk) for step in all_steps]
    refs += [("procurement.purchaseorderrevision", revision.pk) for revision in revisions]
    refs += [("procurement.receipt", receipt.pk) for receipt in receipts]
    refs += billing.audit_refs()
    events = list(AuditEvent.objects.for_objects(refs))
    totals = {
        "committed": sum((line.open_amount for line in lines), ZERO)
        if po.status in PurchaseOrder.OPEN_STATUSES
        else ZERO,
        "ordered": po.total_amount,
        "received": sum((line.received_qty * line.unit_price for line in lines), ZERO),
        **billing.totals(),
    }
    return PurchaseOrderLife(
        po=po,
        lines=lines,
        approvals=approvals,
        requests=requests,
        po_approvals=po_approvals,
        revisions=revisions,
        receipts=receipts,
        billing=billing,
        events=events,
        totals=totals,
    )


def receivable_po(user: User, pk: int) -> PurchaseOrder | None:
    """A PO the user may record receipts on: a requester it was ordered for, or any buyer."""
    orders = PurchaseOrder.objects.select_related("vendor", "request")
    if not roles.may(user, Perm.MANAGE_ORDERS):
        orders = orders.filter(Q(request__requester=user) | Q(_ordered_for(user)))
    return orders.filter(pk=pk).first()


# ---------- budgets: committed and spent, summed from the documents ----------


def open_po_lines() -> "QuerySet[WithAnnotations[PurchaseOrderLine, OpenAmount]]":
    """Lines of open POs annotated with `open_amount`: ordered minus approved invoicing."""
    return PurchaseOrderLine.objects.filter(
        purchase_order__status__in=PurchaseOrder.OPEN_STATUSES
    ).annotate(
        open_amount=Greatest(
            F("amount") - Coalesce(invoicing.billed_on_po_line(), Value(ZERO), output_field=_MONEY),
            Value(ZERO),
            output_field=_MONEY,
        )
    )


def _scope(prefix: str) -> dict[str, Any]:
    """Filters tying rows to the outer budget: cost center, GL (when set), currency, period."""
    return {
        f"{prefix}cost_center": OuterRef("cost_center"),
        # A cost-center budget (no GL) compares the row's GL with itself, i.e. any GL.
        f"{prefix}gl_account": Coalesce(OuterRef("gl_account"), F(f"{prefix}gl_account")),
    }


def _committed_subquery() -> Subquery:
    lines = open_po_lines().filter(
        **_scope(""),
        purchase_order__currency=OuterRef("currency"),
        purchase_order__issued_at__date__gte=OuterRef("period_start"),
        purchase_order__issued_at__date__lte=OuterRef("period_end"),
    )
    return Subquery(
        lines.order_by()
        .values("cost_center")
        .annotate(total=Sum("open_amount"))
        .values("total")[:1],
        output_field=_MONEY,
    )


def _spent_subquery() -> Subquery:
    lines = invoicing.spent_invoice_lines().filter(
        **_scope("po_line__"),
        invoice__currency=OuterRef("currency"),
        invoice__invoice_date__gte=OuterRef("period_start"),
        invoice__invoice_date__lte=OuterRef("period_end"),
    )
    return Subquery(
        lines.order_by()
        .values("po_line__cost_center")
        .annotate(total=Sum(invoicing.signed_invoice_amount()))
        .values("total")[:1],
        output_field=_MONEY,
    )


def budgets_with_position(
    budgets: QuerySet[Budget] | None = None,
) -> "QuerySet[WithAnnotations[Budget, BudgetFigures]]":
    """Budgets annotated with committed, spent and available, in one query however many."""
    budgets = Budget.objects.all() if budgets is None else budgets
    return budgets.select_related("cost_center", "gl_account", "updated_by").annotate(
        committed=Coalesce(_committed_subquery(), Value(ZERO), output_field=_MONEY),
        spent=Coalesce(_spent_subquery(), Value(ZERO), output_field=_MONEY),
        available=F("amount") - F("committed") - F("spent"),
    )


@dataclass(frozen=True)
class BudgetPosition:
    """Where a budget stands: available = budget − committed (open POs) − spent (invoices)."""

    budget: Budget
    committed: Decimal
    spent: Decimal

    @property
    def available(self) -> Decimal:
        return self.budget.amount - self.committed - self.spent

    @property
    def used_ratio(self) -> Decimal:
        if not self.budget.amount:
            return Decimal("1")
        return (self.committed + self.spent) / self.budget.amount


def _position(budget: "WithAnnotations[Budget, BudgetFigures]") -> BudgetPosition:
    return BudgetPosition(budget=budget, committed=budget.committed, spent=budget.spent)


def budget_positions_for(
    keys: set[tuple[int, int | None]], on_date: dt.date | None = None
) -> dict[tuple[int, int | None], BudgetPosition]:
    """The budget in force for each (cost center, GL account) on a day, in one query: a
    budget for that GL account wins over the cost center's overall budget."""
    day = on_date or timezone.localdate()
    cost_center_ids = {cost_center_id for cost_center_id, _ in keys}
    if not cost_center_ids:
        return {}
    budgets = budgets_with_position(
        Budget.objects.filter(
            cost_center__in=cost_center_ids, period_start__lte=day, period_end__gte=day
        )
    )
    overall: dict[int, WithAnnotations[Budget, BudgetFigures]] = {}
    specific: dict[tuple[int, int | None], WithAnnotations[Budget, BudgetFigures]] = {}
    for budget in budgets:
        if budget.gl_account_id is None:
            overall[budget.cost_center_id] = budget
        else:
            specific[(budget.cost_center_id, budget.gl_account_id)] = budget
    positions = {}
    for cost_center_id, gl_account_id in keys:
        in_force = specific.get((cost_center_id, gl_account_id)) or overall.get(cost_center_id)
        if in_force is not None:
            positions[(cost_center_id, gl_account_id)] = _position(in_force)
    return positions


def budget_position_for(
    *, cost_center_id: int, gl_account_id: int | None, on_date: dt.date | None = None
) -> BudgetPosition | None:
    """The position of the budget that applies to a request's coding on a day, if any."""
    key = (cost_center_id, gl_account_id)
    return budget_positions_for({key}, on_date).get(key)


def budget_commitments(
    budget: Budget,
) -> "QuerySet[WithAnnotations[PurchaseOrderLine, OpenAmount]]":
    """The open PO lines that make up a budget's committed amount."""
    lines = open_po_lines().filter(
        cost_center=budget.cost_center_id,
        purchase_order__currency=budget.currency,
        purchase_order__issued_at__date__gte=budget.period_start,
        purchase_order__issued_at__date__lte=budget.period_end,
        open_amount__gt=ZERO,
    )
    if budget.gl_account_id:
        lines = lines.filter(gl_account=budget.gl_account_id)
    return lines.select_related("purchase_order__vendor", "gl_account").order_by(
        "purchase_order__issued_at", "purchase_order_id", "line_no"
    )


def po_open_commitment(po_id: int) -> Decimal:
    """What an open PO still commits: ordered minus approved invoicing, line by line."""
    total: Decimal = (
        open_po_lines()
        .filter(purchase_order=po_id)
        .aggregate(total=Coalesce(Sum("open_amount"), Value(ZERO), output_field=_MONEY))["total"]
    )
    return total


# ---------- contract prices ----------


@dataclass(frozen=True)
class PriceDeviation:
    """A PO line whose price is not the contract price in force."""

    line: PurchaseOrderLine
    contract_price: Decimal


def contract_price_deviations(
    po: PurchaseOrder, lines: Sequence[PurchaseOrderLine] | None = None
) -> list[PriceDeviation]:
    """Lines with an item code whose unit price differs from the vendor's contract today."""
    today = timezone.localdate()
    deviations = []
    for line in lines if lines is not None else po.lines.all():
        if not line.item_code:
            continue
        price = contracts.contract_price(
            vendor_id=po.vendor_id, item_code=line.item_code, on_date=today, currency=po.currency
        )
        if price is not None and price != line.unit_price:
            deviations.append(PriceDeviation(line=line, contract_price=price))
    return deviations


# ---------- the PO document ----------


@dataclass
class PurchaseOrderDocument:
    """What the printable PO (HTML and PDF) shows."""

    po: PurchaseOrder
    lines: list[PurchaseOrderLine]
    request_numbers: list[str]


def po_document(pk: int, user: User | None = None) -> PurchaseOrderDocument | None:
    """The PO as sent to the vendor; None when the user may not see it."""
    orders = visible_purchase_orders(user) if user is not None else PurchaseOrder.objects.all()
    po = orders.select_related("vendor", "buyer", "payment_terms").filter(pk=pk).first()
    if po is None:
        return None
    return PurchaseOrderDocument(
        po=po,
        lines=list(po.lines.order_by("line_no")),
        request_numbers=list(po.requests.order_by("pk").values_list("number", flat=True)),
    )
