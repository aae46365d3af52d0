"""Admin: match policies are set here; AP documents are only looked at (services change them)."""

from django.contrib import admin
from django.http import HttpRequest

from p2p.admin import AuditedAdmin
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchPolicy
from payables.models.payments import PaymentRun


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
    fieldsets = (
        (None, {"fields": ("name", "scope", "vendor", "active")}),
        (
            "Price",
            {
                "fields": ("price_tolerance_pct", "price_tolerance_abs"),
                "description": "A variance passes only within both the percentage and the amount.",
            },
        ),
        ("Quantity and totals", {"fields": ("qty_tolerance_pct", "total_tolerance_abs")}),
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Documents whose status matters change only through the services, never the admin."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


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
