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


class Vendor(models.Model):
    """A supplier the company buys from and pays."""

    class Status(models.TextChoices):
        ONBOARDING = "onboarding", "Onboarding"
        ACTIVE = "active", "Active"
        BLOCKED = "blocked", "Blocked"

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
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["onboarding", "active", "blocked"]),
                name="vendor_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_payable(self) -> bool:
        return self.status == self.Status.ACTIVE


class BankAccount(models.Model):
    """Where a vendor is paid; a change takes effect only once a second person verifies it."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending verification"
        VERIFIED = "verified", "Verified"
        REJECTED = "rejected", "Rejected"
        SUPERSEDED = "superseded", "Superseded"

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
                condition=~models.Q(status="verified")
                | ~models.Q(verified_by=models.F("requested_by")),
                name="bank_account_maker_is_not_checker",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.masked_iban}"

    @property
    def masked_iban(self) -> str:
        compact = self.iban.replace(" ", "")
        return f"{compact[:4]} •••• {compact[-4:]}" if len(compact) > 8 else "••••"
