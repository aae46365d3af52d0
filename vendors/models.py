"""Vendors: one record serves procurement and AP alike."""

import calendar
import datetime as dt
from decimal import Decimal

from django.conf import settings
from django.db import models

from p2p.money import round_money


class PaymentTerms(models.Model):
    """Payment terms such as 'Net 30' or '2/10 Net 30' (2% discount if paid within 10 days)."""

    code = models.CharField(max_length=30, unique=True)
    name = models.CharField(max_length=80)
    net_days = models.PositiveSmallIntegerField()
    discount_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    discount_days = models.PositiveSmallIntegerField(default=0)
    # "End of month" terms count the days from the last day of the invoice month.
    end_of_month = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "payment terms"
        ordering = ["net_days", "code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discount_percent__gte=0, discount_percent__lt=100),
                name="terms_discount_percent_range",
            ),
            # A discount window that outlasts the net period would make no sense to anyone.
            models.CheckConstraint(
                condition=models.Q(discount_percent=0)
                | models.Q(discount_days__lte=models.F("net_days")),
                name="terms_discount_within_net_days",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def _base_date(self, invoice_date: dt.date) -> dt.date:
        if not self.end_of_month:
            return invoice_date
        last_day = calendar.monthrange(invoice_date.year, invoice_date.month)[1]
        return invoice_date.replace(day=last_day)

    def due_date(self, invoice_date: dt.date) -> dt.date:
        """The date by which the invoice must be paid."""
        return self._base_date(invoice_date) + dt.timedelta(days=self.net_days)

    def discount_date(self, invoice_date: dt.date) -> dt.date | None:
        """The last day on which the early-payment discount may be taken."""
        if not self.discount_percent:
            return None
        return self._base_date(invoice_date) + dt.timedelta(days=self.discount_days)

    def discount_amount(self, amount: Decimal, currency: str) -> Decimal:
        """Discount on the payable amount, rounded half-up to the currency."""
        return round_money(amount * self.discount_percent / Decimal("100"), currency)


class VendorNameKey(models.Func):
    """The name without case, punctuation and legal form: 'Van Dijk B.V.' → 'van dijk'.

    An SQL function from migration 0003, with a trigram index on it for near-identical names.
    """

    function = "vendor_name_key"
    output_field = models.CharField()


class VendorQuerySet(models.QuerySet):
    def with_payment_hold(self) -> "VendorQuerySet":
        """Annotate why each vendor's invoices stay out of payment runs (the payment-run SQL's rules)."""
        return self.annotate(
            pending_bank_change=models.Exists(
                BankAccount.objects.filter(
                    vendor=models.OuterRef("pk"), status=BankAccount.Status.PENDING
                )
            ),
            has_verified_bank=models.Exists(
                BankAccount.objects.filter(
                    vendor=models.OuterRef("pk"), status=BankAccount.Status.VERIFIED
                )
            ),
        ).annotate(
            on_payment_hold=models.Q(pending_bank_change=True)
            | models.Q(has_verified_bank=False)
            | ~models.Q(status=Vendor.Status.ACTIVE),
        )


class VendorStatus(models.TextChoices):
    """Vendor.Status; defined outside the model so its Meta constraints can name the values."""

    ONBOARDING = "onboarding", "Onboarding"
    ACTIVE = "active", "Active"
    BLOCKED = "blocked", "Blocked"


class Vendor(models.Model):
    """A supplier the company buys from and pays."""

    Status = VendorStatus

    TRANSITIONS = {
        Status.ONBOARDING: (Status.ACTIVE, Status.BLOCKED),
        Status.ACTIVE: (Status.BLOCKED,),
        Status.BLOCKED: (Status.ACTIVE,),
    }

    name = models.CharField(max_length=200)
    tax_id = models.CharField(max_length=40, blank=True, db_index=True)
    country = models.CharField(max_length=2, default="NL")
    currency = models.CharField(max_length=3, default="EUR")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ONBOARDING)
    payment_terms = models.ForeignKey(
        PaymentTerms, on_delete=models.PROTECT, related_name="vendors"
    )
    email = models.EmailField(blank=True)
    remit_to = models.TextField(blank=True)
    # Why it was last activated or blocked; the full history is in the audit trail.
    status_reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = VendorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=VendorStatus.values),
                name="vendor_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_payable(self) -> bool:
        return self.status == self.Status.ACTIVE


class BankAccountStatus(models.TextChoices):
    """BankAccount.Status; defined outside the model so its Meta constraints can name the values."""

    PENDING = "pending", "Pending verification"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded"


class BankAccount(models.Model):
    """Where a vendor is paid; a change takes effect only once a second person verifies it."""

    Status = BankAccountStatus

    TRANSITIONS = {
        Status.PENDING: (Status.VERIFIED, Status.REJECTED),
        Status.VERIFIED: (Status.SUPERSEDED,),
    }

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="bank_accounts")
    account_holder = models.CharField(max_length=200)
    iban = models.CharField(max_length=34)
    bic = models.CharField(max_length=11, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(auto_now_add=True)
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status=BankAccountStatus.VERIFIED)
                | ~models.Q(verified_by=models.F("requested_by")),
                name="bank_account_maker_is_not_checker",
            ),
            # One change at a time: a second request would let a fraudster queue a swap
            # behind a legitimate one.
            models.UniqueConstraint(
                fields=["vendor"],
                condition=models.Q(status=BankAccountStatus.PENDING),
                name="one_pending_bank_change_per_vendor",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=BankAccountStatus.values),
                name="bank_account_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.masked_iban}"

    @property
    def masked_iban(self) -> str:
        compact = self.iban.replace(" ", "")
        return f"{compact[:4]} •••• {compact[-4:]}" if len(compact) > 8 else "••••"


class ContractQuerySet(models.QuerySet["Contract"]):
    def in_force(self, on_date: dt.date) -> "ContractQuerySet":
        """Active contracts whose validity covers the date."""
        return self.filter(
            status=Contract.Status.ACTIVE, valid_from__lte=on_date, valid_to__gte=on_date
        )


class ContractStatus(models.TextChoices):
    """Contract.Status; defined outside the model so its Meta constraints can name the values."""

    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    EXPIRED = "expired", "Expired"
    TERMINATED = "terminated", "Terminated"


class Contract(models.Model):
    """A framework agreement with a vendor: validity, currency and a rate card of prices."""

    Status = ContractStatus

    TRANSITIONS = {
        Status.DRAFT: (Status.ACTIVE, Status.TERMINATED),
        Status.ACTIVE: (Status.EXPIRED, Status.TERMINATED),
    }

    vendor = models.ForeignKey(Vendor, on_delete=models.PROTECT, related_name="contracts")
    # The reference both parties use, e.g. the vendor's framework agreement number.
    number = models.CharField(max_length=40)
    title = models.CharField(max_length=200)
    currency = models.CharField(max_length=3)
    valid_from = models.DateField()
    valid_to = models.DateField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)

    objects = ContractQuerySet.as_manager()

    class Meta:
        ordering = ["-valid_from", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["vendor", "number"], name="contract_number_per_vendor"),
            models.CheckConstraint(
                condition=models.Q(valid_to__gte=models.F("valid_from")),
                name="contract_validity_ordered",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=ContractStatus.values),
                name="contract_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.title}"


class ContractLine(models.Model):
    """One rate-card line: what the item costs under the contract."""

    contract = models.ForeignKey(Contract, on_delete=models.CASCADE, related_name="lines")
    item_code = models.CharField(max_length=40)
    description = models.CharField(max_length=200)
    uom = models.CharField("unit", max_length=10, default="EA")
    unit_price = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        ordering = ["contract_id", "item_code"]
        constraints = [
            models.UniqueConstraint(
                fields=["contract", "item_code"], name="contract_item_code_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(unit_price__gte=0), name="contract_line_price_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_code} {self.description}"


class VendorImportStatus(models.TextChoices):
    """VendorImport.Status; defined outside the model so its Meta constraints can name the values."""

    QUEUED = "queued", "Queued"
    CHECKING = "checking", "Checking rows"
    IMPORTING = "importing", "Importing"
    IMPORTED = "imported", "Imported"
    REJECTED = "rejected", "Not imported"
    FAILED = "failed", "Failed"


class VendorImport(models.Model):
    """One CSV upload of vendors: its rows, progress and the report of every bad row."""

    Status = VendorImportStatus

    TRANSITIONS = {
        Status.QUEUED: (Status.CHECKING, Status.FAILED),
        Status.CHECKING: (Status.IMPORTING, Status.REJECTED, Status.FAILED),
        Status.IMPORTING: (Status.IMPORTED, Status.FAILED),
        # The user may import the good rows of a rejected file after reading the report.
        Status.REJECTED: (Status.QUEUED,),
    }
    FINISHED = (Status.IMPORTED, Status.REJECTED, Status.FAILED)

    file_name = models.CharField(max_length=255)
    content = models.TextField()
    valid_rows_only = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    # [{"line": 7, "column": "tax_id", "message": "..."}], line numbers as in the file.
    errors = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=VendorImportStatus.values),
                name="vendor_import_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Import {self.pk} {self.file_name}"

    @property
    def progress(self) -> Decimal:
        """Share of rows handled so far, 0..1."""
        if not self.total_rows:
            return Decimal("1") if self.status in self.FINISHED else Decimal("0")
        return Decimal(self.processed_rows) / Decimal(self.total_rows)

    @property
    def error_lines(self) -> int:
        return len({error["line"] for error in self.errors})
