"""One FilterSet per list, shared by the HTML pages and the API."""

import django_filters

from vendors.models import Vendor


class VendorFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=Vendor.Status.choices)

    class Meta:
        model = Vendor
        fields = ["status", "country", "currency"]

    def search(self, queryset, name, value):
        return queryset.filter(name__icontains=value) | queryset.filter(tax_id__iexact=value)
