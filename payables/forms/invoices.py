"""Forms for the AP pages: they parse input; the services decide."""

import datetime as dt
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils import timezone

from p2p.dates import implausible_date
from p2p.money import round_money
from procurement.models import PurchaseOrder
from vendors.models import Vendor

SUGGESTED_TAX_PCT = Decimal("21")


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class InvoiceHeaderForm(forms.Form):
    """The invoice header as printed; the vendor comes from the PO when there is one."""

    purchase_order = forms.ModelChoiceField(
        queryset=PurchaseOrder.objects.open(), required=False, widget=forms.HiddenInput
    )
    vendor = forms.ModelChoiceField(
        queryset=Vendor.objects.order_by("name"), required=False, empty_label="Choose the vendor…"
    )
    number = forms.CharField(label="Invoice number", max_length=60)
    invoice_date = forms.DateField(widget=DateInput)
    currency = forms.CharField(max_length=3, min_length=3)
    po_reference = forms.CharField(
        label="PO reference on the invoice",
        max_length=60,
        required=False,
        help_text="As printed, if any; AP will look for the purchase order.",
    )
    tax_amount = forms.DecimalField(
        label="Tax",
        max_digits=18,
        decimal_places=2,
        help_text="Suggested at 21 % of the lines; key what the invoice says.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        purchase_order = cast(forms.ModelChoiceField, self.fields["purchase_order"])
        purchase_order.queryset = PurchaseOrder.objects.open().select_related(
            "vendor", "payment_terms"
        )
        self.fields["invoice_date"].initial = timezone.localdate

    def clean_currency(self) -> str:
        return self.cleaned_data["currency"].strip().upper()

    def clean_invoice_date(self) -> dt.date:
        invoice_date = self.cleaned_data["invoice_date"]
        if problem := implausible_date(invoice_date):
            raise forms.ValidationError(problem)
        return invoice_date

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not cleaned.get("purchase_order") and not cleaned.get("vendor"):
            self.add_error("vendor", "Choose the vendor, or go back and pick the purchase order.")
        return cleaned


class InvoiceLineForm(forms.Form):
    """One billed line; `po_line` ties it to the PO line it bills."""

    po_line = forms.IntegerField(required=False, widget=forms.HiddenInput)
    description = forms.CharField(max_length=200, required=False)
    quantity = forms.DecimalField(max_digits=18, decimal_places=4, required=False)
    unit_price = forms.DecimalField(max_digits=18, decimal_places=4, required=False)

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if self.errors:
            return cleaned
        quantity, price = cleaned.get("quantity"), cleaned.get("unit_price")
        description = cleaned.get("description", "").strip()
        if self.is_skipped():
            return cleaned
        if not description:
            self.add_error("description", "Describe what is billed.")
        if price is None:
            self.add_error("unit_price", "Enter the unit price.")
        if quantity is None:
            self.add_error("quantity", "Enter the quantity.")
        return cleaned

    def is_skipped(self) -> bool:
        """A blank free line, or a PO line billed at zero, is not on this invoice."""
        data = getattr(self, "cleaned_data", {})
        quantity = data.get("quantity")
        if data.get("po_line"):
            return quantity is None or quantity == 0
        return (
            quantity is None
            and data.get("unit_price") is None
            and not data.get("description", "").strip()
        )


InvoiceLineFormSet = forms.formset_factory(InvoiceLineForm, extra=0)
FREE_LINES = 4


def suggested_tax(net: Decimal, currency: str) -> Decimal:
    """21 % (Dutch standard VAT) of the net, as a starting point the clerk overwrites."""
    return round_money(net * SUGGESTED_TAX_PCT / Decimal("100"), currency)
