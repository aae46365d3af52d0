"""One FilterSet per list, shared by the HTML pages and the API."""

import django_filters

from procurement.models import Budget, PurchaseOrder, PurchaseRequest, Receipt


class PurchaseRequestFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=PurchaseRequest.Status.choices, label="Status")
    submitted_after = django_filters.DateFilter(
        field_name="submitted_at", lookup_expr="date__gte", label="Submitted from"
    )

    class Meta:
        model = PurchaseRequest
        fields = ["status", "cost_center", "category", "requester"]

    def search(self, queryset, name, value):
        return queryset.filter(title__icontains=value) | queryset.filter(number__iexact=value)


class PurchaseOrderFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=PurchaseOrder.Status.choices, label="Status")

    class Meta:
        model = PurchaseOrder
        fields = ["status", "vendor", "buyer", "currency"]

    def search(self, queryset, name, value):
        return queryset.filter(number__iexact=value) | queryset.filter(
            vendor__name__icontains=value
        )


class ReceiptFilter(django_filters.FilterSet):
    class Meta:
        model = Receipt
        fields = ["purchase_order", "status", "received_by"]


class BudgetFilter(django_filters.FilterSet):
    """Budgets by cost center, currency and the day they must cover (today by default)."""

    on_date = django_filters.DateFilter(method="covering", label="In force on")

    class Meta:
        model = Budget
        fields = ["cost_center", "gl_account", "currency"]

    def covering(self, queryset, name, value):
        return queryset.filter(period_start__lte=value, period_end__gte=value)
