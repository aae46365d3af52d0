"""One FilterSet per list, shared by the HTML pages and the API."""

import django_filters
from django.db.models import Q, QuerySet

from vendors import validation
from vendors.models import BankAccount, Contract, Vendor


def _compact(value: str) -> str:
    return "".join(ch for ch in value if ch.isalnum()).upper()


class VendorFilter(django_filters.FilterSet):
    """Search by name or tax id (typed with or without spaces and dots), status, country."""

    q = django_filters.CharFilter(method="search", label="Search")
    tax_id = django_filters.CharFilter(method="by_tax_id", label="Tax id")
    status = django_filters.ChoiceFilter(choices=Vendor.Status.choices, empty_label="Any status")
    country = django_filters.ChoiceFilter(
        choices=validation.country_choices, empty_label="Any country"
    )

    class Meta:
        model = Vendor
        fields = ["q", "tax_id", "status", "country", "currency"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        condition = Q(name__icontains=value.strip())
        compact = _compact(value)
        if compact:
            condition |= Q(tax_id__icontains=compact)
        return queryset.filter(condition)

    def by_tax_id(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(tax_id__icontains=_compact(value))


class BankAccountFilter(django_filters.FilterSet):
    """Bank accounts by vendor and status (e.g. every change waiting for verification)."""

    status = django_filters.ChoiceFilter(
        choices=BankAccount.Status.choices, empty_label="Any status"
    )

    class Meta:
        model = BankAccount
        fields = ["vendor", "status"]


class ContractFilter(django_filters.FilterSet):
    """Contracts by vendor, status, currency, or an item code / number / title search."""

    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=Contract.Status.choices, empty_label="Any status")
    vendor = django_filters.ModelChoiceFilter(
        queryset=Vendor.objects.order_by("name"), empty_label="Any vendor"
    )
    valid_on = django_filters.DateFilter(method="in_force_on", label="Valid on")

    class Meta:
        model = Contract
        fields = ["q", "vendor", "status", "currency", "valid_on"]

    def search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(
            Q(number__icontains=value)
            | Q(title__icontains=value)
            | Q(lines__item_code__iexact=value)
        ).distinct()

    def in_force_on(self, queryset: QuerySet, name: str, value) -> QuerySet:
        return queryset.filter(valid_from__lte=value, valid_to__gte=value)
