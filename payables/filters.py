"""One FilterSet per list, shared by the HTML pages and the API."""

import django_filters

from payables.models import Invoice, InvoiceException, PaymentRun


class InvoiceFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=Invoice.Status.choices)
    due_before = django_filters.DateFilter(field_name="due_date", lookup_expr="lte")
    captured_after = django_filters.DateFilter(field_name="captured_at", lookup_expr="date__gte")

    class Meta:
        model = Invoice
        fields = ["status", "vendor", "purchase_order", "currency", "document_type", "source"]

    def search(self, queryset, name, value):
        return queryset.filter(number__icontains=value) | queryset.filter(
            vendor__name__icontains=value
        )


class InvoiceExceptionFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=InvoiceException.Status.choices)
    type = django_filters.ChoiceFilter(choices=InvoiceException.Type.choices)
    owner = django_filters.ChoiceFilter(choices=InvoiceException.Owner.choices)
    vendor = django_filters.NumberFilter(field_name="invoice__vendor")
    min_amount = django_filters.NumberFilter(field_name="amount_at_stake", lookup_expr="gte")

    class Meta:
        model = InvoiceException
        fields = ["status", "type", "owner", "owner_user", "invoice"]


class PaymentRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentRun.Status.choices)

    class Meta:
        model = PaymentRun
        fields = ["status", "currency"]
