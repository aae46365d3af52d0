"""Admin: administrators maintain coding and approval rules; documents are read-only here.

Requests, POs and receipts change state only through procurement.services (which check
roles and write the audit trail), so the admin shows them for support but never edits them.
"""

from django.contrib import admin
from django.forms import ModelForm
from django.http import HttpRequest

from p2p.admin import AuditedAdmin, ReadOnlyAdmin, ReadOnlyInline
from p2p.http import request_user
from procurement.models import (
    ApprovalDelegation,
    ApprovalRule,
    ApprovalStep,
    Budget,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRevision,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
    ReceiptLine,
    RequestAttachment,
)


@admin.register(CostCenter)
class CostCenterAdmin(AuditedAdmin):
    """Cost centers, editable by administrators."""

    list_display = ("code", "name", "department", "active")
    search_fields = ("code", "name", "department")
    list_filter = ("department", "active")


@admin.register(GLAccount)
class GLAccountAdmin(AuditedAdmin):
    """GL accounts, editable by administrators."""

    list_display = ("code", "name", "active")
    search_fields = ("code", "name")
    list_filter = ("active",)


@admin.register(ApprovalRule)
class ApprovalRuleAdmin(AuditedAdmin):
    """Who approves which amount band, step by step; editable by administrators."""

    list_display = (
        "name",
        "step",
        "min_amount",
        "max_amount",
        "cost_center",
        "department",
        "category",
        "approver_group",
        "approver_user",
        "active",
    )
    list_filter = ("active", "step", "approver_group", "category", "cost_center")
    search_fields = ("name",)
    autocomplete_fields = ("approver_user",)
    list_select_related = ("cost_center", "approver_group", "approver_user")


@admin.register(ApprovalDelegation)
class ApprovalDelegationAdmin(AuditedAdmin):
    """Who stands in for whom, and when; administrators may set one for an absent approver."""

    list_display = ("from_user", "to_user", "start_date", "end_date", "reason", "cancelled_at")
    list_filter = ("start_date",)
    search_fields = ("from_user__username", "to_user__username", "reason")
    autocomplete_fields = ("from_user", "to_user")
    readonly_fields = ("created_by", "created_at")
    list_select_related = ("from_user", "to_user")

    # The admin only hands this ModelAdmin its own model; AuditedAdmin's signature takes any.
    def save_model(  # type: ignore[override]
        self, request: HttpRequest, obj: ApprovalDelegation, form: ModelForm, change: bool
    ) -> None:
        if not change:
            obj.created_by = request_user(request)
        super().save_model(request, obj, form, change)


@admin.register(Budget)
class BudgetAdmin(AuditedAdmin):
    """Budgets per cost center (and GL account) and period; finance also keeps them in the app."""

    list_display = (
        "cost_center",
        "gl_account",
        "period_start",
        "period_end",
        "amount",
        "currency",
        "overrun_policy",
    )
    list_filter = ("overrun_policy", "currency", "cost_center")
    search_fields = ("cost_center__code", "note")
    readonly_fields = ("updated_by", "updated_at")
    list_select_related = ("cost_center", "gl_account")

    # The admin only hands this ModelAdmin its own model; AuditedAdmin's signature takes any.
    def save_model(  # type: ignore[override]
        self, request: HttpRequest, obj: Budget, form: ModelForm, change: bool
    ) -> None:
        obj.updated_by = request_user(request)
        super().save_model(request, obj, form, change)


class PurchaseRequestLineInline(ReadOnlyInline):
    model = PurchaseRequestLine
    fields = ("line_no", "description", "quantity", "uom", "unit_price", "amount")


class ApprovalStepInline(ReadOnlyInline):
    model = ApprovalStep
    fk_name = "request"
    fields = (
        "step",
        "kind",
        "approver_group",
        "approver_user",
        "status",
        "decided_by",
        "on_behalf_of",
        "decided_at",
        "comment",
    )


class RequestAttachmentInline(ReadOnlyInline):
    model = RequestAttachment
    fields = ("original_name", "content_type", "size", "uploaded_by", "uploaded_at")


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
    inlines = (PurchaseRequestLineInline, ApprovalStepInline, RequestAttachmentInline)


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
    readonly_fields = (
        "status",
        "revision",
        "total_amount",
        "approved_amount",
        "created_at",
        "issued_at",
    )
    date_hierarchy = "created_at"
    inlines = (PurchaseOrderLineInline,)


@admin.register(PurchaseOrderRevision)
class PurchaseOrderRevisionAdmin(ReadOnlyAdmin):
    """Every version of every PO, for support."""

    list_display = (
        "purchase_order",
        "number",
        "status",
        "total_amount",
        "created_by",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("purchase_order__number", "reason")
    list_select_related = ("purchase_order", "created_by")


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
