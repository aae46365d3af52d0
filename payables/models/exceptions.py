"""Invoice exceptions, their comments and mentions, and bulk resolution jobs."""

import datetime as dt

from django.conf import settings
from django.contrib.auth.models import User
from django.db import models
from django.db.models.functions import Least, Now
from django.utils import timezone

from p2p.money import ZERO
from payables.models.invoices import Invoice, InvoiceLine


class InvoiceExceptionQuerySet(models.QuerySet["InvoiceException"]):
    def unresolved(self) -> "InvoiceExceptionQuerySet":
        """Open or waiting for the vendor: the invoice is still blocked."""
        return self.filter(status__in=InvoiceException.UNRESOLVED)

    def with_queue_fields(self, today: dt.date) -> "InvoiceExceptionQuerySet":
        """What the queue sorts by: the discount still to be won, the earliest date money is
        lost (that discount or the due date) and the money at risk (at stake + discount)."""
        alive = models.Q(invoice__discount_date__gte=today)
        return self.annotate(
            discount_deadline=models.Case(
                models.When(alive, then=models.F("invoice__discount_date")),
                default=None,
                output_field=models.DateField(),
            ),
            urgency=Least(models.F("discount_deadline"), models.F("invoice__due_date")),
            money_at_risk=models.F("amount_at_stake")
            + models.Case(
                models.When(alive, then=models.F("invoice__discount_amount")),
                default=models.Value(ZERO),
                output_field=models.DecimalField(max_digits=18, decimal_places=2),
            ),
            age=Now() - models.F("opened_at"),
        )

    def claimable(self, now: dt.datetime) -> "InvoiceExceptionQuerySet":
        """Open and held by nobody, or by a claim that has expired."""
        return self.filter(status=InvoiceException.Status.OPEN).filter(
            models.Q(claimed_by__isnull=True) | models.Q(claimed_until__lte=now)
        )


class InvoiceExceptionStatus(models.TextChoices):
    """InvoiceException.Status; defined outside the model so its Meta constraints can name the values."""

    OPEN = "open", "Open"
    WAITING_VENDOR = "waiting_vendor", "Waiting for vendor"
    RESOLVED = "resolved", "Resolved"


class InvoiceException(models.Model):
    """A problem that stops an invoice, routed to whoever holds the information to fix it."""

    class Type(models.TextChoices):
        PRICE_VARIANCE = "price_variance", "Price variance"
        QTY_OVER_BILLED = "qty_over_billed", "Quantity over billed"
        MISSING_RECEIPT = "missing_receipt", "Missing receipt"
        NO_PO = "no_po", "No PO"
        VENDOR_MISMATCH = "vendor_mismatch", "Vendor mismatch"
        CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
        DUPLICATE = "duplicate", "Possible duplicate"
        TOTALS_MISMATCH = "totals_mismatch", "Totals mismatch"

    class Owner(models.TextChoices):
        BUYER = "buyer", "Buyer"
        REQUESTER = "requester", "Requester / receiver"
        AP = "ap", "Accounts payable"

    Status = InvoiceExceptionStatus

    TRANSITIONS = {
        Status.OPEN: (Status.RESOLVED, Status.WAITING_VENDOR),
        # A credit note arrives (resolved), or AP stops waiting and works it again (open).
        Status.WAITING_VENDOR: (Status.RESOLVED, Status.OPEN),
    }
    # Not yet resolved: the invoice stays blocked while any of these exist.
    UNRESOLVED = (Status.OPEN, Status.WAITING_VENDOR)
    # Business days each owner has to act before the exception is overdue.
    SLA_BUSINESS_DAYS = {"buyer": 2, "requester": 2, "ap": 1}

    class RootCause(models.TextChoices):
        STALE_PO_PRICE = "stale_po_price", "Stale PO price"
        VENDOR_PRICING_ERROR = "vendor_pricing_error", "Vendor pricing error"
        MISSING_RECEIPT = "missing_receipt", "Missing receipt"
        BAD_CODING = "bad_coding", "Bad coding"
        WRONG_VENDOR = "wrong_vendor", "Wrong vendor"
        DUPLICATE_SUBMISSION = "duplicate_submission", "Duplicate submission"
        OVER_BILLING = "over_billing", "Over-billing"
        NO_PO = "no_po", "No PO"
        KEYING_ERROR = "keying_error", "Keying error"

    class Resolution(models.TextChoices):
        ACCEPT_VARIANCE = "accept_variance", "Accept variance"
        RECEIPT_POSTED = "receipt_posted", "Receipt posted"
        REJECT_INVOICE = "reject_invoice", "Reject invoice"
        MARK_DUPLICATE = "mark_duplicate", "Mark duplicate"
        PO_CORRECTED = "po_corrected", "PO corrected"
        RECODED = "recoded", "Re-coded"
        RESOLVED_BY_MATCH = "resolved_by_match", "Cleared by re-match"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="exceptions")
    invoice_line = models.ForeignKey(
        InvoiceLine, null=True, blank=True, on_delete=models.CASCADE, related_name="exceptions"
    )
    type = models.CharField(max_length=30, choices=Type.choices)
    owner = models.CharField(max_length=20, choices=Owner.choices)
    owner_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    suggested_root_cause = models.CharField(max_length=30, choices=RootCause.choices, blank=True)
    root_cause = models.CharField(max_length=30, choices=RootCause.choices, blank=True)
    resolution = models.CharField(max_length=30, choices=Resolution.choices, blank=True)
    detail = models.CharField(max_length=300, blank=True)
    amount_at_stake = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    opened_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution_note = models.TextField(blank=True)
    # A clerk working the exception holds it until the claim expires or is released.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    # The credit note asked of the vendor, and the one that settled the exception.
    credit_requested_at = models.DateTimeField(null=True, blank=True)
    credit_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    credit_request_amount = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True
    )
    credit_note = models.ForeignKey(
        Invoice,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settled_exceptions",
    )

    objects = InvoiceExceptionQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "owner", "type"])]
        constraints = [
            # Matching is idempotent: one unresolved exception per problem, however often it
            # runs; one waiting for the vendor still blocks a second from being opened.
            models.UniqueConstraint(
                fields=["invoice", "invoice_line", "type"],
                condition=models.Q(
                    status__in=[InvoiceExceptionStatus.OPEN, InvoiceExceptionStatus.WAITING_VENDOR]
                ),
                nulls_distinct=False,
                name="one_open_exception_per_problem",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=InvoiceExceptionStatus.values),
                name="invoice_exception_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} on {self.invoice}"

    def is_claimed_by_other(self, user: User, now: dt.datetime) -> bool:
        """Someone else holds a live claim on it, so this user must not work it."""
        return (
            self.claimed_by_id is not None
            and self.claimed_by_id != user.pk
            and self.claimed_until is not None
            and self.claimed_until > now
        )

    @property
    def sla_due_at(self) -> dt.datetime:
        """When the owner's SLA runs out: N business days after it was opened."""
        return add_business_days(self.opened_at, self.SLA_BUSINESS_DAYS.get(self.owner, 1))


def add_business_days(start: dt.datetime, days: int) -> dt.datetime:
    """`start` plus `days` weekdays at the same local time; a weekend start counts from Monday."""
    local = timezone.localtime(start)
    if local.weekday() >= 5:
        local = (local + dt.timedelta(days=7 - local.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    while days > 0:
        local += dt.timedelta(days=1)
        if local.weekday() < 5:
            days -= 1
    return local


def business_days_before(moment: dt.datetime, days: int) -> dt.datetime:
    """The latest opening time whose SLA of `days` business days has run out by `moment`."""
    local = timezone.localtime(moment)
    if local.weekday() >= 5:
        # Nothing falls due at the weekend: it is as late as Friday midnight.
        local = (local - dt.timedelta(days=local.weekday() - 5)).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
    while days > 0:
        local -= dt.timedelta(days=1)
        if local.weekday() < 5:
            days -= 1
    return local


class ExceptionComment(models.Model):
    """A note on an exception; @mentions bring a colleague in and notify them."""

    exception = models.ForeignKey(
        InvoiceException, on_delete=models.CASCADE, related_name="comments"
    )
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    body = models.TextField()
    created_at = models.DateTimeField()
    mentioned: "models.ManyToManyField[User, ExceptionMention]" = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ExceptionMention",
        related_name="exception_mentions",
        blank=True,
    )

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Comment on {self.exception_id} by {self.author_id}"


class ExceptionMention(models.Model):
    """One person named in a comment; their mentions list shows it until they mark it read."""

    comment = models.ForeignKey(ExceptionComment, on_delete=models.CASCADE, related_name="mentions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-comment_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["comment", "user"], name="one_mention_per_comment_user"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in comment {self.comment_id}"


class BulkJobStatus(models.TextChoices):
    """BulkJob.Status; defined outside the model so its Meta constraints can name the values."""

    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"


class BulkJob(models.Model):
    """One resolution applied to many exceptions in the background, each in its own transaction."""

    Status = BulkJobStatus

    TRANSITIONS = {
        Status.QUEUED: (Status.RUNNING, Status.DONE),
        Status.RUNNING: (Status.DONE,),
    }

    resolution = models.CharField(max_length=30)
    root_cause = models.CharField(max_length=30, choices=InvoiceException.RootCause.choices)
    note = models.TextField(blank=True)
    # Exceptions with more at stake than this are skipped (reported as failed), if set.
    max_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    total = models.PositiveIntegerField(default=0)
    succeeded = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=BulkJobStatus.values),
                name="bulk_job_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Bulk {self.resolution} #{self.pk}"

    @property
    def processed(self) -> int:
        return self.succeeded + self.failed


class BulkJobItem(models.Model):
    """One exception inside a bulk job and what happened to it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DONE = "done", "Resolved"
        FAILED = "failed", "Failed"

    job = models.ForeignKey(BulkJob, on_delete=models.CASCADE, related_name="items")
    exception = models.ForeignKey(InvoiceException, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    message = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["job_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["job", "exception"], name="one_item_per_job_exception"),
        ]

    def __str__(self) -> str:
        return f"{self.job} / {self.exception_id}"
