"""Forms for working exceptions: one per action. They parse input; the services decide."""

from decimal import Decimal
from typing import Any, TypedDict, cast

from django import forms
from django.utils import timezone

from payables.forms.invoices import DateInput
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.services.exceptions import (
    ACTIONS,
    ExceptionAction,
    action_choices,
)
from payables.services.resolutions import credit_notes_for
from procurement.models import CostCenter, GLAccount, PurchaseOrderLine

RootCause = InvoiceException.RootCause


class _Digits(TypedDict):
    max_digits: int
    decimal_places: int


MONEY: _Digits = {"max_digits": 18, "decimal_places": 2}
QUANTITY: _Digits = {"max_digits": 18, "decimal_places": 4}


def _root_cause_field(**kwargs: Any) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=RootCause.choices,
        help_text="Procurement fixes the source of the problem with this.",
        **kwargs,
    )


def _note_field(label: str = "Note", required: bool = False) -> forms.CharField:
    return forms.CharField(
        label=label,
        required=required,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class ActionForm(forms.Form):
    """Base: knows its exception, so choices and defaults can follow it.

    An action whose input is a root cause and a note needs no form of its own: form_for
    builds one from its registry entry. A subclass naming its `action` replaces that.
    """

    action: str = ""
    note = _note_field()
    _custom: dict[str, type["ActionForm"]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.action:
            ActionForm._custom[cls.action] = cls

    def __init__(self, *args: Any, exception: InvoiceException, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"id_{exception.pk}_{self.action}_%s")
        super().__init__(*args, **kwargs)
        self.exception = exception
        if "root_cause" in self.fields and not self.is_bound:
            self.initial.setdefault("root_cause", self.default_root_cause())

    def default_root_cause(self) -> str:
        return (
            ACTIONS[self.action].root_cause
            or self.exception.root_cause
            or self.exception.suggested_root_cause
        )


class CreditRequestForm(ActionForm):
    """Ask the vendor for a credit note (emailed to their contact)."""

    action = "request_credit_note"
    root_cause = _root_cause_field()
    amount = forms.DecimalField(
        label="Credit note amount",
        required=False,
        min_value=Decimal("0.01"),
        help_text="Leave empty to ask for the amount at stake.",
        **MONEY,
    )
    note = _note_field("Message to the vendor")
    field_order = ["amount", "root_cause", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["amount"].widget.attrs["placeholder"] = str(self.exception.amount_at_stake)


class CreditSettleForm(ActionForm):
    """Close the exception against a credit note the vendor sent."""

    action = "settle_credit_note"
    credit_note: "forms.ModelChoiceField[Invoice]" = forms.ModelChoiceField(
        queryset=None, empty_label="Choose the credit note…", label="Credit note"
    )
    field_order = ["credit_note", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        credit_note = cast(forms.ModelChoiceField, self.fields["credit_note"])
        credit_note.queryset = credit_notes_for(self.exception)
        # Django calls the instance attribute: a label for this form, without a field subclass.
        credit_note.label_from_instance = lambda note: (  # type: ignore[method-assign,assignment]
            f"{note.number} · {note.net_amount} {note.currency} net · {note.invoice_date:%d %b %Y}"
        )


class CorrectPoForm(ActionForm):
    """Revise the PO line to what was really agreed."""

    action = "correct_po"
    unit_price = forms.DecimalField(label="Correct unit price", required=False, **QUANTITY)
    quantity = forms.DecimalField(label="Correct quantity", required=False, **QUANTITY)
    root_cause = _root_cause_field()
    note = _note_field("Reason for the revision", required=True)
    field_order = ["unit_price", "quantity", "root_cause", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        line = self.exception.invoice_line
        if line is not None and not self.is_bound:
            self.fields["unit_price"].initial = line.unit_price.normalize()

    def default_root_cause(self) -> str:
        return RootCause.STALE_PO_PRICE

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if cleaned.get("unit_price") is None and cleaned.get("quantity") is None:
            raise forms.ValidationError("Enter the corrected unit price or quantity.")
        return cleaned


class ReceiptForm(ActionForm):
    """Record what arrived on the PO line."""

    action = "post_receipt"
    quantity = forms.DecimalField(
        label="Quantity received", min_value=Decimal("0.0001"), **QUANTITY
    )
    received_on = forms.DateField(label="Received on", widget=DateInput)
    field_order = ["quantity", "received_on", "note"]

    def __init__(self, *args: Any, shortfall: Decimal | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.fields["received_on"].initial = timezone.localdate()
            if shortfall:
                self.fields["quantity"].initial = shortfall.normalize()


class RecodeForm(ActionForm):
    """Point the line at the right PO line, GL account or cost center."""

    action = "recode"
    po_line = forms.ModelChoiceField(
        queryset=PurchaseOrderLine.objects.none(), required=False, empty_label="Keep as it is"
    )
    gl_account = forms.ModelChoiceField(
        queryset=GLAccount.objects.filter(active=True),
        required=False,
        empty_label="Keep as it is",
        label="GL account",
    )
    cost_center = forms.ModelChoiceField(
        queryset=CostCenter.objects.filter(active=True),
        required=False,
        empty_label="Keep as it is",
    )
    root_cause = _root_cause_field()
    field_order = ["po_line", "gl_account", "cost_center", "root_cause", "note"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        po_id = self.exception.invoice.purchase_order_id
        if po_id is None:
            del self.fields["po_line"]
        else:
            po_line = cast(forms.ModelChoiceField, self.fields["po_line"])
            po_line.queryset = PurchaseOrderLine.objects.filter(purchase_order_id=po_id).order_by(
                "line_no"
            )
            po_line.label = "Bills PO line"
            # Django calls the instance attribute: a label for this form, without a field subclass.
            po_line.label_from_instance = lambda line: (  # type: ignore[method-assign,assignment]
                f"{line.line_no} · {line.description} · {line.unit_price.normalize():f}"
            )

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        if not any(cleaned.get(name) for name in ("po_line", "gl_account", "cost_center")):
            raise forms.ValidationError("Choose the PO line, GL account or cost center to change.")
        return cleaned


class RejectForm(ActionForm):
    """Send the invoice back with a reason the vendor receives."""

    action = "reject_invoice"
    root_cause = _root_cause_field()
    note = _note_field("Reason (sent to the vendor)", required=True)
    field_order = ["note", "root_cause"]


def form_for(entry: ExceptionAction) -> type[ActionForm]:
    """The action's own form, or one built from what its registry entry asks for."""
    if entry.name in ActionForm._custom:
        return ActionForm._custom[entry.name]
    fields: dict[str, forms.Field] = {
        "note": _note_field(required=any(name == "note" for name, _ in entry.required))
    }
    if entry.asks_root_cause:
        fields = {"root_cause": _root_cause_field(), **fields}
    attrs = {"action": "", "__doc__": entry.label, **fields}
    form: type[ActionForm] = type(
        f"{entry.name.title().replace('_', '')}Form", (ActionForm,), attrs
    )
    form.action = entry.name
    return form


class CommentForm(forms.Form):
    """A comment; @username brings a colleague in."""

    body = forms.CharField(
        label="Comment",
        max_length=4000,
        widget=forms.Textarea(
            attrs={"rows": 2, "placeholder": "Write a note… @name to ask someone"}
        ),
    )


class BulkForm(forms.Form):
    """One resolution for the selected exceptions."""

    ids = forms.TypedMultipleChoiceField(coerce=int, choices=(), label="Exceptions")
    action = forms.ChoiceField(choices=lambda: action_choices(bulk=True), label="Apply")
    root_cause = _root_cause_field()
    max_amount = forms.DecimalField(
        label="Only up to (at stake)",
        required=False,
        min_value=Decimal("0"),
        help_text="Skip exceptions with more at stake than this.",
        **MONEY,
    )
    note = forms.CharField(label="Note / reason", required=False, max_length=2000)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Any id is accepted here; the service checks each one exists and who may resolve it.
        ids = cast(forms.TypedMultipleChoiceField, self.fields["ids"])
        ids.valid_value = lambda value: str(value).isdigit()  # type: ignore[method-assign]

    def clean_ids(self) -> list[int]:
        ids = self.cleaned_data["ids"]
        if not ids:
            raise forms.ValidationError("Select at least one exception.")
        return ids
