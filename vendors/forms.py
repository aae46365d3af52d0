"""Forms for the vendor pages: they parse what was typed; the services validate and decide."""

from decimal import Decimal
from typing import cast

from django import forms
from django.core.exceptions import ValidationError

from vendors import validation
from vendors.models import PaymentTerms, Vendor
from vendors.services import BankDetails, ContractLineInput, VendorDetails

MAX_IMPORT_BYTES = 5 * 1024 * 1024
_NUMBER = {"invalid": "Enter a number, e.g. 12 or 12.50."}


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class VendorForm(forms.Form):
    """A vendor's master data; on create also its first bank account (verified later)."""

    name = forms.CharField(
        label="Legal name",
        max_length=200,
        error_messages={"required": "Enter the vendor's legal name."},
    )
    country = forms.ChoiceField(initial="NL")
    tax_id = forms.CharField(
        label="Tax id",
        max_length=60,
        required=False,
        help_text="VAT number (e.g. NL123456789B01), EIN or the country's business number.",
    )
    currency = forms.ChoiceField(initial="EUR", help_text="The currency the vendor invoices in.")
    payment_terms = forms.ModelChoiceField(
        PaymentTerms.objects.all(), label="Default payment terms", empty_label="Choose terms"
    )
    email = forms.EmailField(label="Billing e-mail", required=False)
    remit_to = forms.CharField(
        label="Remit-to address", required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    iban = forms.CharField(label="IBAN", max_length=42, required=False)
    bic = forms.CharField(
        label="BIC",
        max_length=11,
        required=False,
        help_text="Filled in from the IBAN when left blank.",
    )
    account_holder = forms.CharField(
        label="Account holder",
        max_length=200,
        required=False,
        help_text="Defaults to the legal name.",
    )
    confirm_duplicates = forms.BooleanField(
        required=False, label="I checked the vendors above; this is a different vendor"
    )

    BANK_FIELDS = ("iban", "bic", "account_holder")

    def __init__(self, *args, with_bank: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["country"]).choices = validation.country_choices()
        cast(forms.ChoiceField, self.fields["currency"]).choices = validation.currency_choices()
        if not with_bank:
            for name in self.BANK_FIELDS:
                del self.fields[name]

    @classmethod
    def initial_for(cls, vendor: Vendor) -> dict:
        return {
            "name": vendor.name,
            "country": vendor.country,
            "tax_id": vendor.tax_id,
            "currency": vendor.currency,
            "payment_terms": vendor.payment_terms_id,
            "email": vendor.email,
            "remit_to": vendor.remit_to,
        }

    def details(self) -> VendorDetails:
        data = self.cleaned_data
        return VendorDetails(
            name=data["name"],
            payment_terms=data["payment_terms"],
            tax_id=data["tax_id"],
            country=data["country"],
            currency=data["currency"],
            email=data["email"],
            remit_to=data["remit_to"],
        )

    def bank(self) -> BankDetails | None:
        data = self.cleaned_data
        if not data.get("iban"):
            return None
        return BankDetails(
            iban=data["iban"], account_holder=data["account_holder"], bic=data["bic"]
        )

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if (
            "iban" in self.fields
            and not data.get("iban")
            and (data.get("bic") or data.get("account_holder"))
        ):
            self.add_error("iban", "Enter the IBAN, or leave the bank fields empty.")
        return data


class StatusForm(forms.Form):
    """Activate or block, with the reason for the trail."""

    status = forms.ChoiceField(
        choices=[(Vendor.Status.ACTIVE, "Activate"), (Vendor.Status.BLOCKED, "Block")]
    )
    reason = forms.CharField(
        max_length=300,
        error_messages={"required": "Say why; the reason goes into the audit trail."},
    )


class BankChangeForm(forms.Form):
    """New bank details as the vendor sent them."""

    account_holder = forms.CharField(label="Account holder", max_length=200)
    iban = forms.CharField(label="New IBAN", max_length=42)
    bic = forms.CharField(
        label="BIC",
        max_length=11,
        required=False,
        help_text="Filled in from the IBAN when left blank.",
    )


class BankVerifyForm(forms.Form):
    """The checker re-keys the IBAN they confirmed with the vendor by phone."""

    confirm_iban = forms.CharField(
        label="IBAN as confirmed with the vendor",
        max_length=42,
        error_messages={"required": "Type the IBAN the vendor confirmed on a known phone number."},
    )


class ReasonForm(forms.Form):
    """Why: rejecting a bank change, terminating a contract."""

    reason = forms.CharField(max_length=500, error_messages={"required": "Give a reason."})


class ContractForm(forms.Form):
    """A contract's header; the rate card is a formset beside it."""

    vendor = forms.ModelChoiceField(
        Vendor.objects.exclude(status=Vendor.Status.BLOCKED), empty_label="Choose a vendor"
    )
    number = forms.CharField(label="Contract number", max_length=40)
    title = forms.CharField(max_length=200)
    currency = forms.ChoiceField(initial="EUR")
    valid_from = forms.DateField(label="Valid from", widget=_date_input())
    valid_to = forms.DateField(label="Valid to", widget=_date_input())
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, editing: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["currency"]).choices = validation.currency_choices()
        if editing:
            del self.fields["vendor"]
            del self.fields["number"]

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if (
            data.get("valid_from")
            and data.get("valid_to")
            and data["valid_to"] < data["valid_from"]
        ):
            self.add_error("valid_to", "The contract ends before it starts.")
        return data


class ContractLineForm(forms.Form):
    """One rate-card line."""

    item_code = forms.CharField(label="Item code", max_length=40)
    description = forms.CharField(max_length=200)
    uom = forms.CharField(label="Unit", max_length=10, initial="EA", required=False)
    unit_price = forms.DecimalField(
        label="Unit price",
        max_digits=18,
        decimal_places=4,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
        error_messages={**_NUMBER, "required": "Enter the unit price."},
    )

    def clean_unit_price(self) -> Decimal:
        price = self.cleaned_data["unit_price"]
        if price < 0:
            raise ValidationError("A price cannot be negative.")
        return price


class BaseContractLineFormSet(forms.BaseFormSet):
    """The rate card; blank rows are ignored."""

    def line_inputs(self) -> list[ContractLineInput]:
        return [
            ContractLineInput(
                item_code=form.cleaned_data["item_code"],
                description=form.cleaned_data["description"],
                unit_price=form.cleaned_data["unit_price"],
                uom=form.cleaned_data.get("uom") or "EA",
            )
            for form in self.forms
            if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


ContractLineFormSet = cast(
    type[BaseContractLineFormSet],
    forms.formset_factory(
        ContractLineForm, formset=BaseContractLineFormSet, extra=1, can_delete=True, max_num=500
    ),
)
LINES_PREFIX = "lines"


class VendorImportForm(forms.Form):
    """A CSV file of vendors and whether to import the good rows if some are bad."""

    file = forms.FileField(
        label="CSV file",
        error_messages={
            "required": "Choose the CSV file to upload.",
            "empty": "The file is empty.",
        },
    )
    valid_rows_only = forms.BooleanField(
        required=False,
        label="Import only the valid rows",
        help_text="Otherwise nothing is imported when any row has an error.",
    )

    def clean_file(self) -> str:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise ValidationError("The file is larger than 5 MB; split it into parts.")
        raw = upload.read()
        if b"\x00" in raw[:4096]:
            raise ValidationError(
                "This is not a CSV text file; save it as CSV (UTF-8) and try again."
            )
        # Excel saves CSV as UTF-8 with a byte-order mark, or in Windows-1252.
        for encoding in ("utf-8-sig", "cp1252"):
            try:
                return raw.decode(encoding)
            except UnicodeDecodeError:
                continue
        raise ValidationError("The file's characters could not be read; save it as CSV (UTF-8).")
