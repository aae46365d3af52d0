"""One FilterSet for the rates list, shared by the HTML page and the API."""

import django_filters

from currencies.models import ExchangeRate, ExchangeRateQuerySet


class RateFilter(django_filters.FilterSet):
    """Rates by currency (on either side of the pair), day or span of days, and source."""

    currency = django_filters.CharFilter(method="by_currency", label="Currency", max_length=3)
    date = django_filters.DateFilter(field_name="rate_date", label="Date")
    date_from = django_filters.DateFilter(field_name="rate_date", lookup_expr="gte", label="From")
    date_to = django_filters.DateFilter(field_name="rate_date", lookup_expr="lte", label="To")
    source = django_filters.ChoiceFilter(
        choices=ExchangeRate.Source.choices, empty_label="Any source"
    )

    class Meta:
        model = ExchangeRate
        fields = ["currency", "date", "date_from", "date_to", "source"]

    def by_currency(
        self, queryset: ExchangeRateQuerySet, name: str, value: str
    ) -> ExchangeRateQuerySet:
        return queryset.involving(value.strip().upper())
