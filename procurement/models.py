"""Procurement: requests, approvals, purchase orders and receipts — where spend is committed."""

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.functions import Coalesce

from p2p.money import ZERO
from vendors.models import PaymentTerms, Vendor


class CostCenter(models.Model):
    """A department's cost center; budgets and approvals hang off it."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    department = models.CharField(max_length=100)
    # Retired cost centers stay on old documents but cannot code new spend.
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class GLAccount(models.Model):
    """A general-ledger expense account used to code spend."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "GL account"

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Category(models.TextChoices):
    GOODS = "goods", "Goods"
    SERVICES = "services", "Services"
    IT = "it", "IT hardware & software"
    FACILITIES = "facilities", "Facilities"
    MARKETING = "marketing", "Marketing"


class PurchaseRequestStatus(models.TextChoices):
    """PurchaseRequest.Status; defined outside the model so its Meta constraints can name the values."""

    DRAFT = "draft", "Draft"
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    RETURNED = "returned", "Returned for changes"
    WITHDRAWN = "withdrawn", "Withdrawn"
    ORDERED = "ordered", "Ordered"


class PurchaseRequest(models.Model):
    """A requester's ask to buy something; approved requests become purchase orders."""

    Status = PurchaseRequestStatus

    TRANSITIONS = {
        Status.DRAFT: (Status.PENDING_APPROVAL, Status.WITHDRAWN),
        Status.RETURNED: (Status.PENDING_APPROVAL, Status.WITHDRAWN),
        Status.PENDING_APPROVAL: (
            Status.APPROVED,
            Status.REJECTED,
            Status.RETURNED,
            Status.WITHDRAWN,
        ),
        Status.APPROVED: (Status.ORDERED,),
        # A cancelled purchase order hands its requests back to the buyers to order again.
        Status.ORDERED: (Status.APPROVED,),
    }
    EDITABLE_STATUSES = (Status.DRAFT, Status.RETURNED, Status.PENDING_APPROVAL)

    number = models.CharField(max_length=20, unique=True)
    title = models.CharField(max_length=200)
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchase_requests"
    )
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="+")
    gl_account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="+")
    category = models.CharField(max_length=20, choices=Category.choices, default=Category.GOODS)
    preferred_vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    currency = models.CharField(max_length=3, default="EUR")
    justification = models.TextField(blank=True)
    needed_by = models.DateField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    total_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    # Everyone other than the requester who changed the request; none of them may approve it.
    editors = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=PurchaseRequestStatus.values),
                name="pr_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class PurchaseRequestLine(models.Model):
    """One thing asked for: quantity × unit price."""

    request = models.ForeignKey(PurchaseRequest, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField()
    # A contract item's code when the line was picked from the preferred vendor's rate card.
    item_code = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    uom = models.CharField("unit", max_length=10, default="EA")
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    needed_by = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["line_no"]
        constraints = [
            models.UniqueConstraint(fields=["request", "line_no"], name="pr_line_no_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="pr_line_qty_positive"),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="pr_line_price_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request.number}/{self.line_no} {self.description}"


def _attachment_path(attachment: "RequestAttachment", filename: str) -> str:
    # A random stored name: uploads never collide, and a crafted name cannot climb directories.
    suffix = PurePosixPath(filename).suffix.lower()[:10]
    return f"requests/{attachment.request_id}/{uuid.uuid4().hex}{suffix}"


class RequestAttachmentQuerySet(models.QuerySet["RequestAttachment"]):
    def current(self) -> "RequestAttachmentQuerySet":
        """Attachments not removed: what the request's page and API list."""
        return self.filter(removed_at__isnull=True)


class RequestAttachment(models.Model):
    """A file backing a request (usually a vendor's quote); served only to those who see the request.

    Removal hides it but keeps the row and the file, with who removed it, when and why: an
    approver may have decided on that quote, so auditors must still be able to read it.
    """

    request = models.ForeignKey(
        PurchaseRequest, on_delete=models.CASCADE, related_name="attachments"
    )
    file = models.FileField(upload_to=_attachment_path, max_length=255)
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(auto_now_add=True)
    removed_at = models.DateTimeField(null=True, blank=True)
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    removal_reason = models.CharField(max_length=300, blank=True)

    objects = RequestAttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["uploaded_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    removed_at__isnull=True, removed_by__isnull=True, removal_reason=""
                )
                | (
                    models.Q(removed_at__isnull=False, removed_by__isnull=False)
                    & ~models.Q(removal_reason="")
                ),
                name="request_attachment_removal_complete",
            ),
        ]

    def __str__(self) -> str:
        return self.original_name


class ApprovalRule(models.Model):
    """Requests whose amount falls in [min_amount, max_amount) need this approver at this step.

    A rule may narrow itself to a cost center, a department and/or a category; at each step
    the most specific matching rule wins (cost center, then department, then category).
    """

    name = models.CharField(max_length=100)
    step = models.PositiveSmallIntegerField(default=1)
    min_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    max_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cost_center = models.ForeignKey(
        CostCenter, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    department = models.CharField(max_length=100, blank=True)
    category = models.CharField(max_length=20, choices=Category.choices, blank=True)
    approver_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT)
    approver_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["step", "min_amount"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(approver_group__isnull=False)
                | models.Q(approver_user__isnull=False),
                name="approval_rule_has_approver",
            ),
            models.CheckConstraint(
                condition=models.Q(max_amount__isnull=True)
                | models.Q(max_amount__gt=models.F("min_amount")),
                name="approval_rule_band_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def approver_label(self) -> str:
        if self.approver_user is not None:
            return self.approver_user.get_full_name() or self.approver_user.username
        return f"any {self.approver_group.name}" if self.approver_group is not None else "—"


class ApprovalDelegationQuerySet(models.QuerySet["ApprovalDelegation"]):
    def active_on(self, day: dt.date) -> "ApprovalDelegationQuerySet":
        """Delegations in force on a day (not cancelled, day within the dates)."""
        return self.filter(cancelled_at__isnull=True, start_date__lte=day, end_date__gte=day)


class ApprovalDelegation(models.Model):
    """While `from_user` is away, `to_user` may decide what waits for them, on their behalf."""

    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="delegations_given"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="delegations_received"
    )
    start_date = models.DateField()
    end_date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)

    objects = ApprovalDelegationQuerySet.as_manager()

    class Meta:
        ordering = ["-start_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(end_date__gte=models.F("start_date")),
                name="delegation_dates_ordered",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_user=models.F("to_user")),
                name="delegation_not_to_self",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_user} → {self.to_user} {self.start_date}–{self.end_date}"


class ApprovalStep(models.Model):
    """One approval a request (or a change to its purchase order) needs; decided in order."""

    class Kind(models.TextChoices):
        RULE = "rule", "Approval rule"
        BUDGET = "budget", "Over budget"
        PO_CHANGE = "po_change", "Purchase order above approved amount"

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for earlier step"
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RETURNED = "returned", "Returned for changes"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.WAITING: (Status.PENDING, Status.CANCELLED),
        Status.PENDING: (Status.APPROVED, Status.REJECTED, Status.RETURNED, Status.CANCELLED),
    }

    request = models.ForeignKey(PurchaseRequest, on_delete=models.CASCADE, related_name="approvals")
    step = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.RULE)
    # Set on a re-approval of a purchase order (a draft above its approved amount, or a
    # change order); `request` is then the PO's request, whose requester may not approve.
    purchase_order = models.ForeignKey(
        "PurchaseOrder",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="approvals",
    )
    revision = models.ForeignKey(
        "PurchaseOrderRevision",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="approvals",
    )
    # The amount this round approves: the request total, or the PO's proposed total.
    amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    reason = models.CharField(max_length=300, blank=True)
    # Who started a PO re-approval round (the buyer who changed the order); they may not
    # approve it, just as a requester may not approve their own request.
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rule = models.ForeignKey(ApprovalRule, null=True, on_delete=models.SET_NULL, related_name="+")
    approver_group = models.ForeignKey(Group, null=True, blank=True, on_delete=models.PROTECT)
    approver_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    # Set when a delegate decided while the assigned approver was away.
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request_id", "step", "id"]
        indexes = [models.Index(fields=["status", "approver_group"])]

    def __str__(self) -> str:
        return f"{self.request.number} step {self.step}"

    @property
    def approver_label(self) -> str:
        if self.approver_user is not None:
            return self.approver_user.get_full_name() or self.approver_user.username
        return f"any {self.approver_group.name}" if self.approver_group is not None else "—"


class Budget(models.Model):
    """Money a cost center (optionally one GL account of it) may spend in a period.

    Committed and spent are never stored: selectors sum them from open PO lines and
    approved invoices, so no other app has to keep a counter up to date.
    """

    class Overrun(models.TextChoices):
        BLOCK = "block", "Block the request"
        APPROVE = "approve", "Add a finance approval step"

    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="budgets")
    gl_account = models.ForeignKey(
        GLAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    period_start = models.DateField()
    period_end = models.DateField()
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    currency = models.CharField(max_length=3, default="EUR")
    overrun_policy = models.CharField(
        max_length=10, choices=Overrun.choices, default=Overrun.APPROVE
    )
    note = models.CharField(max_length=200, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["cost_center__code", "-period_start", "gl_account__code"]
        constraints = [
            models.UniqueConstraint(
                fields=["cost_center", "gl_account", "period_start"],
                name="budget_unique_per_period",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=models.Q(period_end__gte=models.F("period_start")),
                name="budget_period_ordered",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="budget_amount_nonneg"),
        ]

    def __str__(self) -> str:
        scope = f"{self.cost_center.code}" + (
            f"/{self.gl_account.code}" if self.gl_account is not None else ""
        )
        return f"{scope} {self.period_start:%d %b %Y}–{self.period_end:%d %b %Y}"


class PurchaseOrderQuerySet(models.QuerySet["PurchaseOrder"]):
    def open(self) -> "PurchaseOrderQuerySet":
        return self.filter(status__in=PurchaseOrder.OPEN_STATUSES)


class PurchaseOrderStatus(models.TextChoices):
    """PurchaseOrder.Status; defined outside the model so its Meta constraints can name the values."""

    DRAFT = "draft", "Draft"
    ISSUED = "issued", "Issued"
    PARTIALLY_RECEIVED = "partially_received", "Partially received"
    RECEIVED = "received", "Received"
    CLOSED = "closed", "Closed"
    CANCELLED = "cancelled", "Cancelled"


class PurchaseOrder(models.Model):
    """A commitment to a vendor; the reference for AP's match."""

    Status = PurchaseOrderStatus

    TRANSITIONS: dict[str, tuple[str, ...]] = {
        Status.DRAFT: (Status.ISSUED, Status.CANCELLED),
        Status.ISSUED: (
            Status.PARTIALLY_RECEIVED,
            Status.RECEIVED,
            Status.CLOSED,
            Status.CANCELLED,
        ),
        Status.PARTIALLY_RECEIVED: (Status.RECEIVED, Status.CLOSED, Status.PARTIALLY_RECEIVED),
        # A change order that raises a quantity re-opens receiving.
        Status.RECEIVED: (Status.CLOSED, Status.PARTIALLY_RECEIVED),
    }
    OPEN_STATUSES = (Status.ISSUED, Status.PARTIALLY_RECEIVED, Status.RECEIVED)
    RECEIVABLE_STATUSES = (Status.ISSUED, Status.PARTIALLY_RECEIVED, Status.RECEIVED)

    number = models.CharField(max_length=20, unique=True)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="purchase_orders")
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchase_orders"
    )
    # The first request ordered on this PO (its requester receives missing-receipt
    # exceptions); `requests` holds every request the PO combines.
    request = models.ForeignKey(
        PurchaseRequest,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase_orders",
    )
    requests = models.ManyToManyField(PurchaseRequest, blank=True, related_name="orders")
    currency = models.CharField(max_length=3, default="EUR")
    payment_terms = models.ForeignKey(PaymentTerms, on_delete=models.PROTECT, related_name="+")
    ship_to = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    revision = models.PositiveSmallIntegerField(default=0)
    total_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    # What approvers have approved: the requests' totals, raised by each PO re-approval.
    approved_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    # True while a re-approval round (draft above approved, or a change order) is open.
    awaiting_reapproval = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = PurchaseOrderQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=PurchaseOrderStatus.values),
                name="po_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class PurchaseOrderLine(models.Model):
    """One ordered item with its coding and how AP matches it (3-way goods, 2-way services)."""

    class MatchType(models.TextChoices):
        THREE_WAY = "three_way", "3-way (goods)"
        TWO_WAY = "two_way", "2-way (services)"

    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="lines"
    )
    line_no = models.PositiveSmallIntegerField()
    request_line = models.ForeignKey(
        PurchaseRequestLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="po_lines",
    )
    item_code = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    uom = models.CharField("unit", max_length=10, default="EA")
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    # Blank while a draft is being coded; a PO cannot be issued until every line is coded.
    gl_account = models.ForeignKey(
        GLAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cost_center = models.ForeignKey(
        CostCenter, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    match_type = models.CharField(
        max_length=10, choices=MatchType.choices, default=MatchType.THREE_WAY
    )
    # Net of returns; maintained by the receipt service in the same transaction as the receipt.
    received_qty = models.DecimalField(max_digits=18, decimal_places=4, default=ZERO)

    class Meta:
        ordering = ["purchase_order_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["purchase_order", "line_no"], name="po_line_no_unique"),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="po_line_qty_positive"),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="po_line_price_nonneg"
            ),
            models.CheckConstraint(
                condition=models.Q(received_qty__gte=0), name="po_line_received_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purchase_order.number}/{self.line_no} {self.description}"

    @property
    def open_qty(self) -> Decimal:
        return max(self.quantity - self.received_qty, ZERO)


class PurchaseOrderRevisionStatus(models.TextChoices):
    """PurchaseOrderRevision.Status; defined outside the model so its Meta constraints can name the values."""

    PENDING_APPROVAL = "pending_approval", "Pending approval"
    APPLIED = "applied", "Applied"
    REJECTED = "rejected", "Rejected"


class PurchaseOrderRevision(models.Model):
    """One version of an issued PO: revision 0 as issued, then one per change order.

    The snapshot holds header and lines as they read in that version, so older versions
    stay visible after the lines change. A change order above the approved amount waits
    here (pending approval) and only touches the PO's lines once approved.
    """

    Status = PurchaseOrderRevisionStatus

    TRANSITIONS = {Status.PENDING_APPROVAL: (Status.APPLIED, Status.REJECTED)}

    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.CASCADE, related_name="revisions"
    )
    # The PO's revision number once applied; a pending or rejected change has none.
    number = models.PositiveSmallIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.APPLIED)
    reason = models.TextField(blank=True)
    snapshot = models.JSONField(default=dict)
    changes = models.JSONField(default=list, blank=True)
    total_amount = models.DecimalField(max_digits=18, decimal_places=2)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["purchase_order_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["purchase_order", "number"], name="po_revision_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PurchaseOrderRevisionStatus.values),
                name="po_revision_status_valid",
            ),
        ]

    def __str__(self) -> str:
        label = f"rev {self.number}" if self.number is not None else "change order"
        return f"{self.purchase_order.number} {label}"


class Receipt(models.Model):
    """Goods or services received against a purchase order (a goods receipt)."""

    class Status(models.TextChoices):
        POSTED = "posted", "Posted"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {Status.POSTED: (Status.CANCELLED,)}

    number = models.CharField(max_length=20, unique=True)
    purchase_order = models.ForeignKey(
        PurchaseOrder, on_delete=models.PROTECT, related_name="receipts"
    )
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    received_on = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.POSTED)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.number


class ReceiptLineQuerySet(models.QuerySet["ReceiptLine"]):
    def net_received_by_po_line(self) -> "models.QuerySet[ReceiptLine, dict[str, Any]]":
        """Received minus returned per PO line, over posted receipts."""
        return (
            self.filter(receipt__status=Receipt.Status.POSTED)
            .values("po_line_id")
            .annotate(
                net=Coalesce(models.Sum("received_qty"), ZERO)
                - Coalesce(models.Sum("returned_qty"), ZERO)
            )
        )


class ReceiptLine(models.Model):
    """Quantity received (or returned) for one PO line."""

    receipt = models.ForeignKey(Receipt, on_delete=models.CASCADE, related_name="lines")
    po_line = models.ForeignKey(
        PurchaseOrderLine, on_delete=models.PROTECT, related_name="receipt_lines"
    )
    received_qty = models.DecimalField(max_digits=18, decimal_places=4, default=ZERO)
    returned_qty = models.DecimalField(max_digits=18, decimal_places=4, default=ZERO)

    objects = ReceiptLineQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(received_qty__gte=0, returned_qty__gte=0),
                name="receipt_qty_nonneg",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.receipt.number} {self.po_line}"
