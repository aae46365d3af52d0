"""Admin: administrators maintain coding and approval rules; documents are read-only here.

Requests, POs and receipts change state only through procurement.services (which check
roles and write the audit trail), so the admin shows them for support but never edits them.
"""

from django.contrib import admin
from django.http import HttpRequest

from procurement.models import (
    ApprovalRule,
    ApprovalStep,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
    ReceiptLine,
)


@admin.register(CostCenter)
class CostCenterAdmin(admin.ModelAdmin):
    """Cost centers, editable by administrators."""

    list_display = ("code", "name", "department")
    search_fields = ("code", "name", "department")
    list_filter = ("department",)


@admin.register(GLAccount)
class GLAccountAdmin(admin.ModelAdmin):
    """GL accounts, editable by administrators."""

    list_display = ("code", "name")
    search_fields = ("code", "name")


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(admin.ModelAdmin):
    """Who approves which amount band, step by step; editable by administrators."""

    list_display = (
        "name",
        "step",
        "min_amount",
        "max_amount",
        "cost_center",
        "approver_group",
        "approver_user",
        "active",
    )
    list_filter = ("active", "step", "approver_group", "cost_center")
    search_fields = ("name",)
    autocomplete_fields = ("approver_user",)
    list_select_related = ("cost_center", "approver_group", "approver_user")


class ReadOnlyAdmin(admin.ModelAdmin):
    """A document admin that can be browsed but not added to, changed or deleted."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    """Lines shown under their document, never edited here."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class PurchaseRequestLineInline(ReadOnlyInline):
    model = PurchaseRequestLine
    fields = ("line_no", "description", "quantity", "uom", "unit_price", "amount")


class ApprovalStepInline(ReadOnlyInline):
    model = ApprovalStep
    fields = (
        "step",
        "approver_group",
        "approver_user",
        "status",
        "decided_by",
        "decided_at",
        "comment",
    )


@admin.register(PurchaseRequest)
class PurchaseRequestAdmin(ReadOnlyAdmin):
    """Purchase requests, for support; state changes go through the services."""

    list_display = (
        "number",
        "title",
        "requester",
        "cost_center",
        "total_amount",
        "currency",
        "status",
        "created_at",
    )
    list_filter = ("status", "category", "cost_center", "currency")
    search_fields = ("number", "title", "requester__username")
    list_select_related = ("requester", "cost_center")
    readonly_fields = ("status", "total_amount", "submitted_at", "decided_at", "created_at")
    date_hierarchy = "created_at"
    inlines = (PurchaseRequestLineInline, ApprovalStepInline)


class PurchaseOrderLineInline(ReadOnlyInline):
    model = PurchaseOrderLine
    fields = (
        "line_no",
        "description",
        "quantity",
        "uom",
        "unit_price",
        "amount",
        "match_type",
        "received_qty",
    )


@admin.register(PurchaseOrder)
class PurchaseOrderAdmin(ReadOnlyAdmin):
    """Purchase orders, for support; issue and receive in the app."""

    list_display = (
        "number",
        "vendor",
        "buyer",
        "request",
        "total_amount",
        "currency",
        "status",
        "issued_at",
    )
    list_filter = ("status", "currency")
    search_fields = ("number", "vendor__name", "request__number")
    list_select_related = ("vendor", "buyer", "request")
    readonly_fields = ("status", "revision", "total_amount", "created_at", "issued_at")
    date_hierarchy = "created_at"
    inlines = (PurchaseOrderLineInline,)


class ReceiptLineInline(ReadOnlyInline):
    model = ReceiptLine
    fields = ("po_line", "received_qty", "returned_qty")


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    """Goods receipts, for support; post them on the PO page."""

    list_display = ("number", "purchase_order", "received_by", "received_on", "status")
    list_filter = ("status", "received_on")
    search_fields = ("number", "purchase_order__number")
    list_select_related = ("purchase_order", "received_by")
    readonly_fields = ("status", "created_at")
    inlines = (ReceiptLineInline,)
