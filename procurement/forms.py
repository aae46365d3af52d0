"""Forms for the procurement pages: they parse what was typed; the services decide."""

import datetime as dt
from decimal import Decimal
from typing import cast

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, User
from django.core.exceptions import ValidationError
from django.utils import timezone

from p2p import roles
from p2p.roles import Perm
from procurement.models import (
    Budget,
    Category,
    CostCenter,
    GLAccount,
    PurchaseOrderLine,
    PurchaseRequest,
)
from procurement.services.approvals import Decision
from procurement.services.attachments import ATTACHMENT_TYPES
from procurement.services.orders import PoLineEdit
from procurement.services.receipts import ReceiptLineInput
from procurement.services.requests import LineInput
from procurement.services.revisions import PoLineChange
from vendors.models import PaymentTerms, Vendor

CURRENCIES = ("EUR", "USD", "GBP", "CHF", "SEK", "DKK", "NOK", "PLN", "JPY")
_NUMBER = {"invalid": "Enter a number, e.g. 12 or 12.50."}


def _plain(value: Decimal) -> str:
    """12.5000 → '12.5', 850.0000 → '850' (never '8.5E+2') for form initial values."""
    return format(value.normalize(), "f")


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _quantity_input(placeholder: str = "") -> forms.NumberInput:
    return forms.NumberInput(
        attrs={"step": "any", "inputmode": "decimal", "placeholder": placeholder}
    )


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files from one input; the service checks type and size of each."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ",".join(ATTACHMENT_TYPES)}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None) -> list:
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data if item]
        return [super().clean(data, initial)] if data else []


class PurchaseRequestForm(forms.Form):
    """The header of a purchase request (new or being changed)."""

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
    attachments = MultipleFileField(
        required=False,
        label="Attachments",
        help_text="Quotes or specifications: PDF, images, Office documents, CSV or text, "
        "up to 10 MB each.",
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(
            forms.ModelChoiceField, self.fields["cost_center"]
        ).queryset = CostCenter.objects.filter(active=True)
        cast(forms.ModelChoiceField, self.fields["gl_account"]).queryset = GLAccount.objects.filter(
            active=True
        )
        self.fields["preferred_vendor"].widget.attrs["data-preferred-vendor"] = ""

    def clean_needed_by(self) -> dt.date | None:
        needed_by = self.cleaned_data["needed_by"]
        if needed_by and needed_by < timezone.localdate():
            raise ValidationError("The needed-by date is in the past.")
        return needed_by


class RequestLineForm(forms.Form):
    """One requested item: free text, or a contract item priced by the contract."""

    item_code = forms.CharField(
        max_length=40,
        required=False,
        label="Contract item",
        widget=forms.TextInput(
            attrs={"list": "contract-items", "placeholder": "Free text", "autocomplete": "off"}
        ),
    )
    description = forms.CharField(
        max_length=200, required=False, error_messages={"required": "Describe the item."}
    )
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
        required=False,
        label="Unit price",
        widget=_quantity_input("0.00"),
        error_messages={**_NUMBER, "required": "Enter a unit price."},
    )
    needed_by = forms.DateField(required=False, label="Needed by", widget=_date_input())

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if self.has_changed() and not data.get("DELETE"):
            contract_item = bool(data.get("item_code"))
            if (
                not contract_item
                and not data.get("description")
                and "description" not in self.errors
            ):
                self.add_error("description", "Describe the item.")
            if (
                not contract_item
                and data.get("unit_price") is None
                and "unit_price" not in self.errors
            ):
                self.add_error("unit_price", "Enter a unit price.")
        return data

    def clean_needed_by(self) -> dt.date | None:
        needed_by = self.cleaned_data["needed_by"]
        if needed_by and needed_by < timezone.localdate():
            raise ValidationError("The needed-by date is in the past.")
        return needed_by

    def clean_quantity(self) -> Decimal:
        quantity = self.cleaned_data["quantity"]
        if quantity <= 0:
            raise ValidationError("Quantity must be greater than zero.")
        return quantity

    def clean_unit_price(self) -> Decimal | None:
        unit_price = self.cleaned_data["unit_price"]
        if unit_price is not None and unit_price < 0:
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
                description=form.cleaned_data.get("description") or "",
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data.get("unit_price"),
                uom=form.cleaned_data.get("uom") or "EA",
                item_code=form.cleaned_data.get("item_code") or "",
                needed_by=form.cleaned_data.get("needed_by"),
            )
            for form in self.forms
            if form.has_changed() and form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]


RequestLineFormSet = cast(
    type[BaseRequestLineFormSet],
    forms.formset_factory(
        RequestLineForm, formset=BaseRequestLineFormSet, extra=1, can_delete=True, max_num=200
    ),
)
LINES_PREFIX = "lines"


class DecisionForm(forms.Form):
    """An approver's verdict on one step, with the reason when it is not an approval."""

    decision = forms.ChoiceField(choices=[(d, d) for d in Decision.ALL])
    comment = forms.CharField(required=False, max_length=2000)


class VendorTermsChoiceField(forms.ModelChoiceField):
    """Vendors listed with their payment terms, which the PO takes unless the buyer changes them."""

    def label_from_instance(self, obj: Vendor) -> str:
        return f"{obj.name} · {obj.payment_terms}"


class PurchaseOrderForm(forms.Form):
    """A buyer turns an approved request into a draft PO."""

    vendor = VendorTermsChoiceField(Vendor.objects.none(), empty_label="Choose a vendor")
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
        vendor_field = cast(forms.ModelChoiceField, self.fields["vendor"])
        vendor_field.queryset = Vendor.objects.filter(
            status=Vendor.Status.ACTIVE, currency=request.currency
        ).select_related("payment_terms")
        hint = f"Active vendors invoicing in {request.currency}."
        if request.preferred_vendor is not None:
            hint += f" Suggested by the requester: {request.preferred_vendor.name}"
        vendor_field.help_text = hint


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


ReceiptLineFormSet = cast(
    type[BaseReceiptLineFormSet],
    forms.formset_factory(ReceiptLineForm, formset=BaseReceiptLineFormSet, extra=0, max_num=1000),
)
RECEIPT_PREFIX = "receipt"


def request_initial(request: PurchaseRequest) -> tuple[dict, list[dict]]:
    """A request's header and lines as form initial data, for editing it."""
    header = {
        "title": request.title,
        "cost_center": request.cost_center_id,
        "gl_account": request.gl_account_id,
        "category": request.category,
        "currency": request.currency,
        "needed_by": request.needed_by,
        "preferred_vendor": request.preferred_vendor_id,
        "justification": request.justification,
    }
    lines = [
        {
            "item_code": line.item_code,
            "description": line.description,
            "quantity": _plain(line.quantity),
            "uom": line.uom,
            "unit_price": _plain(line.unit_price),
            "needed_by": line.needed_by,
        }
        for line in request.lines.all()
    ]
    return header, lines


class AttachmentForm(forms.Form):
    """Files added to a request from its page."""

    # Declared fields move to base_fields, so this does not shadow Form.files at run time.
    files = MultipleFileField(label="Add files")  # type: ignore[assignment]


# ---------- purchase orders ----------


class PoSelectionForm(forms.Form):
    """Buyers pick approved requests (and a vendor for each); one PO per vendor results."""

    payment_terms = forms.ModelChoiceField(
        PaymentTerms.objects.all(),
        required=False,
        label="Payment terms",
        empty_label="Each vendor's default terms",
    )
    ship_to = forms.CharField(
        required=False,
        label="Ship to",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Delivery address and contact, printed on every PO created here.",
    )

    def __init__(self, *args, requests: list[PurchaseRequest], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.requests = requests
        currencies = {request.currency for request in requests}
        vendors = list(
            Vendor.objects.filter(status=Vendor.Status.ACTIVE, currency__in=currencies).order_by(
                "name"
            )
        )
        for request in requests:
            self.fields[f"order_{request.pk}"] = forms.BooleanField(
                required=False, label=f"Order {request.number}"
            )
            choices = [("", "Choose a vendor")] + [
                (vendor.pk, vendor.name)
                for vendor in vendors
                if vendor.currency == request.currency
            ]
            self.fields[f"vendor_{request.pk}"] = forms.TypedChoiceField(
                choices=choices,
                coerce=int,
                required=False,
                label=f"Vendor for {request.number}",
                initial=request.preferred_vendor_id,
            )
        self.vendors = {vendor.pk: vendor for vendor in vendors}

    def rows(self) -> list[tuple]:
        """(request, its checkbox, its vendor select) per approved request."""
        return [
            (request, self[f"order_{request.pk}"], self[f"vendor_{request.pk}"])
            for request in self.requests
        ]

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        chosen = []
        for request in self.requests:
            if not data.get(f"order_{request.pk}"):
                continue
            vendor_id = data.get(f"vendor_{request.pk}")
            if not vendor_id:
                self.add_error(f"vendor_{request.pk}", f"Choose the vendor for {request.number}.")
                continue
            chosen.append((request, self.vendors[vendor_id]))
        if not chosen and not self.errors:
            raise ValidationError("Tick at least one request to order.")
        data["chosen"] = chosen
        return data


class PoHeaderForm(forms.Form):
    """Terms and delivery on a draft PO."""

    payment_terms = forms.ModelChoiceField(
        PaymentTerms.objects.all(),
        required=False,
        label="Payment terms",
        empty_label="Vendor's default terms",
    )
    ship_to = forms.CharField(
        required=False, label="Ship to", widget=forms.Textarea(attrs={"rows": 3})
    )


class CodeChoiceField(forms.ModelChoiceField):
    """GL accounts and cost centers listed by code alone, to fit a PO line's row."""

    def label_from_instance(self, obj: GLAccount | CostCenter) -> str:
        return obj.code


class PoLineForm(forms.Form):
    """One draft PO line: what, how many, at what price, coded where, matched how."""

    po_line_id = forms.IntegerField(widget=forms.HiddenInput)
    description = forms.CharField(max_length=200, error_messages={"required": "Describe the item."})
    quantity = forms.DecimalField(
        max_digits=18,
        decimal_places=4,
        widget=_quantity_input(),
        error_messages={**_NUMBER, "required": "Enter a quantity."},
    )
    unit_price = forms.DecimalField(
        max_digits=18,
        decimal_places=4,
        label="Unit price",
        widget=_quantity_input(),
        error_messages={**_NUMBER, "required": "Enter a unit price."},
    )
    gl_account = CodeChoiceField(
        GLAccount.objects.filter(active=True),
        required=False,
        label="GL account",
        empty_label="— not coded —",
    )
    cost_center = CodeChoiceField(
        CostCenter.objects.filter(active=True),
        required=False,
        label="Cost center",
        empty_label="— not coded —",
    )
    match_type = forms.ChoiceField(choices=PurchaseOrderLine.MatchType.choices, label="Match")
    remove = forms.BooleanField(required=False, label="Remove")


class BasePoLineFormSet(forms.BaseFormSet):
    def line_edits(self) -> list[PoLineEdit]:
        return [
            PoLineEdit(
                po_line_id=form.cleaned_data["po_line_id"],
                description=form.cleaned_data["description"],
                quantity=form.cleaned_data["quantity"],
                unit_price=form.cleaned_data["unit_price"],
                gl_account_id=form.cleaned_data["gl_account"].pk
                if form.cleaned_data.get("gl_account")
                else None,
                cost_center_id=form.cleaned_data["cost_center"].pk
                if form.cleaned_data.get("cost_center")
                else None,
                match_type=form.cleaned_data["match_type"],
                remove=form.cleaned_data.get("remove", False),
            )
            for form in self.forms
        ]


PoLineFormSet = cast(
    type[BasePoLineFormSet],
    forms.formset_factory(PoLineForm, formset=BasePoLineFormSet, extra=0, max_num=1000),
)
PO_LINES_PREFIX = "po"


def po_line_initial(line: PurchaseOrderLine) -> dict:
    return {
        "po_line_id": line.pk,
        "description": line.description,
        "quantity": _plain(line.quantity),
        "unit_price": _plain(line.unit_price),
        "gl_account": line.gl_account_id,
        "cost_center": line.cost_center_id,
        "match_type": line.match_type,
    }


class IssueForm(forms.Form):
    """Issuing a PO: confirm contract price deviations, and whether to email the vendor."""

    confirm_contract_prices = forms.BooleanField(
        required=False, label="I have checked the prices that differ from the contract"
    )
    send_to_vendor = forms.BooleanField(required=False, label="Email the PO to the vendor")


class ReasonForm(forms.Form):
    """Why a PO is closed or cancelled."""

    reason = forms.CharField(max_length=500, required=False, widget=forms.TextInput())


class SendForm(forms.Form):
    """Where to send the PO; blank means the vendor's address."""

    to = forms.CharField(required=False, max_length=500, label="Send to")

    def recipients(self) -> list[str] | None:
        raw = self.cleaned_data.get("to") or ""
        addresses = [part.strip() for part in raw.replace(";", ",").split(",") if part.strip()]
        return addresses or None


class ReviseForm(forms.Form):
    """The reason for a change order; the lines come in ReviseLineFormSet."""

    reason = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Say why the order changes."},
        help_text="The vendor and AP see this on the revision.",
    )


class ReviseLineForm(forms.Form):
    """New quantity and/or price for one issued line; blank keeps the current value."""

    po_line_id = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.DecimalField(
        required=False,
        max_digits=18,
        decimal_places=4,
        widget=_quantity_input(),
        error_messages=_NUMBER,
    )
    unit_price = forms.DecimalField(
        required=False,
        max_digits=18,
        decimal_places=4,
        widget=_quantity_input(),
        error_messages=_NUMBER,
    )


class BaseReviseLineFormSet(forms.BaseFormSet):
    def changes(self) -> list[PoLineChange]:
        return [
            PoLineChange(
                po_line_id=form.cleaned_data["po_line_id"],
                quantity=form.cleaned_data.get("quantity"),
                unit_price=form.cleaned_data.get("unit_price"),
            )
            for form in self.forms
            if form.cleaned_data.get("quantity") is not None
            or form.cleaned_data.get("unit_price") is not None
        ]


ReviseLineFormSet = cast(
    type[BaseReviseLineFormSet],
    forms.formset_factory(ReviseLineForm, formset=BaseReviseLineFormSet, extra=0, max_num=1000),
)
REVISE_PREFIX = "rev"


# ---------- approvals: delegation and rules ----------


def _people_with(*role_names: str):
    return (
        get_user_model()
        .objects.filter(is_active=True, groups__name__in=role_names)
        .distinct()
        .order_by("first_name", "username")
    )


class PersonChoiceField(forms.ModelChoiceField):
    """People listed by full name, falling back to the username."""

    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name() or obj.username


class RoleChoiceField(forms.ModelChoiceField):
    """Role groups listed as words: "ap_manager" reads "Ap manager"."""

    def label_from_instance(self, obj: Group) -> str:
        return obj.name.replace("_", " ").capitalize()


class DelegationForm(forms.Form):
    """Who stands in for me, and when."""

    to_user = PersonChoiceField(
        get_user_model().objects.none(), label="Stand-in", empty_label="Choose a colleague"
    )
    start_date = forms.DateField(label="First day away", widget=_date_input())
    end_date = forms.DateField(label="Last day away", widget=_date_input())
    reason = forms.CharField(required=False, max_length=200, help_text="e.g. holiday, conference")

    def __init__(self, *args, user, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        cast(PersonChoiceField, self.fields["to_user"]).queryset = _people_with(
            *roles.holders(Perm.APPROVE_REQUEST)
        ).exclude(pk=user.pk)

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if (
            data.get("start_date")
            and data.get("end_date")
            and data["end_date"] < data["start_date"]
        ):
            self.add_error("end_date", "The last day is before the first day.")
        return data


class ApprovalRuleForm(forms.Form):
    """One approval rule as finance keeps it."""

    name = forms.CharField(max_length=100)
    step = forms.IntegerField(min_value=1, max_value=20, initial=1, help_text="1 decides first.")
    min_amount = forms.DecimalField(
        max_digits=18, decimal_places=2, initial=0, label="From amount", help_text="Inclusive."
    )
    max_amount = forms.DecimalField(
        max_digits=18,
        decimal_places=2,
        required=False,
        label="Below amount",
        help_text="Blank means no upper limit.",
    )
    cost_center = forms.ModelChoiceField(
        CostCenter.objects.all(), required=False, empty_label="Any cost center"
    )
    department = forms.ChoiceField(required=False, choices=())
    category = forms.ChoiceField(required=False, choices=[("", "Any category"), *Category.choices])
    approver_group = RoleChoiceField(
        Group.objects.filter(name__in=roles.holders(Perm.APPROVE_REQUEST)),
        required=False,
        label="Approver group",
        empty_label="No group",
    )
    approver_user = PersonChoiceField(
        get_user_model().objects.none(),
        required=False,
        label="Named approver",
        empty_label="Nobody by name",
        help_text="A named approver decides alone; if they raised the request, the group decides.",
    )
    active = forms.BooleanField(required=False, initial=True)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        departments = (
            CostCenter.objects.order_by("department")
            .values_list("department", flat=True)
            .distinct()
        )
        cast(forms.ChoiceField, self.fields["department"]).choices = [("", "Any department")] + [
            (name, name) for name in departments
        ]
        cast(PersonChoiceField, self.fields["approver_user"]).queryset = _people_with(
            *roles.holders(Perm.APPROVE_REQUEST)
        )

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        if not data.get("approver_group") and not data.get("approver_user"):
            raise ValidationError("Name an approver: a group, a person, or both.")
        low, high = data.get("min_amount"), data.get("max_amount")
        if low is not None and high is not None and high <= low:
            self.add_error("max_amount", "The upper bound must be above the lower bound.")
        return data


class BudgetForm(forms.Form):
    """A cost center's budget for a period (optionally for one GL account)."""

    cost_center = forms.ModelChoiceField(
        CostCenter.objects.filter(active=True), empty_label="Choose a cost center"
    )
    gl_account = forms.ModelChoiceField(
        GLAccount.objects.filter(active=True),
        required=False,
        label="GL account",
        empty_label="All GL accounts",
    )
    period_start = forms.DateField(label="From", widget=_date_input())
    period_end = forms.DateField(label="To", widget=_date_input())
    amount = forms.DecimalField(max_digits=18, decimal_places=2, min_value=0)
    currency = forms.ChoiceField(choices=[(c, c) for c in CURRENCIES], initial="EUR")
    overrun_policy = forms.ChoiceField(
        choices=Budget.Overrun.choices,
        initial=Budget.Overrun.APPROVE,
        label="When a request goes over",
    )
    note = forms.CharField(required=False, max_length=200)

    def clean(self) -> dict:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("period_start"), data.get("period_end")
        if start and end and end < start:
            self.add_error("period_end", "The period ends before it starts.")
        return data
