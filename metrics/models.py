"""KPI facts, the per-invoice snapshot they are summed from, targets and weekly sync notes.

The dashboard reads only the daily facts, so its cost does not grow with invoices. Each fact
table holds four grains written together by one GROUPING SETS query: the whole company, per
cost center, per buyer, and the full detail (vendor × cost center × buyer). A query never
sums across grains: it picks the one grain that answers its filters (see selectors.Scope).
"""

from django.conf import settings
from django.db import models

from p2p.money import ZERO
from payables.models.invoices import Invoice
from procurement.models import CostCenter, PurchaseOrder
from vendors.models import Vendor


class Grain(models.TextChoices):
    """Which dimensions a fact row is broken down by; the others are summed over."""

    COMPANY = "company", "Whole company"
    COST_CENTER = "cost_center", "Per cost center"
    BUYER = "buyer", "Per buyer"
    DETAIL = "detail", "Per vendor, cost center and buyer"


GRAIN_KEYS = ("grain", "day", "vendor", "cost_center", "buyer", "currency")


class FactGrain(models.Model):
    """The dimensions every daily fact shares. NULL means 'none' at detail grain, 'all' above."""

    grain = models.CharField(max_length=12, choices=Grain.choices)
    day = models.DateField()
    vendor = models.ForeignKey(Vendor, null=True, on_delete=models.CASCADE, related_name="+")
    cost_center = models.ForeignKey(
        CostCenter, null=True, on_delete=models.CASCADE, related_name="+"
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+"
    )
    currency = models.CharField(max_length=3)

    class Meta:
        abstract = True


def _grain_indexes(prefix: str) -> list[models.Index]:
    # The unique constraint (grain, day, ...) serves the unfiltered dashboard; these serve
    # one filter each without scanning the other grains' rows.
    return [
        models.Index(fields=["grain", "vendor", "day"], name=f"{prefix}_vendor_day"),
        models.Index(fields=["grain", "cost_center", "day"], name=f"{prefix}_cc_day"),
        models.Index(fields=["grain", "buyer", "day"], name=f"{prefix}_buyer_day"),
    ]


# The KPI fact columns: the rollup writes exactly these and the dashboard sums exactly these,
# so a column added to one is added to both. Counts add up over currencies, money never does.
KPI_COUNT_COLUMNS = (
    "invoices_captured",
    "invoices_matched",
    "invoices_without_exception",
    "first_match_attempts",
    "first_pass_matches",
    "invoices_approved",
    "touchless_approvals",
    "approve_days_sum",
    "exceptions_opened",
    "exceptions_resolved",
    "invoices_paid",
    "paid_on_time",
    "pay_days_sum",
)
KPI_MONEY_COLUMNS = ("discount_available", "discount_taken", "spend_total", "spend_on_po")


class DailyKpiFact(FactGrain):
    """Invoice counts and sums per day and grain, each counted on the day its event happened."""

    # Captured that day (cohort): how many were matched since, and how many never had an exception.
    invoices_captured = models.IntegerField(default=0)
    invoices_matched = models.IntegerField(default=0)
    invoices_without_exception = models.IntegerField(default=0)
    first_match_attempts = models.IntegerField(default=0)
    first_pass_matches = models.IntegerField(default=0)
    invoices_approved = models.IntegerField(default=0)
    touchless_approvals = models.IntegerField(default=0)
    approve_days_sum = models.IntegerField(default=0)
    exceptions_opened = models.IntegerField(default=0)
    exceptions_resolved = models.IntegerField(default=0)
    invoices_paid = models.IntegerField(default=0)
    paid_on_time = models.IntegerField(default=0)
    pay_days_sum = models.IntegerField(default=0)
    discount_available = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    discount_taken = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    spend_total = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    spend_on_po = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=list(GRAIN_KEYS), nulls_distinct=False, name="kpi_fact_grain_unique"
            ),
        ]
        indexes = _grain_indexes("kpifact")

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.vendor_id} {self.currency}"


class DailyExceptionFact(FactGrain):
    """Exceptions opened and resolved per day, by type, owner and root cause.

    The root cause is the one recorded at resolution, or the one the match suggested while
    the exception is still open.
    """

    type = models.CharField(max_length=30)
    owner = models.CharField(max_length=20)
    root_cause = models.CharField(max_length=30, blank=True)
    opened = models.IntegerField(default=0)
    resolved = models.IntegerField(default=0)
    resolve_hours_sum = models.IntegerField(default=0)
    amount_opened = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[*GRAIN_KEYS, "type", "owner", "root_cause"],
                nulls_distinct=False,
                name="exception_fact_grain_unique",
            ),
        ]
        indexes = [
            *_grain_indexes("excfact"),
            # "Vendors with most exceptions" sums a month of detail rows from the index alone.
            models.Index(
                fields=["grain", "day", "vendor"],
                include=["opened"],
                condition=models.Q(opened__gt=0),
                name="excfact_day_vendor_cov",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.type} {self.root_cause}"


class AgeBucket(models.TextChoices):
    """How long an exception has been open at the end of the day."""

    DAYS_0_2 = "d00_02", "0–2 days"
    DAYS_3_7 = "d03_07", "3–7 days"
    DAYS_8_14 = "d08_14", "8–14 days"
    DAYS_15_30 = "d15_30", "15–30 days"
    OVER_30 = "d31", "Over 30 days"


# (bucket, first day, last day or None) — the SQL CASE and the drill-down use the same bounds.
AGE_BUCKET_BOUNDS = (
    (AgeBucket.DAYS_0_2, 0, 2),
    (AgeBucket.DAYS_3_7, 3, 7),
    (AgeBucket.DAYS_8_14, 8, 14),
    (AgeBucket.DAYS_15_30, 15, 30),
    (AgeBucket.OVER_30, 31, None),
)


class OpenExceptionFact(FactGrain):
    """Exceptions still unresolved at the end of the day (for today: at the last rollup)."""

    type = models.CharField(max_length=30)
    owner = models.CharField(max_length=20)
    age_bucket = models.CharField(max_length=8, choices=AgeBucket.choices)
    open_count = models.IntegerField(default=0)
    open_amount = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[*GRAIN_KEYS, "type", "owner", "age_bucket"],
                nulls_distinct=False,
                name="open_exception_fact_grain_unique",
            ),
        ]
        indexes = _grain_indexes("openfact")

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.type} {self.age_bucket}: {self.open_count}"


class Measure(models.TextChoices):
    """Durations kept as histograms, so medians come from the facts exactly."""

    APPROVE_DAYS = "approve_days", "Days from capture to approval"
    PAY_DAYS = "pay_days", "Days from capture to payment"
    RESOLVE_HOURS_BUYER = "resolve_hours_buyer", "Hours to resolve (buyer)"
    RESOLVE_HOURS_REQUESTER = "resolve_hours_requester", "Hours to resolve (requester)"
    RESOLVE_HOURS_AP = "resolve_hours_ap", "Hours to resolve (AP)"


class DurationFact(FactGrain):
    """How many invoices or exceptions took exactly `value` days or whole hours, per day."""

    measure = models.CharField(max_length=30, choices=Measure.choices)
    value = models.IntegerField()
    count = models.IntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[*GRAIN_KEYS, "measure", "value"],
                nulls_distinct=False,
                name="duration_fact_grain_unique",
            ),
        ]
        indexes = [
            *_grain_indexes("durfact"),
            # Medians read every (day, measure, value) row of a period: from the index alone.
            models.Index(
                fields=["grain", "day", "measure", "value"],
                include=["count", "vendor", "cost_center", "buyer"],
                name="durfact_day_cov",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.grain} {self.day} {self.measure}={self.value}: {self.count}"


class InvoiceKpi(models.Model):
    """One invoice as the KPIs see it: the day of each event, flags and amounts.

    Written by the rollup and compared with what it held before, so a change to an old
    invoice (a late approval, a voided payment) re-aggregates exactly the days it touches.
    Drill-down lists read it, so a list always equals the number it came from.
    """

    invoice = models.OneToOneField(
        Invoice, primary_key=True, on_delete=models.CASCADE, related_name="kpi"
    )
    vendor = models.ForeignKey(Vendor, on_delete=models.CASCADE, related_name="+")
    cost_center = models.ForeignKey(
        CostCenter, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    buyer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    purchase_order = models.ForeignKey(
        PurchaseOrder, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    currency = models.CharField(max_length=3)
    captured_day = models.DateField()
    matched = models.BooleanField(default=False)
    had_exception = models.BooleanField(default=False)
    first_match_day = models.DateField(null=True)
    first_pass = models.BooleanField(null=True)
    approved_day = models.DateField(null=True)
    touchless = models.BooleanField(default=False)
    approve_days = models.IntegerField(null=True)
    paid_day = models.DateField(null=True)
    on_time = models.BooleanField(null=True)
    pay_days = models.IntegerField(null=True)
    due_date = models.DateField()
    discount_date = models.DateField(null=True)
    # The day the discount counts: paid in the window, or the window closed unpaid.
    discount_day = models.DateField(null=True)
    discount_available = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    discount_taken = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    # Signed: a credit note counts negative; a rejected invoice is no spend.
    spend = models.DecimalField(max_digits=18, decimal_places=2, default=ZERO)
    on_po = models.BooleanField(default=False)
    refreshed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["captured_day"], name="invkpi_captured"),
            models.Index(fields=["first_match_day"], name="invkpi_first_match"),
            models.Index(fields=["approved_day"], name="invkpi_approved"),
            models.Index(fields=["paid_day"], name="invkpi_paid"),
            models.Index(fields=["discount_day"], name="invkpi_discount_day"),
            models.Index(fields=["discount_date"], name="invkpi_discount_date"),
        ]

    def __str__(self) -> str:
        return f"KPI row of invoice {self.invoice_id}"


class KpiTarget(models.Model):
    """The goal a finance leader set for one headline KPI, shown beside its number."""

    kpi = models.CharField(max_length=30, unique=True)
    target = models.DecimalField(max_digits=12, decimal_places=2)
    set_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    set_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.kpi} → {self.target}"


class WeeklySyncNote(models.Model):
    """The actions AP and procurement agreed in one week's sync meeting (week = its Monday)."""

    week = models.DateField(unique=True)
    actions = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-week"]
        constraints = [
            # ISO weekday: Monday is 1.
            models.CheckConstraint(
                condition=models.Q(week__iso_week_day=1), name="weekly_sync_note_week_is_monday"
            ),
        ]

    def __str__(self) -> str:
        return f"Sync actions, week of {self.week}"
