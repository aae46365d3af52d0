"""Admin for vendor reference data.

Payment terms are plain reference data and editable here. Vendors and bank accounts are
shown read-only: their status changes and the bank-account maker-checker go through
vendors.services so the audit trail and segregation of duties hold, and a full IBAN is
never displayed.
"""

from django.contrib import admin
from django.http import HttpRequest

from p2p.admin import AuditedAdmin, ReadOnlyAdmin
from vendors.models import BankAccount, Contract, ContractLine, PaymentTerms, Vendor, VendorImport


@admin.register(PaymentTerms)
class PaymentTermsAdmin(AuditedAdmin):
    """Net days, discount and end-of-month rule per terms code."""

    list_display = ("code", "name", "net_days", "discount_percent", "discount_days", "end_of_month")
    search_fields = ("code", "name")
    ordering = ("net_days", "code")


class BankAccountInline(admin.TabularInline):
    model = BankAccount
    fields = ("masked_iban", "bic", "account_holder", "status", "requested_by", "verified_by")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Vendor)
class VendorAdmin(ReadOnlyAdmin):
    """Vendors with their terms and status."""

    list_display = ("name", "tax_id", "country", "currency", "payment_terms", "status")
    list_filter = ("status", "country", "currency")
    search_fields = ("name", "tax_id")
    list_select_related = ("payment_terms",)
    fields = (
        "name",
        "tax_id",
        "country",
        "currency",
        "status",
        "status_reason",
        "payment_terms",
        "email",
        "remit_to",
        "created_at",
    )
    inlines = (BankAccountInline,)


@admin.register(BankAccount)
class BankAccountAdmin(ReadOnlyAdmin):
    """Bank accounts with the IBAN masked, who entered and who verified each one."""

    list_display = ("vendor", "masked_iban", "bic", "status", "requested_by", "verified_by")
    list_filter = ("status",)
    search_fields = ("vendor__name", "account_holder")
    list_select_related = ("vendor", "requested_by", "verified_by")
    fields = (
        "vendor",
        "account_holder",
        "masked_iban",
        "bic",
        "status",
        "requested_by",
        "requested_at",
        "verified_by",
        "verified_at",
    )

    @admin.display(description="IBAN")
    def masked_iban(self, account: BankAccount) -> str:
        return account.masked_iban


class ContractLineInline(admin.TabularInline):
    model = ContractLine
    fields = ("item_code", "description", "uom", "unit_price")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Contract)
class ContractAdmin(ReadOnlyAdmin):
    """Contracts and rate cards; drafted, activated and terminated on the contract pages."""

    list_display = ("number", "vendor", "title", "currency", "valid_from", "valid_to", "status")
    list_filter = ("status", "currency")
    search_fields = ("number", "title", "vendor__name", "lines__item_code")
    list_select_related = ("vendor",)
    fields = (
        "vendor",
        "number",
        "title",
        "currency",
        "valid_from",
        "valid_to",
        "status",
        "notes",
        "created_by",
        "created_at",
        "activated_at",
    )
    inlines = (ContractLineInline,)


@admin.register(VendorImport)
class VendorImportAdmin(ReadOnlyAdmin):
    """Uploaded vendor files and their reports (the file content itself is not shown)."""

    list_display = (
        "file_name",
        "status",
        "total_rows",
        "imported_count",
        "created_by",
        "created_at",
    )
    list_filter = ("status",)
    list_select_related = ("created_by",)
    fields = (
        "file_name",
        "status",
        "valid_rows_only",
        "total_rows",
        "processed_rows",
        "imported_count",
        "errors",
        "warnings",
        "created_by",
        "created_at",
        "finished_at",
    )
