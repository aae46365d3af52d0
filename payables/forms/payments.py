"""Forms for the payment-run pages: they parse input; the services in payables.services decide."""

import datetime as dt
from typing import Any, cast

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from payables.forms.invoices import DateInput
from payables.models.invoices import Invoice
from payables.models.payments import BankConfirmation, CompanySettings

DEFAULT_HORIZON_DAYS = 14
CALENDAR_WEEKS = ((2, "2 weeks"), (4, "4 weeks"), (6, "6 weeks"), (8, "8 weeks"), (13, "13 weeks"))


class PaymentRunProposeForm(forms.Form):
    """When to pay, how far ahead to look and in which currency (blank: all of them)."""

    pay_date = forms.DateField(widget=DateInput)
    horizon_date = forms.DateField(label="Pay what falls due by", widget=DateInput)
    currency = forms.CharField(
        max_length=3,
        required=False,
        help_text="Blank pays every currency, one bank file each.",
    )

    def __init__(self, *args: Any, today: dt.date | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        today = today or timezone.localdate()
        self.fields["pay_date"].initial = today
        self.fields["horizon_date"].initial = today + dt.timedelta(days=DEFAULT_HORIZON_DAYS)

    def clean_currency(self) -> str:
        currency = self.cleaned_data["currency"].strip().upper()
        if currency and (len(currency) != 3 or not currency.isalpha()):
            raise forms.ValidationError("Enter a three-letter code such as EUR, or leave blank.")
        return currency


class ReasonForm(forms.Form):
    """A reason the audit trail keeps (removing an invoice, a failed payment, a hold)."""

    reason = forms.CharField(max_length=300)

    def clean_reason(self) -> str:
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError("Give a reason.")
        return reason


class AddInvoiceForm(ReasonForm):
    """An approved invoice or credit note to add to a proposed run, and why."""

    invoice = forms.ModelChoiceField(
        queryset=Invoice.objects.none(), empty_label="Choose an approved invoice…"
    )

    def __init__(
        self, *args: Any, invoices: QuerySet[Invoice] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        invoice_field = cast(forms.ModelChoiceField, self.fields["invoice"])
        if invoices is not None:
            invoice_field.queryset = invoices
        # Django calls the instance attribute: a label for this form, without a field subclass.
        invoice_field.label_from_instance = lambda invoice: (  # type: ignore[method-assign,assignment]
            f"{invoice.vendor.name} · {invoice.number} · due "
            f"{invoice.due_date:%d %b} · {invoice.payable_amount:,} {invoice.currency}"
            + (" (credit note)" if invoice.document_type == "credit_note" else "")
        )


class MarkPaidForm(forms.Form):
    """The day the bank executed the run."""

    paid_on = forms.DateField(label="Paid on", widget=DateInput)


class CancelForm(forms.Form):
    """Why a run is dropped (optional)."""

    note = forms.CharField(max_length=300, required=False)


class BankConfirmForm(forms.Form):
    """What the bank said about one transfer (vendor and currency), and its reference."""

    vendor = forms.IntegerField(widget=forms.HiddenInput)
    currency = forms.CharField(max_length=3, widget=forms.HiddenInput)
    outcome = forms.ChoiceField(
        label="The bank confirmed", choices=BankConfirmation.Outcome.choices
    )
    reference = forms.CharField(label="Bank reference", max_length=140)


class CompanySettingsForm(forms.ModelForm):
    """The paying account and the payment policy, as finance sets them."""

    variance_thresholds = forms.CharField(
        label="Variances a clerk may accept alone",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One currency a line, e.g. “EUR 500.00”. A variance in a currency not "
        "listed always needs an AP manager.",
    )

    class Meta:
        model = CompanySettings
        fields = [
            "company_name",
            "iban",
            "bic",
            "cost_of_capital_pct",
            "run_approval_threshold",
            "variance_thresholds",
        ]
        labels = {
            "cost_of_capital_pct": "Cost of capital (% a year)",
            "run_approval_threshold": "Runs above this need a finance leader",
        }
        help_texts = {
            "iban": "The account every run is paid from (the debtor in the bank file).",
            "cost_of_capital_pct": "A discount is taken early when its annualised return is higher.",
            "run_approval_threshold": "Applied to each currency's total in a run.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        thresholds = self.instance.variance_thresholds or {}
        self.initial["variance_thresholds"] = "\n".join(
            f"{code} {amount}" for code, amount in sorted(thresholds.items())
        )

    def clean_variance_thresholds(self) -> dict[str, str]:
        """'EUR 500.00' lines into {'EUR': '500.00'}; the service checks codes and amounts."""
        thresholds: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["variance_thresholds"].splitlines(), 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2:
                raise forms.ValidationError(
                    f"Line {number} “{line.strip()}”: write a currency and an amount, "
                    "e.g. “EUR 500.00”."
                )
            code = parts[0].upper()
            if code in thresholds:
                raise forms.ValidationError(f"{code} is listed twice; keep one line for it.")
            thresholds[code] = parts[1]
        return thresholds


class CalendarForm(forms.Form):
    """How far ahead the cash calendar looks."""

    weeks = forms.TypedChoiceField(choices=CALENDAR_WEEKS, coerce=int, required=False)
