"""Admin: match policies are set here; AP documents are only looked at (services change them)."""

from typing import Any

from django import forms
from django.contrib import admin

from p2p.admin import AuditedAdmin, ReadOnlyAdmin
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchPolicy
from payables.models.payments import PaymentRun
from procurement.models import Category


class MatchPolicyForm(forms.ModelForm):
    """Each scope has one key (vendor, category or item code) and no other.

    The database refuses any other combination (match_policy_scope_key); saying which field
    is missing or extra here turns that refusal into a form error instead of a server error.
    """

    KEYS = {
        MatchPolicy.Scope.ORGANISATION: (),
        MatchPolicy.Scope.VENDOR: ("vendor",),
        MatchPolicy.Scope.CATEGORY: ("category",),
        MatchPolicy.Scope.ITEM: ("item_code",),
    }

    category = forms.TypedChoiceField(
        choices=[("", "---------"), *Category.choices], required=False, empty_value=""
    )

    class Meta:
        model = MatchPolicy
        fields = (
            "name",
            "scope",
            "vendor",
            "category",
            "item_code",
            "active",
            "price_tolerance_pct",
            "price_tolerance_abs",
            "qty_tolerance_pct",
            "total_tolerance_abs",
            "combine",
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        scope = cleaned.get("scope")
        if scope not in self.KEYS:
            return cleaned
        label = MatchPolicy.Scope(scope).label.lower()
        for name in ("vendor", "category", "item_code"):
            if name in self.KEYS[scope] and not cleaned.get(name):
                self.add_error(name, f"A {label} policy needs this.")
            elif name not in self.KEYS[scope] and cleaned.get(name):
                self.add_error(name, f"A {label} policy leaves this empty.")
        return cleaned


@admin.register(MatchPolicy)
class MatchPolicyAdmin(AuditedAdmin):
    """Tolerances are a policy decision made by admins, so they are edited here."""

    list_display = (
        "name",
        "scope",
        "vendor",
        "price_tolerance_pct",
        "price_tolerance_abs",
        "qty_tolerance_pct",
        "total_tolerance_abs",
        "active",
    )
    list_filter = ("scope", "active")
    list_editable = ("active",)
    search_fields = ("name", "vendor__name")
    raw_id_fields = ("vendor",)
    form = MatchPolicyForm
    fieldsets = (
        (None, {"fields": ("name", "scope", "vendor", "category", "item_code", "active")}),
        (
            "Price",
            {
                "fields": ("price_tolerance_pct", "price_tolerance_abs"),
                "description": "A variance passes only within both the percentage and the amount.",
            },
        ),
        ("Quantity and totals", {"fields": ("qty_tolerance_pct", "total_tolerance_abs")}),
        (
            "Combining",
            {
                "fields": ("combine",),
                "description": "How a tolerance's percentage and amount meet when both are set.",
            },
        ),
    )


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "vendor",
        "invoice_date",
        "due_date",
        "purchase_order",
        "currency",
        "total_amount",
        "status",
        "source",
        "touchless",
    )
    list_filter = ("status", "source", "document_type", "touchless", "currency")
    list_select_related = ("vendor", "purchase_order")
    search_fields = ("number", "normalized_number", "vendor__name", "po_reference")
    date_hierarchy = "invoice_date"


@admin.register(InvoiceException)
class InvoiceExceptionAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "type",
        "invoice",
        "owner",
        "owner_user",
        "status",
        "amount_at_stake",
        "root_cause",
        "resolution",
        "opened_at",
        "resolved_at",
    )
    list_filter = ("status", "type", "owner", "root_cause", "resolution")
    list_select_related = ("invoice", "invoice__vendor", "owner_user")
    search_fields = ("invoice__number", "invoice__vendor__name", "detail")


@admin.register(PaymentRun)
class PaymentRunAdmin(ReadOnlyAdmin):
    list_display = (
        "number",
        "pay_date",
        "currency",
        "status",
        "gross_amount",
        "discount_amount",
        "net_amount",
        "prepared_by",
        "approved_by",
    )
    list_filter = ("status", "currency")
    list_select_related = ("prepared_by", "approved_by")
    search_fields = ("number",)
