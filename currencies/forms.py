"""Forms for the rates pages: the ECB file upload and a manual rate."""

from django import forms

from currencies.ecb import MAX_FILE_BYTES
from currencies.models import RATE_DIGITS, RATE_PLACES


class EcbFileForm(forms.Form):
    """One ECB reference-rate XML file, daily or historical."""

    file = forms.FileField(
        label="ECB rate file",
        help_text="eurofxref-daily.xml, eurofxref-hist-90d.xml or eurofxref-hist.xml",
        widget=forms.ClearableFileInput(attrs={"accept": ".xml,application/xml,text/xml"}),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(
                f"The file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB; ECB files are not."
            )
        return upload


class ManualRateForm(forms.Form):
    """A rate for a pair the ECB does not publish; the service checks the codes and the day."""

    rate_date = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}))
    base_currency = forms.CharField(
        label="1 unit of", max_length=3, min_length=3, initial="EUR", help_text="e.g. EUR"
    )
    quote_currency = forms.CharField(
        label="equals … of", max_length=3, min_length=3, help_text="e.g. NGN"
    )
    rate = forms.DecimalField(
        label="Rate",
        max_digits=RATE_DIGITS,
        decimal_places=RATE_PLACES,
        min_value=0,
        widget=forms.TextInput(attrs={"inputmode": "decimal"}),
    )
    reason = forms.CharField(
        label="Source and reason",
        max_length=300,
        help_text="Where the rate comes from, e.g. the central bank's published rate.",
    )
