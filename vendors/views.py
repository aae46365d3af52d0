"""Vendor pages: the vendor master, bank-detail maker-checker, payment holds, contracts and
the CSV import.

Views parse input with a form, call one service and turn DomainError into a message;
NotAllowed from a service bubbles up as a 403. Bank details are shown masked
everywhere; the full IBAN never reaches a template.
"""

from typing import cast

from django.contrib import messages
from django.core.files.uploadedfile import UploadedFile
from django.core.paginator import Paginator
from django.db.models import Prefetch, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from p2p import roles
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.models import AuditEvent
from p2p.roles import Perm
from vendors import selectors, services
from vendors.filters import ContractFilter, VendorFilter
from vendors.forms import (
    LINES_PREFIX,
    BankChangeForm,
    BankVerifyForm,
    ContractForm,
    ContractLineFormSet,
    ReasonForm,
    StatusForm,
    VendorForm,
    VendorImportForm,
)
from vendors.models import BankAccount, Contract, PaymentTerms, Vendor, VendorImport

PAGE_SIZE = 50
TIMELINE_EVENTS = 50


def _page(request: AuthenticatedHttpRequest, rows: QuerySet):
    return Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))


def _section(request: AuthenticatedHttpRequest, active: str) -> dict:
    """Context for the vendor area's tabs: which is current (perms_p2p says which show)."""
    return {
        "active": active,
    }


def vendor_list_queryset() -> QuerySet:
    """Vendors with their terms and live bank accounts (verified or awaiting verification)."""
    live_accounts = BankAccount.objects.filter(
        status__in=(BankAccount.Status.VERIFIED, BankAccount.Status.PENDING)
    ).order_by("vendor_id", "-requested_at", "-id")
    return (
        Vendor.objects.select_related("payment_terms")
        .prefetch_related(
            Prefetch("bank_accounts", queryset=live_accounts, to_attr="live_accounts")
        )
        .order_by("name", "id")
    )


def _first(accounts: list[BankAccount], status: str) -> BankAccount | None:
    return next((account for account in accounts if account.status == status), None)


@roles.role_required(Perm.READ_VENDORS)
@require_GET
def vendor_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Every vendor with its terms, status and whether its bank details are verified."""
    vendor_filter = VendorFilter(request.GET or None, queryset=vendor_list_queryset())
    page = _page(request, vendor_filter.qs)
    for vendor in page.object_list:
        vendor.verified_account = _first(vendor.live_accounts, BankAccount.Status.VERIFIED)
        vendor.pending_account = _first(vendor.live_accounts, BankAccount.Status.PENDING)
    return render(
        request,
        "vendors/vendor_list.html",
        {
            "filter": vendor_filter,
            "page": page,
            "filtered": any(request.GET.get(key) for key in ("q", "status", "country")),
            "can_edit": roles.may(request.user, Perm.EDIT_VENDORS),
            **_section(request, "vendors"),
        },
    )


def _render_vendor_form(
    request: AuthenticatedHttpRequest, form: VendorForm, vendor: Vendor | None, duplicates: list
) -> HttpResponse:
    return render(
        request,
        "vendors/vendor_form.html",
        {"form": form, "vendor": vendor, "duplicates": duplicates},
    )


@roles.role_required(Perm.EDIT_VENDORS)
@require_http_methods(["GET", "POST"])
def vendor_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new vendor in onboarding; duplicates are refused (tax id) or shown for confirmation."""
    duplicates: list = []
    if request.method != "POST":
        return _render_vendor_form(request, VendorForm(), None, duplicates)
    form = VendorForm(request.POST)
    if form.is_valid():
        details = form.details()
        try:
            vendor = services.vendor_create(
                by=request.user,
                **details.__dict__,
                bank=form.bank(),
                confirm_duplicates=form.cleaned_data["confirm_duplicates"],
            )
        except services.PossibleDuplicate as exc:
            duplicates = exc.matches
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"{vendor.name} registered and onboarding. Activate it to order from and pay it.",
            )
            return redirect("vendors:vendor_detail", pk=vendor.pk)
    return _render_vendor_form(request, form, None, duplicates)


@roles.role_required(Perm.EDIT_VENDORS)
@require_http_methods(["GET", "POST"])
def vendor_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Change a vendor's master data (bank details change through the maker-checker)."""
    vendor = get_object_or_404(Vendor.objects.select_related("payment_terms"), pk=pk)
    duplicates: list = []
    if request.method != "POST":
        form = VendorForm(initial=VendorForm.initial_for(vendor), with_bank=False)
        return _render_vendor_form(request, form, vendor, duplicates)
    form = VendorForm(request.POST, with_bank=False)
    if form.is_valid():
        try:
            services.vendor_update(
                vendor=vendor,
                by=request.user,
                details=form.details(),
                confirm_duplicates=form.cleaned_data["confirm_duplicates"],
            )
        except services.PossibleDuplicate as exc:
            duplicates = exc.matches
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"{form.cleaned_data['name']} saved.")
            return redirect("vendors:vendor_detail", pk=vendor.pk)
    return _render_vendor_form(request, form, vendor, duplicates)


@roles.role_required(Perm.READ_VENDORS)
@require_GET
def vendor_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One vendor: facts, payment hold, bank accounts, scorecard, contracts, open documents."""
    vendor = get_object_or_404(
        Vendor.objects.with_payment_hold().select_related("payment_terms"), pk=pk
    )
    if request.htmx and request.htmx.target == "scorecard":
        return render(request, "vendors/_scorecard.html", {"vendor": vendor})
    user = request.user
    bank_accounts = list(
        vendor.bank_accounts.select_related("requested_by", "verified_by").order_by(
            "-requested_at", "-id"
        )
    )
    pending = _first(bank_accounts, BankAccount.Status.PENDING)
    contracts = selectors.contract_list().filter(vendor=vendor).order_by("-valid_to", "-id")[:10]
    refs = [("vendors.vendor", vendor.pk)] + [("vendors.bankaccount", a.pk) for a in bank_accounts]
    # The newest events, shown oldest first like every other timeline.
    events = list(AuditEvent.objects.for_objects(refs).order_by("-at", "-id")[:TIMELINE_EVENTS])
    events.reverse()
    can_edit = roles.may(user, Perm.EDIT_VENDORS)
    return render(
        request,
        "vendors/vendor_detail.html",
        {
            "vendor": vendor,
            "bank_accounts": bank_accounts,
            "pending": pending,
            "hold_reasons": selectors.hold_reasons(vendor),
            "contracts": contracts,
            "events": events,
            "can_open_runs": roles.may(user, Perm.READ_PAYMENTS),
            "can_edit": can_edit,
            "can_request_bank": roles.may(user, Perm.REQUEST_BANK_CHANGE) and pending is None,
            "can_verify": pending is not None
            and pending.requested_by_id != user.pk
            and roles.may(user, Perm.APPROVE_BANK_CHANGE),
            "can_reject": pending is not None and roles.may(user, Perm.REQUEST_BANK_CHANGE),
            "can_contract": roles.may(user, Perm.EDIT_CONTRACTS),
            "status_form": StatusForm(),
            "bank_form": BankChangeForm(initial={"account_holder": vendor.name}),
            "verify_form": BankVerifyForm(),
            "reject_form": ReasonForm(),
        },
    )


@roles.role_required(Perm.EDIT_VENDORS)
@require_POST
def vendor_set_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Activate or block the vendor, with a reason."""
    vendor = get_object_or_404(Vendor, pk=pk)
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
        return redirect("vendors:vendor_detail", pk=pk)
    try:
        vendor = services.vendor_set_status(
            vendor=vendor,
            status=form.cleaned_data["status"],
            by=request.user,
            note=form.cleaned_data["reason"],
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{vendor.name} is now {vendor.get_status_display().lower()}.")
    return redirect("vendors:vendor_detail", pk=pk)


def _form_errors(form) -> str:
    return " ".join(error for errors in form.errors.values() for error in errors)


@roles.role_required(Perm.REQUEST_BANK_CHANGE)
@require_POST
def bank_change_request(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Enter new bank details; payments hold until someone else verifies them."""
    vendor = get_object_or_404(Vendor, pk=pk)
    form = BankChangeForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("vendors:vendor_detail", pk=pk)
    try:
        account = services.bank_account_request(vendor=vendor, by=request.user, **form.cleaned_data)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request,
            f"Bank change to {account.masked_iban} recorded. Payments to {vendor.name} are held "
            "until a second person verifies it.",
        )
    return redirect("vendors:vendor_detail", pk=pk)


@roles.role_required(Perm.APPROVE_BANK_CHANGE)
@require_POST
def bank_change_verify(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The second person confirms the change by re-keying the IBAN."""
    account = get_object_or_404(BankAccount.objects.select_related("vendor"), pk=pk)
    form = BankVerifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return redirect("vendors:vendor_detail", pk=account.vendor_id)
    try:
        account = services.bank_account_verify(
            account=account, by=request.user, confirm_iban=form.cleaned_data["confirm_iban"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"{account.masked_iban} verified; {account.vendor.name} can be paid again."
        )
    return redirect("vendors:vendor_detail", pk=account.vendor_id)


@roles.role_required(Perm.REQUEST_BANK_CHANGE)
@require_POST
def bank_change_reject(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Turn down a pending bank change."""
    account = get_object_or_404(BankAccount.objects.select_related("vendor"), pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the bank change is rejected.")
        return redirect("vendors:vendor_detail", pk=account.vendor_id)
    try:
        account = services.bank_account_reject(
            account=account, by=request.user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Bank change to {account.masked_iban} rejected.")
    return redirect("vendors:vendor_detail", pk=account.vendor_id)


# --- payment holds ----------------------------------------------------------------------------


@roles.role_required(Perm.READ_PAYMENT_HOLDS)
@require_GET
def payment_holds(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Vendors whose invoices payment runs leave out, why, and how much is held.

    The list counts AP's invoices, so the template loads it from payables
    (`payment_hold_page`); this view only reads which list was asked for.
    """
    only_held = request.GET.get("show") != "all"
    return render(
        request,
        "vendors/payment_holds.html",
        {"only_held": only_held, **_section(request, "holds")},
    )


# --- contracts --------------------------------------------------------------------------------


@roles.role_required(Perm.READ_VENDORS)
@require_GET
def contract_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Contracts and their validity, filterable by vendor, status and item."""
    contract_filter = ContractFilter(
        request.GET or None, queryset=selectors.contract_list().order_by("-valid_to", "-id")
    )
    return render(
        request,
        "vendors/contract_list.html",
        {
            "filter": contract_filter,
            "page": _page(request, contract_filter.qs),
            "filtered": any(request.GET.get(k) for k in ("q", "status", "vendor")),
            "can_contract": roles.may(request.user, Perm.EDIT_CONTRACTS),
            **_section(request, "contracts"),
        },
    )


def _render_contract_form(request, form, lines, contract=None) -> HttpResponse:
    return render(
        request,
        "vendors/contract_form.html",
        {"form": form, "lines": lines, "contract": contract},
    )


@roles.role_required(Perm.EDIT_CONTRACTS)
@require_http_methods(["GET", "POST"])
def contract_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A draft contract with its rate card."""
    if request.method != "POST":
        today = timezone.localdate()
        initial = {"valid_from": today, "valid_to": today.replace(month=12, day=31)}
        vendor = Vendor.objects.filter(pk=request.GET.get("vendor") or 0).first()
        if vendor is not None:
            initial.update(vendor=vendor.pk, currency=vendor.currency)
        form = ContractForm(initial=initial)
        return _render_contract_form(request, form, ContractLineFormSet(prefix=LINES_PREFIX))
    form = ContractForm(request.POST)
    lines = ContractLineFormSet(request.POST, prefix=LINES_PREFIX)
    if form.is_valid() and lines.is_valid():
        data = form.cleaned_data
        try:
            contract = services.contract_create(
                by=request.user,
                vendor=data["vendor"],
                number=data["number"],
                title=data["title"],
                currency=data["currency"],
                valid_from=data["valid_from"],
                valid_to=data["valid_to"],
                notes=data["notes"],
                lines=lines.line_inputs(),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(
                request,
                f"Contract {contract.number} saved as a draft; activate it to use its prices.",
            )
            return redirect("vendors:contract_detail", pk=contract.pk)
    return _render_contract_form(request, form, lines)


@roles.role_required(Perm.EDIT_CONTRACTS)
@require_http_methods(["GET", "POST"])
def contract_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Edit a draft contract and its rate card."""
    contract = get_object_or_404(Contract.objects.select_related("vendor"), pk=pk)
    if request.method != "POST":
        form = ContractForm(
            editing=True,
            initial={
                "title": contract.title,
                "currency": contract.currency,
                "valid_from": contract.valid_from,
                "valid_to": contract.valid_to,
                "notes": contract.notes,
            },
        )
        lines = ContractLineFormSet(
            prefix=LINES_PREFIX,
            initial=[
                {
                    "item_code": line.item_code,
                    "description": line.description,
                    "uom": line.uom,
                    "unit_price": line.unit_price,
                }
                for line in contract.lines.all()
            ],
        )
        return _render_contract_form(request, form, lines, contract)
    form = ContractForm(request.POST, editing=True)
    lines = ContractLineFormSet(request.POST, prefix=LINES_PREFIX)
    if form.is_valid() and lines.is_valid():
        data = form.cleaned_data
        try:
            services.contract_update(
                contract=contract,
                by=request.user,
                title=data["title"],
                currency=data["currency"],
                valid_from=data["valid_from"],
                valid_to=data["valid_to"],
                notes=data["notes"],
                lines=lines.line_inputs(),
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Contract {contract.number} saved.")
            return redirect("vendors:contract_detail", pk=contract.pk)
    return _render_contract_form(request, form, lines, contract)


@roles.role_required(Perm.EDIT_CONTRACTS)
@require_GET
def contract_line_row(request: AuthenticatedHttpRequest) -> HttpResponse:
    """htmx: one empty rate-card row for the contract form."""
    try:
        index = max(int(request.GET.get(f"{LINES_PREFIX}-TOTAL_FORMS", "1")), 0)
    except ValueError:
        index = 1
    formset = ContractLineFormSet(prefix=LINES_PREFIX)
    return render(
        request,
        "vendors/_contract_line_row.html",
        # Django's own way to build the row at an index; the stubs leave private methods out.
        {"line": formset._construct_form(index), "next_total": index + 1},  # type: ignore[attr-defined]
    )


@roles.role_required(Perm.READ_VENDORS)
@require_GET
def contract_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """A contract, its rate card and its history."""
    contract = get_object_or_404(Contract.objects.select_related("vendor", "created_by"), pk=pk)
    can_contract = roles.may(request.user, Perm.EDIT_CONTRACTS)
    return render(
        request,
        "vendors/contract_detail.html",
        {
            "contract": contract,
            "lines": contract.lines.all(),
            "events": AuditEvent.objects.for_objects([("vendors.contract", contract.pk)]),
            "in_force": contract.status == Contract.Status.ACTIVE
            and contract.valid_from <= timezone.localdate() <= contract.valid_to,
            "can_edit": can_contract and contract.status == Contract.Status.DRAFT,
            "can_activate": can_contract and contract.status == Contract.Status.DRAFT,
            "can_terminate": can_contract
            and contract.status in (Contract.Status.DRAFT, Contract.Status.ACTIVE),
            "terminate_form": ReasonForm(),
        },
    )


@roles.role_required(Perm.EDIT_CONTRACTS)
@require_POST
def contract_activate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Put a draft contract's prices in force."""
    contract = get_object_or_404(Contract, pk=pk)
    try:
        contract = services.contract_activate(contract=contract, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Contract {contract.number} is active; buyers can order its items."
        )
    return redirect("vendors:contract_detail", pk=pk)


@roles.role_required(Perm.EDIT_CONTRACTS)
@require_POST
def contract_terminate(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """End a contract (or drop a draft), with a reason."""
    contract = get_object_or_404(Contract, pk=pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Say why the contract is terminated.")
        return redirect("vendors:contract_detail", pk=pk)
    try:
        contract = services.contract_terminate(
            contract=contract, by=request.user, reason=form.cleaned_data["reason"]
        )
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"Contract {contract.number} terminated; its prices no longer apply."
        )
    return redirect("vendors:contract_detail", pk=pk)


# --- CSV import -------------------------------------------------------------------------------

SAMPLE_CSV = (
    "name,tax_id,country,currency,payment_terms,email,iban,bic,account_holder,remit_to\n"
    "Kantoorhuis Van Dijk B.V.,NL853296741B01,NL,EUR,NET30,facturen@example.nl,"
    "NL91ABNA0417164300,ABNANL2A,Kantoorhuis Van Dijk B.V.,Utrecht\n"
)


@roles.role_required(Perm.EDIT_VENDORS)
@require_http_methods(["GET", "POST"])
def vendor_import(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Upload a CSV file of vendors; the checking and import run in the background."""
    form = VendorImportForm()
    if request.method == "POST":
        form = VendorImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                vendor_import = services.vendor_import_start(
                    by=request.user,
                    # The form checked it is one named file; cleaned_data holds its text.
                    file_name=cast(UploadedFile, request.FILES["file"]).name or "",
                    content=form.cleaned_data["file"],
                    valid_rows_only=form.cleaned_data["valid_rows_only"],
                )
            except DomainError as exc:
                form.add_error("file", exc.message)
            else:
                return redirect("vendors:import_detail", pk=vendor_import.pk)
    recent = VendorImport.objects.select_related("created_by").defer("content").order_by("-id")[:10]
    return render(
        request,
        "vendors/import_form.html",
        {
            "form": form,
            "recent": recent,
            "terms": PaymentTerms.objects.all(),
            **_section(request, "imports"),
        },
    )


@roles.role_required(Perm.EDIT_VENDORS)
@require_GET
def vendor_import_sample(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A sample file with the expected columns."""
    response = HttpResponse(SAMPLE_CSV, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="vendors-sample.csv"'
    return response


def _import_context(vendor_import: VendorImport) -> dict:
    return {
        "job": vendor_import,
        "finished": vendor_import.status in VendorImport.FINISHED,
        "valid_rows": max(vendor_import.total_rows - vendor_import.error_lines, 0),
        "percent": int(vendor_import.progress * 100),
    }


@roles.role_required(Perm.EDIT_VENDORS)
@require_GET
def vendor_import_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The import's progress while it runs, then its report: every bad row by line number."""
    vendor_import = get_object_or_404(
        VendorImport.objects.defer("content").select_related("created_by"), pk=pk
    )
    return render(request, "vendors/import_detail.html", _import_context(vendor_import))


@roles.role_required(Perm.EDIT_VENDORS)
@require_GET
def vendor_import_status(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """htmx polling target: the progress bar, or the full report once the import finished."""
    vendor_import = get_object_or_404(VendorImport.objects.defer("content"), pk=pk)
    response = render(request, "vendors/_import_status.html", _import_context(vendor_import))
    if vendor_import.status in VendorImport.FINISHED:
        # Swap the whole page once: the report has buttons and tables the poller lacks.
        response["HX-Refresh"] = "true"
    return response


@roles.role_required(Perm.EDIT_VENDORS)
@require_POST
def vendor_import_valid_rows(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Import the good rows of a rejected file."""
    vendor_import = get_object_or_404(VendorImport, pk=pk)
    try:
        services.vendor_import_valid_rows(vendor_import=vendor_import, by=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
    return redirect(reverse("vendors:import_detail", args=[pk]))
