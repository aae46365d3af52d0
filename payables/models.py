"""Payables: invoices, the match and its evidence, exceptions, payment runs and payments."""

import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.functions import Least, Now
from django.utils import timezone

from payables.storage import private_storage
from procurement.models import CostCenter, GLAccount, PurchaseOrder, PurchaseOrderLine
from vendors.models import Vendor

ZERO = Decimal("0")


class MatchPolicy(models.Model):
    """Tolerances for price, quantity and header totals; every match records which one applied.

    Scopes go organisation → vendor → category → item; for each invoice line the most
    specific active policy wins (the header check uses vendor, else organisation). Each
    tolerance has a percent and an absolute part; `combine` says how they meet. Left empty,
    a part is not used; both empty means no tolerance at all.
    """

    class Scope(models.TextChoices):
        ORGANISATION = "organisation", "Organisation"
        VENDOR = "vendor", "Vendor"
        CATEGORY = "category", "Category"
        ITEM = "item", "Item"

    class Combine(models.TextChoices):
        # 2% of a 50,000 line is 1,000: too much to wave through, so "tighter" is the default.
        TIGHTER = "tighter", "Whichever is tighter"
        LOOSER = "looser", "Whichever is looser"

    name = models.CharField(max_length=100)
    scope = models.CharField(max_length=20, choices=Scope.choices, default=Scope.ORGANISATION)
    vendor = models.ForeignKey(
        Vendor, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    category = models.CharField(max_length=20, blank=True)
    item_code = models.CharField(max_length=40, blank=True)
    price_tolerance_pct = models.DecimalField(
        max_digits=6, decimal_places=3, null=True, blank=True, default=Decimal("2")
    )
    price_tolerance_abs = models.DecimalField(
        max_digits=18, decimal_places=4, null=True, blank=True, default=Decimal("5")
    )
    qty_tolerance_pct = models.DecimalField(
        max_digits=6, decimal_places=3, null=True, blank=True, default=Decimal("0")
    )
    qty_tolerance_abs = models.DecimalField(max_digits=18, decimal_places=4, null=True, blank=True)
    total_tolerance_pct = models.DecimalField(max_digits=6, decimal_places=3, null=True, blank=True)
    total_tolerance_abs = models.DecimalField(
        max_digits=18, decimal_places=2, null=True, blank=True, default=Decimal("0.05")
    )
    combine = models.CharField(max_length=10, choices=Combine.choices, default=Combine.TIGHTER)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name_plural = "match policies"
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "vendor", "category", "item_code"],
                condition=models.Q(active=True),
                name="one_active_policy_per_scope_key",
                nulls_distinct=False,
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(scope="organisation", vendor__isnull=True, category="", item_code="")
                    | models.Q(scope="vendor", vendor__isnull=False, category="", item_code="")
                    | (
                        models.Q(scope="category", vendor__isnull=True, item_code="")
                        & ~models.Q(category="")
                    )
                    | (
                        models.Q(scope="item", vendor__isnull=True, category="")
                        & ~models.Q(item_code="")
                    )
                ),
                name="match_policy_scope_key",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def allowance(self, kind: str, base: Decimal) -> Decimal:
        """Tolerance for `kind` (price, qty, total) on a reference value; mirrors the SQL."""
        pct = getattr(self, f"{kind}_tolerance_pct")
        absolute = getattr(self, f"{kind}_tolerance_abs")
        parts = [
            p
            for p in (abs(base) * pct / 100 if pct is not None else None, absolute)
            if p is not None
        ]
        if not parts:
            return Decimal("0")
        return min(parts) if self.combine == self.Combine.TIGHTER else max(parts)


class InvoiceQuerySet(models.QuerySet):
    def unpaid(self) -> "InvoiceQuerySet":
        """Not paid yet: the open items, read through their own partial index.

        Every status but paid has no payment date, so filtering on it as well as on status
        changes no result; it lets the planner use the index that status does not have.
        """
        return self.filter(paid_at__isnull=True)

    def awaiting_match(self) -> "InvoiceQuerySet":
        return self.unpaid().filter(status=Invoice.Status.PENDING_MATCH)

    def awaiting_payment(self) -> "InvoiceQuerySet":
        """Approved or already in a payment run, and not paid yet: what cash must cover."""
        return self.unpaid().filter(status__in=[Invoice.Status.APPROVED, Invoice.Status.SCHEDULED])

    def payable(self) -> "InvoiceQuerySet":
        return self.unpaid().filter(
            status=Invoice.Status.APPROVED, vendor__status=Vendor.Status.ACTIVE
        )


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

    # Indexed through the (vendor, ...) composite indexes below; fewer indexes keep the
    # matching engine's status updates cheap.
    vendor = models.ForeignKey(
        Vendor, on_delete=models.PROTECT, related_name="invoices", db_index=False
    )
    number = models.CharField(max_length=60)
    # Case, spaces, dashes and leading zeros stripped: "INV-0012" and "inv 12" are one invoice.
    normalized_number = models.CharField(max_length=60)
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
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
    )
    captured_at = models.DateTimeField()
    match_attempts = models.PositiveIntegerField(default=0)
    # When the sweep last queued this invoice's match again; empty until then (captured_at
    # stands in: capture queues the first match).
    match_queued_at = models.DateTimeField(null=True, blank=True)
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
            # Duplicate checks: same vendor and number, or same vendor, same amount and dates
            # close together. The match looks only for earlier invoices; with the id in the
            # index that test is made on the index entry, so an invoice's probe that finds
            # only itself never reads the table.
            models.Index(
                fields=["vendor", "normalized_number", "id"], name="invoice_dup_number_idx"
            ),
            models.Index(
                fields=["vendor", "total_amount", "invoice_date", "id"],
                name="invoice_dup_amount_idx",
            ),
            # No index mentions status (or the other columns a match writes): an update that
            # changes no indexed column is HOT, written beside the old row on the same page
            # with no new index entries. Matching changes the status of every invoice in a
            # batch, and measured over 100k invoices this made the invoice update three times
            # cheaper. Open items are found through paid_at instead (see unpaid()).
            models.Index(
                fields=["due_date"],
                condition=models.Q(paid_at__isnull=True),
                name="invoice_unpaid_due_idx",
            ),
            models.Index(fields=["captured_at"], name="invoice_captured_idx"),
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
            # What unpaid() relies on: only a paid invoice has a payment date.
            models.CheckConstraint(
                condition=models.Q(paid_at__isnull=True) | models.Q(status="paid"),
                name="invoice_paid_at_only_when_paid",
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
        db_index=False,
    )
    description = models.CharField(max_length=200)
    quantity = models.DecimalField(max_digits=18, decimal_places=4)
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    amount = models.DecimalField(max_digits=18, decimal_places=2)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=ZERO)
    unit_code = models.CharField(max_length=10, blank=True)
    # The buyer's order line the vendor quoted (a PO line number), even when it matched none.
    order_line_reference = models.CharField(max_length=30, blank=True)
    # Set when AP re-codes the line; empty means the PO line's coding applies.
    gl_account = models.ForeignKey(
        GLAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    cost_center = models.ForeignKey(
        CostCenter, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["invoice_id", "line_no"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "line_no"], name="invoice_line_no_unique"),
        ]
        indexes = [
            # The match sums what was billed earlier on each PO line: with the invoice and the
            # quantity in the index it never reads the lines themselves.
            models.Index(
                fields=["po_line"], include=["invoice", "quantity"], name="invoice_line_billing_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.invoice.number}/{self.line_no}"


class InvoiceAttachment(models.Model):
    """A file kept with an invoice: the vendor's PDF or the e-invoice it was imported from.

    Stored outside any public URL and served only by a view that checks the reader's role.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(storage=private_storage, upload_to="invoices/%Y/%m/", max_length=255)
    original_name = models.CharField(max_length=255)
    # Decided from the file's first bytes, never from what the browser claimed.
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["invoice_id", "id"]

    def __str__(self) -> str:
        return self.original_name


class ImportBatch(models.Model):
    """One browser upload of e-invoice and CSV files, imported by a Celery task.

    The task reports progress on this row while it works; `report` then holds, in file order,
    the outcome of the first REPORT_ENTRIES_KEPT imported and rejected invoices (or files that
    yielded none): a file of 100,000 invoices is counted whole but listed in part.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Stopped"

    TRANSITIONS = {
        Status.QUEUED: (Status.RUNNING, Status.FAILED),
        Status.RUNNING: (Status.DONE, Status.FAILED),
    }

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # Import the valid invoices of a file and report the rest, instead of all-or-nothing.
    valid_only = models.BooleanField(default=False)
    # Check everything, write nothing (the command line's --dry-run).
    dry_run = models.BooleanField(default=False)
    # The CSVs' decimal mark as the clerk chose it ("point" or "comma"); empty: read from the file.
    decimal_mark = models.CharField(max_length=5, blank=True)
    # [{"name", "size", "path" (in private storage, until imported), "error" (refused on upload)}]
    files = models.JSONField(default=list)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    current_file = models.CharField(max_length=255, blank=True)
    # Invoices written so far inside the current CSV (its own transaction, so counted apart).
    current_done = models.PositiveIntegerField(default=0)
    current_total = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # Of imported_count, how many were credit notes (as stored: a negative invoice is one).
    credit_note_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "import batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["queued", "running", "done", "failed"]),
                name="import_batch_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk}"

    @property
    def percent_done(self) -> int:
        """Share of the work done, counting progress inside the current CSV."""
        if self.status in (self.Status.DONE, self.Status.FAILED):
            return 100
        if not self.files_total:
            return 0
        within = self.current_done / self.current_total if self.current_total else 0
        return min(99, int(100 * (self.files_done + within) / self.files_total))


class MatchResult(models.Model):
    """The evidence for one invoice line's match: values compared, tolerance, verdict."""

    class Result(models.TextChoices):
        MATCHED = "matched", "Matched"
        PRICE_VARIANCE = "price_variance", "Price variance"
        QTY_OVER_BILLED = "qty_over_billed", "Quantity over billed"
        MISSING_RECEIPT = "missing_receipt", "Missing receipt"
        NO_PO_LINE = "no_po_line", "No PO line"

    # The engine writes these rows by the ten thousand (three per invoice), and each
    # database-level foreign key costs a key-share lock (a write to the referenced row) and
    # an index probe per row at commit: 0.45 s of a 10,000-invoice batch with all four, a
    # third of the match. Every key here is copied from a row the engine has just read with
    # its invoice locked, the rows are only ever written by the engine, and Django applies
    # CASCADE and PROTECT on delete; so the keys are plain indexed columns.
    invoice_line = models.OneToOneField(
        InvoiceLine,
        on_delete=models.CASCADE,
        related_name="match_result",
        primary_key=True,
        db_constraint=False,
    )
    # Read through the invoice's lines (indexed there); an index of its own would be one more
    # write per evidence row.
    invoice = models.ForeignKey(
        Invoice,
        on_delete=models.CASCADE,
        related_name="match_results",
        db_constraint=False,
        db_index=False,
    )
    # The PO line compared against, as it was at the match. Nothing reads evidence by PO
    # line, so it has no index (three fewer index writes per invoice); the line is protected
    # from deletion through the invoice line that bills it, and a re-match rewrites this.
    po_line = models.ForeignKey(
        PurchaseOrderLine,
        null=True,
        on_delete=models.DO_NOTHING,
        related_name="match_results",
        db_constraint=False,
        db_index=False,
    )
    policy = models.ForeignKey(
        MatchPolicy,
        null=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    invoice_unit_price = models.DecimalField(max_digits=18, decimal_places=4)
    po_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    price_variance = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    price_tolerance = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    # The active contract price, when one exists: it is the reference instead of the PO price.
    contract_unit_price = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    qty_tolerance = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    billed_qty_cumulative = models.DecimalField(max_digits=18, decimal_places=4)
    # Received net of returns (3-way) or ordered (2-way): the most that may be billed.
    billable_qty = models.DecimalField(max_digits=18, decimal_places=4, null=True)
    result = models.CharField(max_length=20, choices=Result.choices)
    matched_at = models.DateTimeField()

    class Meta:
        ordering = ["invoice_id", "invoice_line_id"]

    def __str__(self) -> str:
        return f"{self.invoice_line} {self.result}"


class InvoiceExceptionQuerySet(models.QuerySet):
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
        WAITING_VENDOR = "waiting_vendor", "Waiting for vendor"
        RESOLVED = "resolved", "Resolved"

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
                condition=models.Q(status__in=["open", "waiting_vendor"]),
                nulls_distinct=False,
                name="one_open_exception_per_problem",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["open", "waiting_vendor", "resolved"]),
                name="invoice_exception_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} on {self.invoice}"

    def is_claimed_by_other(self, user, now: dt.datetime) -> bool:
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
    mentioned = models.ManyToManyField(
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


class BulkJob(models.Model):
    """One resolution applied to many exceptions in the background, each in its own transaction."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"

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
                condition=models.Q(status__in=["queued", "running", "done"]),
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


def default_variance_thresholds() -> dict[str, str]:
    """The threshold that applied before it was set per currency, now stated as euros."""
    return {"EUR": "500.00"}


class CompanySettings(models.Model):
    """The paying company's own facts and payment policy: one row, edited by finance leaders."""

    company_name = models.CharField(max_length=140, default="Our Company B.V.")
    # The account every run is paid from; the debtor of each pain.001 file.
    iban = models.CharField("IBAN", max_length=34, blank=True)
    bic = models.CharField("BIC", max_length=11, blank=True)
    # Annual cost of capital: an early-payment discount is worth taking when its
    # annualised return beats it.
    cost_of_capital_pct = models.DecimalField(max_digits=6, decimal_places=3, default=Decimal("8"))
    # A run whose total in any one currency is above this needs a finance leader. There are
    # no FX rates in the system, so the threshold applies per currency as it stands.
    run_approval_threshold = models.DecimalField(
        max_digits=18, decimal_places=2, default=Decimal("100000")
    )
    # The largest variance an AP clerk may accept alone, per currency code, as decimal
    # strings ({"EUR": "500.00"}). There are no FX rates, so 500 EUR and 500 JPY are separate
    # policies; a currency missing here always needs an AP manager.
    variance_thresholds = models.JSONField(default=default_variance_thresholds, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "company settings"
        verbose_name_plural = "company settings"
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="company_settings_single_row"),
            models.CheckConstraint(
                condition=models.Q(cost_of_capital_pct__gte=0, cost_of_capital_pct__lt=100),
                name="company_settings_cost_of_capital_range",
            ),
        ]

    def __str__(self) -> str:
        return self.company_name

    @classmethod
    def load(cls) -> "CompanySettings":
        """The one row, created with the defaults the first time anyone asks."""
        row, _created = cls.objects.get_or_create(pk=1)
        return row

    def variance_threshold(self, currency: str) -> Decimal | None:
        """The clerk's limit for variances in `currency`, or None when none is set."""
        amount = (self.variance_thresholds or {}).get(currency)
        return None if amount is None else Decimal(amount)


class PaymentHold(models.Model):
    """AP stops one invoice from being paid (e.g. goods disputed by phone) until released."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="payment_holds")
    reason = models.CharField(max_length=300)
    placed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    placed_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-placed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invoice"],
                condition=models.Q(released_at__isnull=True),
                name="one_active_hold_per_invoice",
            ),
        ]

    def __str__(self) -> str:
        return f"Hold on {self.invoice}"


class PaymentRun(models.Model):
    """A batch of approved invoices paid together, prepared by one user and approved by another.

    A run may hold several currencies; the bank gets one pain.001 file per currency. The
    run-level amounts are filled only when every payment is in one currency (`currency`);
    a mixed run leaves them empty and shows totals per currency.
    """

    class Status(models.TextChoices):
        PROPOSED = "proposed", "Proposed"
        APPROVED = "approved", "Approved"
        SENT = "sent", "Sent to bank"
        PAID = "paid", "Paid"
        CANCELLED = "cancelled", "Cancelled"

    TRANSITIONS = {
        Status.PROPOSED: (Status.APPROVED, Status.CANCELLED),
        Status.APPROVED: (Status.SENT, Status.PAID, Status.CANCELLED),
        # Never back to cancelled once sent: the bank may execute the file whatever we click.
        # Payments of a sent run are voided one by one after the bank confirms them unpaid.
        Status.SENT: (Status.PAID,),
    }

    number = models.CharField(max_length=20, unique=True)
    pay_date = models.DateField()
    horizon_date = models.DateField()
    # Blank for a run over several currencies.
    currency = models.CharField(max_length=3, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PROPOSED)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # Empty (None) for a run over several currencies: amounts in different currencies do not add.
    gross_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, default=ZERO)
    discount_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, default=ZERO)
    net_amount = models.DecimalField(max_digits=18, decimal_places=2, null=True, default=ZERO)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(approved_by=models.F("prepared_by")),
                name="payment_run_preparer_is_not_approver",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    status__in=["proposed", "approved", "sent", "paid", "cancelled"]
                ),
                name="payment_run_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    """One invoice's (or credit note's) line inside a run.

    A credit note is a negative line: it offsets its vendor's invoices in the same transfer,
    and the unique index below keeps it from being used in two runs as well.
    """

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    TRANSITIONS = {
        Status.SCHEDULED: (Status.PAID, Status.VOID),
        Status.PAID: (Status.VOID,),
    }

    class Basis(models.TextChoices):
        DUE = "due", "Due by the horizon"
        DISCOUNT = "discount", "Paid early for the discount"
        CREDIT_NOTE = "credit_note", "Credit note offset"
        ADDED = "added", "Added by hand"

    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, related_name="payments")
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="payments")
    currency = models.CharField(max_length=3)
    gross_amount = models.DecimalField(max_digits=18, decimal_places=2)
    discount_taken = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    # The invoice's discount when proposed; available − taken is the discount missed.
    discount_available = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    net_amount = models.DecimalField(max_digits=18, decimal_places=2)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED)
    basis = models.CharField(max_length=20, choices=Basis.choices, default=Basis.DUE)
    # Why the clerk added it by hand, when they did.
    note = models.CharField(max_length=300, blank=True)
    paid_on = models.DateField(null=True, blank=True)
    # The transfer's end-to-end id in the bank file, shared by a vendor's lines in one currency.
    end_to_end_id = models.CharField(max_length=35, blank=True)
    void_reason = models.CharField(max_length=300, blank=True)
    voided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    voided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run_id", "vendor_id", "id"]
        constraints = [
            # The database itself guarantees an invoice is never paid twice.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=~models.Q(status="void"),
                name="one_live_payment_per_invoice",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["scheduled", "paid", "void"]),
                name="payment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run.number} {self.invoice}"


class PaymentRunExclusion(models.Model):
    """An invoice the proposal would have paid but left out, and why: the clerk sees what waits."""

    class Reason(models.TextChoices):
        VENDOR_NOT_ACTIVE = "vendor_not_active", "Vendor not active"
        BANK_CHANGE_UNVERIFIED = "bank_change_unverified", "Bank account change not yet verified"
        NO_VERIFIED_ACCOUNT = "no_verified_account", "No verified bank account"
        OPEN_EXCEPTION = "open_exception", "In dispute (open exception)"
        ON_HOLD = "on_hold", "On payment hold"
        CREDIT_EXCEEDS = "credit_exceeds", "Credit notes would exceed the vendor's invoices"
        REMOVED = "removed", "Removed by hand"

    run = models.ForeignKey(PaymentRun, on_delete=models.CASCADE, related_name="exclusions")
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=30, choices=Reason.choices)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["run_id", "reason", "invoice_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "invoice"], name="one_exclusion_per_run_invoice"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} without {self.invoice}: {self.get_reason_display()}"


class BankConfirmation(models.Model):
    """What the bank said about one transfer of a sent run, and the reference it gave.

    Entered by hand from the bank's answer today; an imported bank status report records the
    same row. A payment of a sent run is voided only once its transfer has one.
    """

    class Outcome(models.TextChoices):
        NOT_EXECUTED = "not_executed", "Not executed by the bank"
        RETURNED = "returned", "Returned by the beneficiary's bank"

    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, related_name="bank_confirmations")
    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="+")
    currency = models.CharField(max_length=3)
    end_to_end_id = models.CharField(max_length=35)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    # The bank's own reference: a ticket, a status report id or a return reason code.
    reference = models.CharField(max_length=140)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["run_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "vendor", "currency"], name="one_bank_confirmation_per_transfer"
            ),
            models.CheckConstraint(
                condition=models.Q(outcome__in=["not_executed", "returned"]),
                name="bank_confirmation_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.end_to_end_id}: {self.get_outcome_display()}"


class PaymentExport(models.Model):
    """A bank file generated for a run: written once, kept byte for byte as the bank got it.

    A run has one current file per format, currency and paying account. Replacing it writes a
    new file with the same MsgId, PmtInfId and EndToEndIds, so a bank that already has the
    first one refuses the second as a duplicate instead of paying twice.
    """

    class Format(models.TextChoices):
        PAIN001 = "pain001", "ISO 20022 pain.001"
        CSV = "csv", "CSV"

    class Status(models.TextChoices):
        CURRENT = "current", "Current"
        SUPERSEDED = "superseded", "Superseded"

    run = models.ForeignKey(PaymentRun, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=10, choices=Format.choices)
    currency = models.CharField(max_length=3, blank=True)
    # GrpHdr/MsgId of a pain.001 file: the bank quotes it in its status reports.
    message_id = models.CharField(max_length=35, blank=True)
    # PmtInf/PmtInfId and every CdtTrfTxInf's EndToEndId: a replacement must repeat them.
    payment_info_id = models.CharField(max_length=35, blank=True)
    end_to_end_ids = models.JSONField(default=list, blank=True)
    # The company account the file debits (blank on files written before it was recorded).
    debtor_iban = models.CharField(max_length=34, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.CURRENT)
    replaces = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="replaced_by"
    )
    replace_reason = models.CharField(max_length=300, blank=True)
    superseded_at = models.DateTimeField(null=True, blank=True)
    filename = models.CharField(max_length=120)
    content = models.TextField()
    sha256 = models.CharField(max_length=64)
    transfer_count = models.PositiveIntegerField(default=0)
    control_sum = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["run_id", "-created_at", "currency", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "format", "currency", "debtor_iban"],
                condition=models.Q(status="current"),
                name="one_current_bank_file_per_run_currency_account",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=["current", "superseded"]),
                name="payment_export_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.filename


class IdempotencyKey(models.Model):
    """The first answer to an API call that moves money, replayed when a client retries it."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    # Null while the first request is still being processed.
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"
