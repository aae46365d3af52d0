"""Rates are read-only in the admin: they change through the ECB import and the manual-rate
page, which check the role and write the audit trail."""

from django.contrib import admin
from django.http import HttpRequest

from currencies.models import ExchangeRate


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    list_display = ["rate_date", "base_currency", "quote_currency", "rate", "source", "entered_by"]
    list_filter = ["source", "base_currency"]
    search_fields = ["quote_currency", "base_currency"]
    date_hierarchy = "rate_date"
    list_select_related = ["entered_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: ExchangeRate | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: ExchangeRate | None = None) -> bool:
        return False
