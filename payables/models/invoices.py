"""Invoices, their lines and attachments: the documents a vendor sends us."""

from decimal import Decimal

from django.apps import apps
from django.conf import settings
from django.db import models
from django.db.models import Case, Exists, Expression, F, OuterRef, Q, Value, When
from django.db.models.lookups import GreaterThan

from p2p.money import ZERO
from payables.storage import private_storage
from procurement.models import CostCenter, GLAccount, PurchaseOrder, PurchaseOrderLine
from vendors.models import BankAccount, Vendor


def discount_return() -> Case:
    """What paying by the discount date earns a year, in %: d / (payable − d) × 365 / days gained.

    Computed from the invoice's own figures (the terms it was captured with, or the dates an
    e-invoice stated). NULL when paying early buys nothing: no discount, or no days gained.
    The one definition: the proposal, the cash calendar and the discount list all read it.
    """
    days_gained = models.Func(
        F("due_date"),
        F("discount_date"),
        # Date minus date is a number of days in Postgres; F() - F() would make an interval.
        template="(%(expressions)s)",
        arg_joiner=" - ",
        output_field=models.IntegerField(),
    )
    return Case(
        When(
            Q(
                discount_amount__gt=0,
                discount_date__isnull=False,
                due_date__gt=F("discount_date"),
                payable_amount__gt=F("discount_amount"),
            ),
            then=F("discount_amount")
            / (F("payable_amount") - F("discount_amount"))
            * Value(Decimal("365.0"))
            / days_gained
            * Value(Decimal("100")),
        ),
        output_field=models.DecimalField(),
    )


def discount_worth_taking(cost_of_capital: Decimal) -> GreaterThan:
    """Paying early beats keeping the cash: the discount's yearly return tops the cost of capital."""
    return GreaterThan(discount_return(), Value(cost_of_capital))


def payment_stops() -> list[tuple[str, Q | Exists | Expression]]:
    """What keeps an approved invoice out of a payment run, in the order a clerk is told.

    Each entry is (PaymentRunExclusion.Reason, condition). The exception and payment models
    import this module, hence the lookup through the app registry rather than an import.
    """
    exception_model = apps.get_model("payables", "InvoiceException")
    hold_model = apps.get_model("payables", "PaymentHold")
    reason = apps.get_model("payables", "PaymentRunExclusion").Reason
    accounts = BankAccount.objects.filter(vendor=OuterRef("vendor"))
    return [
        (reason.VENDOR_NOT_ACTIVE, ~Q(vendor__status=Vendor.Status.ACTIVE)),
        (
            reason.BANK_CHANGE_UNVERIFIED,
            Exists(accounts.filter(status=BankAccount.Status.PENDING)),
        ),
        (
            reason.NO_VERIFIED_ACCOUNT,
            ~Exists(accounts.filter(status=BankAccount.Status.VERIFIED)),
        ),
        (
            reason.OPEN_EXCEPTION,
            Exists(
                exception_model.objects.filter(
                    invoice=OuterRef("pk"), status=exception_model.Status.OPEN
                )
            ),
        ),
        (
            reason.ON_HOLD,
            Exists(hold_model.objects.in_force().filter(invoice=OuterRef("pk"))),
        ),
    ]


class InvoiceQuerySet(models.QuerySet["Invoice"]):
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

    def payment_candidates(self) -> "InvoiceQuerySet":
        """Approved with something left to pay: what a run pays unless a payment stop applies."""
        return self.unpaid().filter(status=Invoice.Status.APPROVED, payable_amount__gt=0)

    def payable(self) -> "InvoiceQuerySet":
        """This invoice may be paid: a candidate that no payment stop keeps out.

        The one definition of the rule: the proposal runs it as SQL, and adding an invoice to
        a run by hand and the list of addable invoices filter on it.
        """
        return self.payment_candidates().filter(*(~stop for _, stop in payment_stops()))

    def with_payment_stop(self) -> "InvoiceQuerySet":
        """Annotate `payment_stop`: the first reason keeping the invoice out of a run, or None."""
        return self.annotate(
            payment_stop=Case(
                *(When(stop, then=Value(reason)) for reason, stop in payment_stops()),
                default=None,
                output_field=models.CharField(),
            )
        )

    def with_discount_return(self) -> "InvoiceQuerySet":
        """Annotate `annualised`: what paying by the discount date earns a year, in %."""
        return self.annotate(annualised=discount_return())


class InvoiceStatus(models.TextChoices):
    """Invoice.Status; defined outside the model so its Meta constraints can name the values."""

    PENDING_MATCH = "pending_match", "Pending match"
    EXCEPTION = "exception", "Exception"
    APPROVED = "approved", "Approved"
    SCHEDULED = "scheduled", "In payment run"
    PAID = "paid", "Paid"
    REJECTED = "rejected", "Rejected"


class Invoice(models.Model):
    """A vendor's bill (or credit note), captured by AP and matched against PO and receipts.

    Amounts are stored as the document states them for its type, so they are positive on a
    credit note too: `document_type` carries the sign, and every consumer (matching, payment
    runs, KPIs) subtracts credit notes. A "negative invoice" (type 380 with a negative total)
    is stored as a credit note with the signs flipped. `total_amount` is net + tax (what the
    match checks); `payable_amount` is what is still owed after prepayments and rounding.
    """

    Status = InvoiceStatus

    # Through the match (or approved by a person) and still standing: approved, in a payment
    # run or paid. What counts as billed against a PO, as spent on a budget, as matched.
    MATCHED_STATUSES = (Status.APPROVED, Status.SCHEDULED, Status.PAID)

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
                condition=models.Q(status__in=InvoiceStatus.values),
                name="invoice_status_valid",
            ),
            # What unpaid() relies on: only a paid invoice has a payment date.
            models.CheckConstraint(
                condition=models.Q(paid_at__isnull=True) | models.Q(status=InvoiceStatus.PAID),
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
