"""Procurement: requests, approvals, purchase orders and receipts — where spend is committed."""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import models
from django.db.models.functions import Coalesce

from vendors.models import PaymentTerms, Vendor

ZERO = Decimal("0")


class CostCenter(models.Model):
    """A department's cost center; budgets and approvals hang off it."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)
    department = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class GLAccount(models.Model):
    """A general-ledger expense account used to code spend."""

    code = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=100)

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


class PurchaseRequest(models.Model):
    """A requester's ask to buy something; approved requests become purchase orders."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        RETURNED = "returned", "Returned for changes"
        WITHDRAWN = "withdrawn", "Withdrawn"
        ORDERED = "ordered", "Ordered"

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
    }

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

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "draft",
                        "pending_approval",
                        "approved",
                        "rejected",
                        "returned",
                        "withdrawn",
                        "ordered",
                    ]
                ),
                name="pr_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class PurchaseRequestLine(models.Model):
    """One thing asked for: quantity × unit price."""

    request = models.ForeignKey(PurchaseRequest, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField()
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    uom = models.CharField("unit", max_length=10, default="EA")
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=2)

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


class ApprovalRule(models.Model):
    """Requests whose amount falls in [min_amount, max_amount) need this approver at this step."""

    name = models.CharField(max_length=100)
    step = models.PositiveSmallIntegerField(default=1)
    min_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    max_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    cost_center = models.ForeignKey(
        CostCenter, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
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
        ]

    def __str__(self) -> str:
        return self.name


class ApprovalStep(models.Model):
    """One approval a request needs; steps are decided in order."""

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
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["request_id", "step", "id"]
        indexes = [models.Index(fields=["status", "approver_group"])]

    def __str__(self) -> str:
        return f"{self.request.number} step {self.step}"

    @property
    def approver_label(self) -> str:
        if self.approver_user_id:
            return self.approver_user.get_full_name() or self.approver_user.username
        return f"any {self.approver_group.name}" if self.approver_group_id else "—"


class PurchaseOrderQuerySet(models.QuerySet):
    def open(self) -> "PurchaseOrderQuerySet":
        return self.filter(status__in=PurchaseOrder.OPEN_STATUSES)


class PurchaseOrder(models.Model):
    """A commitment to a vendor; the reference for AP's match."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ISSUED = "issued", "Issued"
        PARTIALLY_RECEIVED = "partially_received", "Partially received"
        RECEIVED = "received", "Received"
        CLOSED = "closed", "Closed"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.DRAFT: (Status.ISSUED, Status.CANCELLED),
        Status.ISSUED: (
            Status.PARTIALLY_RECEIVED,
            Status.RECEIVED,
            Status.CLOSED,
            Status.CANCELLED,
        ),
        Status.PARTIALLY_RECEIVED: (Status.RECEIVED, Status.CLOSED, Status.PARTIALLY_RECEIVED),
        Status.RECEIVED: (Status.CLOSED, Status.PARTIALLY_RECEIVED),
    }
    OPEN_STATUSES = (Status.ISSUED, Status.PARTIALLY_RECEIVED, Status.RECEIVED)
    RECEIVABLE_STATUSES = (Status.ISSUED, Status.PARTIALLY_RECEIVED, Status.RECEIVED)

    number = models.CharField(max_length=20, unique=True)
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="purchase_orders")
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="purchase_orders"
    )
    request = models.ForeignKey(
        PurchaseRequest,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="purchase_orders",
    )
    currency = models.CharField(max_length=3, default="EUR")
    payment_terms = models.ForeignKey(PaymentTerms, on_delete=models.PROTECT, related_name="+")
    ship_to = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    revision = models.PositiveSmallIntegerField(default=0)
    total_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    created_at = models.DateTimeField(auto_now_add=True)
    issued_at = models.DateTimeField(null=True, blank=True)

    objects = PurchaseOrderQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "draft",
                        "issued",
                        "partially_received",
                        "received",
                        "closed",
                        "cancelled",
                    ]
                ),
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
        PurchaseRequestLine, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    item_code = models.CharField(max_length=40, blank=True)
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    uom = models.CharField("unit", max_length=10, default="EA")
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    gl_account = models.ForeignKey(GLAccount, on_delete=models.PROTECT, related_name="+")
    cost_center = models.ForeignKey(CostCenter, on_delete=models.PROTECT, related_name="+")
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


class ReceiptLineQuerySet(models.QuerySet):
    def net_received_by_po_line(self):
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
