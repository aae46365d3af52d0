"""Forms for the procurement pages: they parse what was typed; the services decide."""

import datetime as dt
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from procurement.models import Category, CostCenter, GLAccount, PurchaseRequest
from procurement.services import Decision, LineInput, ReceiptLineInput
from vendors.models import PaymentTerms, Vendor

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "JPY")
_NUMBER = {"invalid": "Enter a number, e.g. 12 or 12.50."}


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _quantity_input(placeholder: str = "") -> forms.NumberInput:
    return forms.NumberInput(
        attrs={"step": "any", "inputmode": "decimal", "placeholder": placeholder}
    )


class PurchaseRequestForm(forms.Form):
    """The header of a new purchase request."""

    title = forms.CharField(
        max_length=200, error_messages={"required": "Give the request a short title."}
    )
    cost_center = forms.ModelChoiceField(
        CostCenter.objects.all(), label="Cost center", empty_label="Choose a cost center"
    )
    gl_account = forms.ModelChoiceField(
        GLAccount.objects.all(), label="GL account", empty_label="Choose a GL account"
    )
    category = forms.ChoiceField(choices=Category.choices, initial=Category.GOODS)
    currency = forms.ChoiceField(choices=[(c, c) for c in CURRENCIES], initial="EUR")
    needed_by = forms.DateField(required=False, label="Needed by", widget=_date_input())
    preferred_vendor = forms.ModelChoiceField(
        Vendor.objects.filter(status=Vendor.Status.ACTIVE),
        required=False,
        label="Preferred vendor",
        empty_label="No preference",
        help_text="The buyer chooses the vendor when ordering; this is a suggestion.",
    )
    justification = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="Why is this needed?"
    )

    def clean_needed_by(self) -> dt.date | None:
        needed_by = self.cleaned_data["needed_by"]
        if needed_by and needed_by < timezone.localdate():
            raise ValidationError("The needed-by date is in the past.")
        return needed_by


class RequestLineForm(forms.Form):
    """One requested item."""

    description = forms.CharField(max_length=200, error_messages={"required": "Describe the item."})
    quantity = forms.DecimalField(
        max_digits=18,
        decimal_places=4,
        widget=_quantity_input("0"),
        error_messages={**_NUMBER, "required": "Enter a quantity."},
    )
    uom = forms.CharField(max_length=10, initial="EA", label="Unit", required=False)
    unit_price = forms.DecimalField(
        max_digits=18,
        decimal_places=4,
        label="Unit price",
        widget=_quantity_input("0.00"),
        error_messages={**_NUMBER, "required": "Enter a unit price."},
    )

    def clean_quantity(self) -> Decimal:
        quantity = self.cleaned_data["quantity"]
        if quantity <= 0:
            raise ValidationError("Quantity must be greater than zero.")
        return quantity

    def clean_unit_price(self) -> Decimal:
        unit_price = self.cleaned_data["unit_price"]
        if unit_price < 0:
            raise ValidationError("Unit price cannot be negative.")
        return unit_price


class BaseRequestLineFormSet(forms.BaseFormSet):
    """The request's lines; blank rows are ignored, at least one filled row is required."""

    def clean(self) -> None:
        if any(self.errors):
            return
        if not self.line_inputs():
            raise ValidationError("Add at least one line to the request.")

    def line_inputs(self) -> list[LineInput]:
        """The filled, not-removed rows as service input."""
        return [
            LineInput(
                description=form.cleaned_data["description"],
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                uom=form.cleaned_data.get("uom") or "EA",
            )
            for form in self.forms
            if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


RequestLineFormSet = forms.formset_factory(
    RequestLineForm, formset=BaseRequestLineFormSet, extra=1, can_delete=True, max_num=200
)
LINES_PREFIX = "lines"


class DecisionForm(forms.Form):
    """An approver's verdict on one step, with the reason when it is not an approval."""

    decision = forms.ChoiceField(choices=[(d, d) for d in Decision.ALL])
    comment = forms.CharField(required=False, max_length=2000)


class PurchaseOrderForm(forms.Form):
    """A buyer turns an approved request into a draft PO."""

    vendor = forms.ModelChoiceField(Vendor.objects.none(), empty_label="Choose a vendor")
    payment_terms = forms.ModelChoiceField(
        PaymentTerms.objects.all(),
        required=False,
        label="Payment terms",
        empty_label="Vendor's default terms",
    )
    ship_to = forms.CharField(
        required=False,
        label="Ship to",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Delivery address and contact, printed on the PO.",
    )

    def __init__(self, *args, request: PurchaseRequest, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Only vendors that can be ordered from and invoice in the request's currency.
        self.fields["vendor"].queryset = Vendor.objects.filter(
            status=Vendor.Status.ACTIVE, currency=request.currency
        ).select_related("payment_terms")
        hint = f"Active vendors invoicing in {request.currency}."
        if request.preferred_vendor_id:
            hint += f" Suggested by the requester: {request.preferred_vendor.name}"
        self.fields["vendor"].help_text = hint
        self.fields["vendor"].label_from_instance = lambda vendor: (
            f"{vendor.name} · {vendor.payment_terms}"
        )


class ReceiptHeaderForm(forms.Form):
    """When the goods arrived, and anything worth noting about the delivery."""

    received_on = forms.DateField(label="Received on", widget=_date_input())
    note = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Delivery note number, damage, partial shipment…",
    )

    def clean_received_on(self) -> dt.date:
        received_on = self.cleaned_data["received_on"]
        if received_on > timezone.localdate():
            raise ValidationError("A receipt cannot be dated in the future.")
        return received_on


class ReceiptLineForm(forms.Form):
    """Quantities received and returned on one PO line; blank means nothing."""

    po_line_id = forms.IntegerField(widget=forms.HiddenInput)
    received_qty = forms.DecimalField(
        required=False,
        max_digits=18,
        decimal_places=4,
        label="Received",
        widget=_quantity_input(),
        error_messages=_NUMBER,
    )
    returned_qty = forms.DecimalField(
        required=False,
        max_digits=18,
        decimal_places=4,
        label="Returned",
        widget=_quantity_input(),
        error_messages=_NUMBER,
    )

    def _non_negative(self, name: str) -> Decimal | None:
        value = self.cleaned_data[name]
        if value is not None and value < 0:
            raise ValidationError(
                "Quantities cannot be negative; record goods sent back as a return."
            )
        return value

    def clean_received_qty(self) -> Decimal | None:
        return self._non_negative("received_qty")

    def clean_returned_qty(self) -> Decimal | None:
        return self._non_negative("returned_qty")


class BaseReceiptLineFormSet(forms.BaseFormSet):
    """One row per PO line, in line order."""

    def line_inputs(self) -> list[ReceiptLineInput]:
        """Rows with a quantity, as service input."""
        return [
            ReceiptLineInput(
                po_line_id=form.cleaned_data["po_line_id"],
                received_qty=form.cleaned_data.get("received_qty") or Decimal("0"),
                returned_qty=form.cleaned_data.get("returned_qty") or Decimal("0"),
            )
            for form in self.forms
            if form.cleaned_data.get("received_qty") or form.cleaned_data.get("returned_qty")
        ]


ReceiptLineFormSet = forms.formset_factory(
    ReceiptLineForm, formset=BaseReceiptLineFormSet, extra=0, max_num=1000
)
RECEIPT_PREFIX = "receipt"
