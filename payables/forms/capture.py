"""Forms for the capture pages: file uploads for import and invoice attachments."""

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from p2p.exceptions import DomainError
from payables.einvoice.csv_import import COMMA, POINT
from payables.services.capture import check_attachment
from payables.uploads import ATTACHMENT_KINDS, MAX_ATTACHMENT_BYTES, MAX_UPLOAD_FILES, MB


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name; each is cleaned like a single FileField's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        cleaned = super().clean(data, initial)
        return [cleaned] if cleaned else []


class ImportUploadForm(forms.Form):
    """Files to import and how: each file whole, only the valid invoices, or a check only."""

    EACH_FILE = "each_file"
    VALID_ONLY = "valid_only"
    CHECK_ONLY = "check_only"
    MODES = [
        (EACH_FILE, "Import each file completely or not at all"),
        (VALID_ONLY, "Import the valid invoices and report the rejected ones"),
        (CHECK_ONLY, "Check only: read and validate everything, import nothing"),
    ]

    # The form metaclass moves declared fields into base_fields: this does not hide BaseForm.files.
    files = MultipleFileField(  # type: ignore[assignment]
        required=False,
        widget=MultipleFileInput(attrs={"accept": ".xml,.pdf,.csv,text/xml,application/pdf"}),
    )
    mode = forms.ChoiceField(choices=MODES, initial=EACH_FILE, widget=forms.RadioSelect)
    decimal_mark = forms.ChoiceField(
        label="Decimals in CSV files",
        choices=[
            ("", "Read from the file"),
            (POINT, "Decimal point: 1,234.50"),
            (COMMA, "Decimal comma: 1.234,50"),
        ],
        required=False,
        widget=forms.RadioSelect,
    )

    def clean_files(self) -> list[UploadedFile]:
        files = self.cleaned_data["files"]
        if len(files) > MAX_UPLOAD_FILES:
            raise forms.ValidationError(f"Import at most {MAX_UPLOAD_FILES} files at once.")
        return files


class AttachmentForm(forms.Form):
    """The vendor's PDF or a scan, kept with the invoice."""

    attachments = MultipleFileField(
        required=False,
        label="Attachments",
        help_text=f"The vendor's PDF or a scan: {ATTACHMENT_KINDS}, up to "
        f"{MAX_ATTACHMENT_BYTES // MB} MB each.",
        widget=MultipleFileInput(attrs={"accept": ".pdf,.png,.jpg,.jpeg,.tif,.tiff"}),
    )

    def clean_attachments(self) -> list[UploadedFile]:
        files = self.cleaned_data["attachments"]
        errors = []
        for upload in files:
            try:
                check_attachment(upload)
            except DomainError as exc:
                errors.append(exc.message)
        if errors:
            raise forms.ValidationError(errors)
        return files
