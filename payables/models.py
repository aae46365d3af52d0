"""Payables: invoices, the match and its evidence, exceptions, payment runs and payments."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from procurement.models import PurchaseOrder, PurchaseOrderLine
from vendors.models import Vendor

ZERO = Decimal("0")


class MatchPolicy(models.Model):
    """Tolerances for price, quantity and header totals; every match records which one applied."""

    class Scope(models.TextChoices):
        ORGANISATION = "organisation", "Organisation"
        VENDOR = "vendor", "Vendor"

    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.ORGANISATION)
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    # A variance passes when it is within BOTH the percent and the absolute amount
    # ("whichever is tighter"): 2% of a 50,000 line is 1,000, too much to wave through.
    price_tolerance_pct = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("2"))
    price_tolerance_abs = models.DecimalField(max_digits=18, decimal_places=4, default=Decimal("5"))
    qty_tolerance_pct = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("0"))
    total_tolerance_abs = models.DecimalField(
        max_digits=18, decimal_places=2, default=Decimal("0.05")
    )
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "match policies"
        constraints = [
            models.UniqueConstraint(
                fields=["vendor"],
                condition=models.Q(active=True),
                name="one_active_policy_per_vendor",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return self.name


class InvoiceQuerySet(models.QuerySet):
    def awaiting_match(self) -> "InvoiceQuerySet":
        return self.filter(status=Invoice.Status.PENDING_MATCH)

    def payable(self) -> "InvoiceQuerySet":
        return self.filter(status=Invoice.Status.APPROVED, vendor__status=Vendor.Status.ACTIVE)


class Invoice(models.Model):
    """A vendor's bill (or credit note), captured by AP and matched against PO and receipts.

    Amounts are stored as the document states them for its type, so they are positive on a
    credit note too: `document_type` carries the sign, and every consumer (matching, payment
    runs, KPIs) subtracts credit notes. A "negative invoice" (type 380 with a negative total)
    is stored as a credit note with the signs flipped. `total_amount` is net + tax (what the
    match checks); `payable_amount` is what is still owed after prepayments and rounding.
    """

    class Status(models.TextChoices):
        PENDING_MATCH = "pending_match", "Pending match"
        EXCEPTION = "exception", "Exception"
        APPROVED = "approved", "Approved"
        SCHEDULED = "scheduled", "In payment run"
        PAID = "paid", "Paid"
        REJECTED = "rejected", "Rejected"

    TRANSITIONS = {
        Status.PENDING_MATCH: (Status.APPROVED, Status.EXCEPTION, Status.REJECTED),
        Status.EXCEPTION: (Status.PENDING_MATCH, Status.APPROVED, Status.REJECTED),
        Status.APPROVED: (Status.SCHEDULED, Status.PENDING_MATCH),
        Status.SCHEDULED: (Status.PAID, Status.APPROVED),
        Status.PAID: (Status.APPROVED,),
    }

    class DocumentType(models.TextChoices):
        INVOICE = "invoice", "Invoice"
        CREDIT_NOTE = "credit_note", "Credit note"

    class Source(models.TextChoices):
        FORM = "form", "Form"
        CSV = "csv", "CSV"
        UBL = "ubl", "UBL / Peppol"
        CII = "cii", "CII"
        FACTURX = "facturx", "Factur-X / ZUGFeRD PDF"
        API = "api", "API"

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="invoices")
    number = models.CharField(max_length=60)
    # Case, spaces, dashes and leading zeros stripped: "INV-0012" and "inv 12" are one invoice.
    normalized_number = models.CharField(max_length=60, db_index=True)
    document_type = models.CharField(
        max_length=20, choices=DocumentType.choices, default=DocumentType.INVOICE
    )
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.FORM)
    purchase_order = models.ForeignKey(
        PurchaseOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="invoices"
    )
    po_reference = models.CharField(max_length=60, blank=True)
    invoice_date = models.DateField()
    due_date = models.DateField()
    discount_date = models.DateField(null=True, blank=True)
    discount_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    currency = models.CharField(max_length=3)
    net_amount = models.DecimalField(max_digits=18, decimal_places=2)
    tax_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    total_amount = models.DecimalField(max_digits=18, decimal_places=2)
    # Already paid (e.g. a deposit) per the document; payable = total − prepaid ± rounding.
    prepaid_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    payable_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    # The seller as the document names it, kept even after the vendor record changes.
    seller_name = models.CharField(max_length=200, blank=True)
    seller_tax_id = models.CharField(max_length=40, blank=True)
    payment_terms_text = models.CharField(max_length=500, blank=True)
    # Some invoices also state the VAT in the currency of the tax authority.
    tax_currency = models.CharField(max_length=3, blank=True)
    source_file = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_MATCH)
    captured_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    captured_at = models.DateTimeField()
    match_attempts = models.PositiveIntegerField(default=0)
    first_matched_at = models.DateTimeField(null=True, blank=True)
    # True when the first match attempt approved the invoice (first-pass match).
    first_pass = models.BooleanField(null=True, blank=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    # Approved by the engine with no human action anywhere on the invoice.
    touchless = models.BooleanField(default=False)
    paid_at = models.DateTimeField(null=True, blank=True)

    objects = InvoiceQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["vendor", "normalized_number"]),
            models.Index(fields=["status", "due_date"]),
            models.Index(fields=["captured_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    status__in=[
                        "pending_match",
                        "exception",
                        "approved",
                        "scheduled",
                        "paid",
                        "rejected",
                    ]
                ),
                name="invoice_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.number}"


class InvoiceLine(models.Model):
    """One billed item; points at the PO line it bills when there is one."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    line_no = models.PositiveSmallIntegerField()
    po_line = models.ForeignKey(
        PurchaseOrderLine,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invoice_lines",
    )
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO)
    unit_code = models.CharField(max_length=10, blank=True)
    # The buyer's order line the vendor quoted (a PO line number), even when it matched none.
    order_line_reference = models.CharField(max_length=30, blank=True)

    class Meta:
        ordering = ["invoice_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "line_no"], name="invoice_line_no_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.invoice.number}/{self.line_no}"


class MatchResult(models.Model):
    """The evidence for one invoice line's match: values compared, tolerance, verdict."""

    class Result(models.TextChoices):
        MATCHED = "matched", "Matched"
        PRICE_VARIANCE = "price_variance", "Price variance"
        QTY_OVER_BILLED = "qty_over_billed", "Quantity over billed"
        MISSING_RECEIPT = "missing_receipt", "Missing receipt"
        NO_PO_LINE = "no_po_line", "No PO line"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="match_results")
    invoice_line = models.OneToOneField(
        InvoiceLine, on_delete=models.CASCADE, related_name="match_result"
    )
    po_line = models.ForeignKey(
        PurchaseOrderLine, null=True, on_delete=models.PROTECT, related_name="match_results"
    )
    policy = models.ForeignKey(MatchPolicy, null=True, on_delete=models.PROTECT, related_name="+")
    invoice_unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    po_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    price_variance = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    price_tolerance = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    billed_qty_cumulative = models.DecimalField(max_digits=18, decimal_places=4)
    # Received net of returns (3-way) or ordered (2-way): the most that may be billed.
    billable_qty = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    result = models.CharField(max_length=20, choices=Result.choices)
    matched_at = models.DateTimeField()

    class Meta:
        ordering = ["invoice_id", "invoice_line_id"]

    def __str__(self) -> str:
        return f"{self.invoice_line} {self.result}"


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

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    TRANSITIONS = {Status.OPEN: (Status.RESOLVED,)}

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

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "owner", "type"])]
        constraints = [
            # Matching is idempotent: one open exception per problem, however often it runs.
            models.UniqueConstraint(
                fields=["invoice", "invoice_line", "type"],
                condition=models.Q(status="open"),
                nulls_distinct=False,
                name="one_open_exception_per_problem",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} on {self.invoice}"


class PaymentRun(models.Model):
    """A batch of approved invoices paid together, prepared by one user and approved by another."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.PROPOSED: (Status.APPROVED, Status.CANCELLED),
        Status.APPROVED: (Status.PAID, Status.CANCELLED),
    }

    number = models.CharField(max_length=20, unique=True)
    pay_date = models.DateField()
    horizon_date = models.DateField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    gross_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    discount_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    net_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(approved_by=models.F("prepared_by")),
                name="payment_run_preparer_is_not_approver",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    """One invoice's payment inside a run."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    TRANSITIONS = {
        Status.SCHEDULED: (Status.PAID, Status.VOID),
        Status.PAID: (Status.VOID,),
    }

    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="payments")
    currency = models.CharField(max_length=3)
    gross_amount = models.DecimalField(max_digits=18, decimal_places=2)
    discount_taken = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    net_amount = models.DecimalField(max_digits=18, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    paid_on = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "vendor_id", "id"]
        constraints = [
            # The database itself guarantees an invoice is never paid twice.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=~models.Q(status="void"),
                name="one_live_payment_per_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run.number} {self.invoice}"
