"""Forms for the dashboard filters, the drill-downs, targets and the weekly sync report."""

import datetime as dt
from typing import cast

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from metrics import kpis
from metrics.models import AgeBucket
from metrics.selectors import Scope
from p2p import roles
from procurement.models import CostCenter
from vendors.models import Vendor

PERIODS = (7, 30, 90, 365)
DEFAULT_PERIOD = 30
LONGEST_PERIOD_DAYS = 731


class BuyerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj) -> str:
        return obj.get_full_name() or obj.username


def buyers():
    return (
        get_user_model()
        .objects.filter(groups__name=roles.BUYER)
        .order_by("first_name", "username")
        .only("id", "username", "first_name", "last_name")
    )


class ScopeForm(forms.Form):
    """Vendor, department, cost center and buyer: the filters every tile and chart shares."""

    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.only("id", "name").order_by("name"),
        required=False,
        empty_label="All vendors",
    )
    department = forms.ChoiceField(required=False)
    cost_center = forms.ModelChoiceField(
        queryset=CostCenter.objects.order_by("code"),
        required=False,
        empty_label="All cost centers",
    )
    buyer = BuyerChoiceField(queryset=buyers(), required=False, empty_label="All buyers")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["buyer"]).queryset = buyers()
        # One query serves the department list, the cost-center options and the scope.
        self.cost_centers = list(CostCenter.objects.order_by("code"))
        departments = sorted({center.department for center in self.cost_centers})
        cast(forms.ChoiceField, self.fields["department"]).choices = [("", "All departments")] + [
            (name, name) for name in departments
        ]

    def scope(self) -> Scope:
        """The Scope these filters describe; call after is_valid()."""
        data = self.cleaned_data
        cost_center_ids = None
        if data.get("department") or data.get("cost_center"):
            cost_center_ids = tuple(
                center.pk
                for center in self.cost_centers
                if data.get("department") in (None, "", center.department)
                and (not data.get("cost_center") or center.pk == data["cost_center"].pk)
            )
        return Scope(
            vendor_id=data["vendor"].pk if data.get("vendor") else None,
            cost_center_ids=cost_center_ids,
            buyer_id=data["buyer"].pk if data.get("buyer") else None,
        )

    def scope_params(self) -> dict[str, str]:
        """The filters as query parameters, to carry them into links."""
        data = self.cleaned_data
        params = {}
        for name in ("vendor", "cost_center", "buyer"):
            if data.get(name):
                params[name] = str(data[name].pk)
        if data.get("department"):
            params["department"] = data["department"]
        return params


class DashboardForm(ScopeForm):
    """The period (last N days, or from–to) on top of the shared filters."""

    period = forms.TypedChoiceField(
        choices=[(str(days), f"Last {days} days") for days in PERIODS],
        coerce=int,
        required=False,
        # Any value may stand for "not chosen"; the stubs allow only a string.
        empty_value=DEFAULT_PERIOD,  # type: ignore[arg-type]
    )
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("start"), data.get("end")
        if bool(start) != bool(end):
            raise ValidationError("Give both a start and an end date, or neither.")
        if start and end:
            if start > end:
                raise ValidationError("The start date must be on or before the end date.")
            if (end - start).days >= LONGEST_PERIOD_DAYS:
                raise ValidationError("Choose a period of at most two years.")
        return data

    def period_bounds(self) -> tuple[dt.date, dt.date]:
        """[start, end] of the chosen period; the last N days up to today by default."""
        data = self.cleaned_data
        if data.get("start") and data.get("end"):
            return data["start"], data["end"]
        end = timezone.localdate()
        days = data.get("period") or DEFAULT_PERIOD
        return end - dt.timedelta(days=days - 1), end


class DrillForm(ScopeForm):
    """Which invoices or exceptions stand behind a number: an event, a part and a period."""

    start = forms.DateField()
    end = forms.DateField()
    currency = forms.CharField(required=False, max_length=3)

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise ValidationError("The start date must be on or before the end date.")
        return data


INVOICE_EVENTS = (
    ("captured", "Captured"),
    ("first_match", "First matched"),
    ("approved", "Approved"),
    ("paid", "Paid"),
    ("discount", "Discount window closed or paid"),
)
INVOICE_PARTS = (
    ("all", "All"),
    ("first_pass", "Passed the first match"),
    ("not_first_pass", "Did not pass the first match"),
    ("touchless", "Touchless"),
    ("touched", "Needed a person"),
    ("on_time", "Paid on time"),
    ("late", "Paid late"),
    ("taken", "Discount taken"),
    ("missed", "Discount missed"),
    ("on_po", "On a PO"),
    ("off_po", "Without a PO"),
    ("matched", "Matched"),
    ("unmatched", "Not matched"),
    ("clean", "No exception"),
    ("with_exception", "Had an exception"),
)


class InvoiceDrillForm(DrillForm):
    event = forms.ChoiceField(choices=INVOICE_EVENTS)
    part = forms.ChoiceField(choices=INVOICE_PARTS, required=False)


EXCEPTION_EVENTS = (
    ("opened", "Opened"),
    ("resolved", "Resolved"),
    ("open", "Unresolved at the end of the period"),
)


class ExceptionDrillForm(DrillForm):
    event = forms.ChoiceField(choices=EXCEPTION_EVENTS)
    type = forms.CharField(required=False, max_length=30)
    owner = forms.CharField(required=False, max_length=20)
    root_cause = forms.CharField(required=False, max_length=30)
    age = forms.ChoiceField(choices=[("", "Any age"), *AgeBucket.choices], required=False)


class TargetForm(forms.Form):
    """One KPI's target; an empty value removes it."""

    kpi = forms.ChoiceField(choices=kpis.TARGET_CHOICES)
    target = forms.DecimalField(required=False, max_digits=12, decimal_places=2)


class WeekForm(forms.Form):
    """Which week the sync report shows: any day in it (the Monday is used)."""

    week = forms.DateField(required=False)

    def monday(self) -> dt.date:
        day = (self.cleaned_data.get("week") if self.is_valid() else None) or timezone.localdate()
        return day - dt.timedelta(days=day.weekday())


class WeeklyActionsForm(forms.Form):
    week = forms.DateField()
    actions = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 6}))


class ReportEmailForm(forms.Form):
    """Who gets the report by email: comma- or space-separated addresses."""

    week = forms.DateField()
    recipients = forms.CharField(max_length=1000)

    def clean_recipients(self) -> list[str]:
        raw = self.cleaned_data["recipients"].replace(";", ",").replace(" ", ",")
        addresses = [part.strip() for part in raw.split(",") if part.strip()]
        if not addresses:
            raise ValidationError("Enter at least one email address.")
        if len(addresses) > 20:
            raise ValidationError("Send to at most 20 addresses at once.")
        for address in addresses:
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(f"'{address}' is not an email address.") from None
        return addresses
