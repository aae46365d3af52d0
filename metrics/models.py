"""Daily KPI facts: the dashboard reads only these, so its cost does not grow with invoices."""

from decimal import Decimal

from django.conf import settings
from django.db import models

from procurement.models import CostCenter
from vendors.models import Vendor

ZERO = Decimal("0")


class DailyKpiFact(models.Model):
    """Counts and sums per (day, vendor, cost center, buyer, currency), upserted by the rollup."""

    day = models.DateField()
    vendor = models.ForeignKey(Vendor, null=True, on_delete=models.CASCADE, related_name="+")
    cost_center = models.ForeignKey(
        CostCenter, null=True, on_delete=models.CASCADE, related_name="+"
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    currency = models.CharField(max_length=3)

    invoices_captured = models.IntegerField(default=0)
    first_match_attempts = models.IntegerField(default=0)
    first_pass_matches = models.IntegerField(default=0)
    invoices_approved = models.IntegerField(default=0)
    touchless_approvals = models.IntegerField(default=0)
    exceptions_opened = models.IntegerField(default=0)
    exceptions_resolved = models.IntegerField(default=0)
    invoices_paid = models.IntegerField(default=0)
    paid_on_time = models.IntegerField(default=0)
    discount_available = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    discount_taken = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    spend_total = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    spend_on_po = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "vendor", "cost_center", "buyer", "currency"],
                nulls_distinct=False,
                name="kpi_fact_grain_unique",
            ),
        ]
        indexes = [models.Index(fields=["day"])]

    def __str__(self) -> str:
        return f"{self.day} {self.vendor_id} {self.currency}"
