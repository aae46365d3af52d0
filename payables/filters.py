"""One FilterSet per list, shared by the HTML pages and the API."""

import datetime as dt

import django_filters
from django.db.models import Q
from django.utils import timezone

from payables.models.exceptions import InvoiceException, business_days_before
from payables.models.invoices import Invoice
from payables.models.payments import PaymentRun


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
    """The exception queue: what is open, for whom, how old, how much, how urgent, and in
    which order; `sort` defaults to the queue order (what costs money first)."""

    STATUSES = [("unresolved", "Open or waiting"), *InvoiceException.Status.choices, ("all", "All")]
    AGES = [
        ("lt1", "Under 1 day"),
        ("1to3", "1–3 days"),
        ("3to7", "3–7 days"),
        ("gt7", "Over 7 days"),
    ]
    # (days from, days to) per age bucket; None is open-ended.
    AGE_BOUNDS = {"lt1": (None, 1), "1to3": (1, 3), "3to7": (3, 7), "gt7": (7, None)}
    SLAS = [("overdue", "Overdue"), ("due_today", "Due by tonight")]
    CLAIMS = [("mine", "Claimed by me"), ("free", "Not claimed"), ("others", "Claimed by others")]
    SORTS = {
        "priority": ("Costs money first", ["urgency", "-money_at_risk", "id"]),
        "amount": ("Largest at stake", ["-amount_at_stake", "id"]),
        "due": ("Due date", ["invoice__due_date", "id"]),
        "discount": ("Discount deadline", ["discount_deadline", "invoice__due_date", "id"]),
        "age": ("Oldest first", ["opened_at", "id"]),
        "vendor": ("Vendor", ["invoice__vendor__name", "id"]),
        "type": ("Type", ["type", "urgency", "id"]),
    }

    q = django_filters.CharFilter(method="search", label="Search")
    status = django_filters.ChoiceFilter(choices=STATUSES, method="by_status")
    type = django_filters.ChoiceFilter(choices=InvoiceException.Type.choices)
    owner = django_filters.ChoiceFilter(choices=InvoiceException.Owner.choices)
    vendor = django_filters.NumberFilter(field_name="invoice__vendor")
    min_amount = django_filters.NumberFilter(field_name="amount_at_stake", lookup_expr="gte")
    max_amount = django_filters.NumberFilter(field_name="amount_at_stake", lookup_expr="lte")
    age = django_filters.ChoiceFilter(choices=AGES, method="by_age")
    due_before = django_filters.DateFilter(field_name="invoice__due_date", lookup_expr="lte")
    discount_before = django_filters.DateFilter(method="by_discount_deadline")
    sla = django_filters.ChoiceFilter(choices=SLAS, method="by_sla")
    claimed = django_filters.ChoiceFilter(choices=CLAIMS, method="by_claim")
    sort = django_filters.ChoiceFilter(
        choices=[(key, label) for key, (label, _order) in SORTS.items()], method="keep"
    )

    class Meta:
        model = InvoiceException
        fields = ["status", "type", "owner", "owner_user", "invoice"]

    def search(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(
            Q(invoice__number__icontains=value)
            | Q(invoice__vendor__name__icontains=value)
            | Q(invoice__purchase_order__number__icontains=value)
        )

    def by_status(self, queryset, name, value):
        if value == "unresolved":
            return queryset.unresolved()
        if value == "all":
            return queryset
        return queryset.filter(status=value)

    def by_age(self, queryset, name, value):
        now = timezone.now()
        low, high = self.AGE_BOUNDS[value]
        if low is not None:
            queryset = queryset.filter(opened_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            queryset = queryset.filter(opened_at__gt=now - dt.timedelta(days=high))
        return queryset

    def by_discount_deadline(self, queryset, name, value):
        # A discount that has already lapsed cannot be won any more, so it does not count.
        return queryset.filter(
            invoice__discount_date__gte=timezone.localdate(), invoice__discount_date__lte=value
        )

    def by_sla(self, queryset, name, value):
        moment = timezone.now()
        if value == "due_today":
            moment = timezone.localtime(moment).replace(hour=23, minute=59, second=59)
        late = Q(pk__in=[])
        for owner, days in InvoiceException.SLA_BUSINESS_DAYS.items():
            late |= Q(owner=owner, opened_at__lt=business_days_before(moment, days))
        return queryset.filter(late, status=InvoiceException.Status.OPEN)

    def by_claim(self, queryset, name, value):
        user = getattr(self.request, "user", None)
        live = Q(claimed_by__isnull=False, claimed_until__gt=timezone.now())
        if value == "free":
            return queryset.exclude(live)
        if user is None:
            return queryset.none()
        if value == "mine":
            return queryset.filter(live, claimed_by=user)
        return queryset.filter(live).exclude(claimed_by=user)

    def keep(self, queryset, name, value):
        return queryset  # applied in filter_queryset, after every filter

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset.with_queue_fields(timezone.localdate()))
        sort = self.form.cleaned_data.get("sort") or "priority"
        return queryset.order_by(*self.SORTS[sort][1])


class PaymentRunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PaymentRun.Status.choices)

    class Meta:
        model = PaymentRun
        fields = ["status", "currency"]
