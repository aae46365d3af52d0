"""Match policies (the tolerances) and match results (the evidence for each invoice line)."""

from decimal import Decimal

from django.db import models

from payables.models.invoices import Invoice, InvoiceLine
from procurement.models import PurchaseOrderLine
from vendors.models import Vendor


class MatchPolicyScope(models.TextChoices):
    """MatchPolicy.Scope; defined outside the model so its Meta constraints can name the values."""

    ORGANISATION = "organisation", "Organisation"
    VENDOR = "vendor", "Vendor"
    CATEGORY = "category", "Category"
    ITEM = "item", "Item"


class MatchPolicy(models.Model):
    """Tolerances for price, quantity and header totals; every match records which one applied.

    Scopes go organisation → vendor → category → item; for each invoice line the most
    specific active policy wins (the header check uses vendor, else organisation). Each
    tolerance has a percent and an absolute part; `combine` says how they meet. Left empty,
    a part is not used; both empty means no tolerance at all.
    """

    Scope = MatchPolicyScope

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
                    models.Q(
                        scope=MatchPolicyScope.ORGANISATION,
                        vendor__isnull=True,
                        category="",
                        item_code="",
                    )
                    | models.Q(
                        scope=MatchPolicyScope.VENDOR,
                        vendor__isnull=False,
                        category="",
                        item_code="",
                    )
                    | (
                        models.Q(scope=MatchPolicyScope.CATEGORY, vendor__isnull=True, item_code="")
                        & ~models.Q(category="")
                    )
                    | (
                        models.Q(scope=MatchPolicyScope.ITEM, vendor__isnull=True, category="")
                        & ~models.Q(item_code="")
                    )
                ),
                name="match_policy_scope_key",
            ),
        ]

    def __str__(self) -> str:
        return self.name


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
