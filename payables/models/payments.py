"""Company settings, payment holds, payment runs, payments, bank files and confirmations."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from p2p.money import ZERO
from payables.models.invoices import Invoice
from vendors.models import Vendor


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


class PaymentHoldQuerySet(models.QuerySet["PaymentHold"]):
    def in_force(self) -> "PaymentHoldQuerySet":
        """Not released yet: the invoice stays out of payment runs."""
        return self.filter(released_at__isnull=True)


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

    objects = PaymentHoldQuerySet.as_manager()

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


class PaymentRunStatus(models.TextChoices):
    """PaymentRun.Status; defined outside the model so its Meta constraints can name the values."""

    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    SENT = "sent", "Sent to bank"
    PAID = "paid", "Paid"
    CANCELLED = "cancelled", "Cancelled"


class PaymentRun(models.Model):
    """A batch of approved invoices paid together, prepared by one user and approved by another.

    A run may hold several currencies; the bank gets one pain.001 file per currency. The
    run-level amounts are filled only when every payment is in one currency (`currency`);
    a mixed run leaves them empty and shows totals per currency.
    """

    Status = PaymentRunStatus

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
                condition=models.Q(status__in=PaymentRunStatus.values),
                name="payment_run_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.number


class PaymentQuerySet(models.QuerySet["Payment"]):
    def live(self) -> "PaymentQuerySet":
        """Not voided: what a run pays, or paid."""
        return self.exclude(status=PaymentStatus.VOID)


class PaymentStatus(models.TextChoices):
    """Payment.Status; defined outside the model so its Meta constraints can name the values."""

    SCHEDULED = "scheduled", "Scheduled"
    PAID = "paid", "Paid"
    VOID = "void", "Void"


class Payment(models.Model):
    """One invoice's (or credit note's) line inside a run.

    A credit note is a negative line: it offsets its vendor's invoices in the same transfer,
    and the unique index below keeps it from being used in two runs as well.
    """

    Status = PaymentStatus

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

    objects = PaymentQuerySet.as_manager()

    class Meta:
        ordering = ["run_id", "vendor_id", "id"]
        constraints = [
            # The database itself guarantees an invoice is never paid twice.
            models.UniqueConstraint(
                fields=["invoice"],
                condition=~models.Q(status=PaymentStatus.VOID),
                name="one_live_payment_per_invoice",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PaymentStatus.values),
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


class BankConfirmationOutcome(models.TextChoices):
    """BankConfirmation.Outcome; defined outside the model so its Meta constraints can name the values."""

    NOT_EXECUTED = "not_executed", "Not executed by the bank"
    RETURNED = "returned", "Returned by the beneficiary's bank"


class BankConfirmation(models.Model):
    """What the bank said about one transfer of a sent run, and the reference it gave.

    Entered by hand from the bank's answer today; an imported bank status report records the
    same row. A payment of a sent run is voided only once its transfer has one.
    """

    Outcome = BankConfirmationOutcome

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
                condition=models.Q(outcome__in=BankConfirmationOutcome.values),
                name="bank_confirmation_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.end_to_end_id}: {self.get_outcome_display()}"


class PaymentExportStatus(models.TextChoices):
    """PaymentExport.Status; defined outside the model so its Meta constraints can name the values."""

    CURRENT = "current", "Current"
    SUPERSEDED = "superseded", "Superseded"


class PaymentExport(models.Model):
    """A bank file generated for a run: written once, kept byte for byte as the bank got it.

    A run has one current file per format, currency and paying account. Replacing it writes a
    new file with the same MsgId, PmtInfId and EndToEndIds, so a bank that already has the
    first one refuses the second as a duplicate instead of paying twice.
    """

    class Format(models.TextChoices):
        PAIN001 = "pain001", "ISO 20022 pain.001"
        CSV = "csv", "CSV"

    Status = PaymentExportStatus

    TRANSITIONS = {Status.CURRENT: (Status.SUPERSEDED,)}

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
                condition=models.Q(status=PaymentExportStatus.CURRENT),
                name="one_current_bank_file_per_run_currency_account",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=PaymentExportStatus.values),
                name="payment_export_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.filename
