"""Payment pages: runs and their steps, bank files, remittance advice, cash calendar, settings."""

from collections.abc import Callable

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from p2p import roles
from p2p.accounts import password_confirmation_required
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.models import AuditEvent
from p2p.roles import Perm, role_required
from payables.forms.payments import (
    CALENDAR_WEEKS,
    AddInvoiceForm,
    BankConfirmForm,
    CalendarForm,
    CancelForm,
    CompanySettingsForm,
    MarkPaidForm,
    PaymentRunProposeForm,
    ReasonForm,
)
from payables.models.invoices import Invoice
from payables.models.payments import (
    BankConfirmation,
    CompanySettings,
    Payment,
    PaymentExport,
    PaymentRun,
)
from payables.selectors import payments as payment_selectors
from payables.services import payments, settlement
from payables.services import remittance as remittance_advice
from vendors.models import Vendor

PAGE_SIZE = 50
DEADLINE_DAYS = 14


def _first_error(form: forms.Form) -> str:
    """One clerk-readable line for a form that failed, e.g. 'Reason: This field is required.'"""
    for field, errors in form.errors.items():
        if field == "__all__":
            return str(errors[0])
        label = form.fields[field].label or field.replace("_", " ")
        return f"{label[:1].upper()}{label[1:]}: {errors[0]}"
    return "Check the form."


@role_required(Perm.READ_PAYMENTS)
def run_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Payment runs, what falls due soon, and the form that proposes the next run."""
    can_propose = roles.may(request.user, Perm.PROPOSE_RUN)
    today = timezone.localdate()
    form = PaymentRunProposeForm(today=today)
    if request.method == "POST":
        roles.require(request.user, Perm.PROPOSE_RUN)
        form = PaymentRunProposeForm(request.POST, today=today)
        if form.is_valid():
            try:
                run = payments.payment_run_propose(by=request.user, **form.cleaned_data)
            except DomainError as exc:
                messages.error(request, exc.message)
            else:
                messages.success(
                    request,
                    f"{run.number} proposed: {run.payments.count()} payments. "
                    "Another approver must approve it.",
                )
                return redirect("payables:run_detail", pk=run.pk)
    page = Paginator(payment_selectors.run_list_queryset(), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    totals = payment_selectors.totals_by_run([run.pk for run in page.object_list])
    for run in page.object_list:
        run.currency_totals = totals.get(run.pk, [])
    calendar = payment_selectors.cash_calendar(today, weeks=4)
    return render(
        request,
        "payables/run_list.html",
        {
            "page": page,
            "form": form,
            "can_propose": can_propose,
            "calendar": calendar,
            "awaiting_approval": (
                []
                if can_propose
                else PaymentRun.objects.filter(status=PaymentRun.Status.PROPOSED)
                .select_related("prepared_by")
                .annotate(invoice_count=Count("payments"))
                .order_by("pay_date", "id")[:5]
            ),
            "can_edit_settings": roles.may(request.user, Perm.EDIT_PAYMENT_SETTINGS),
            "today": today,
        },
    )


@role_required(Perm.READ_PAYMENTS)
def run_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One run per currency and vendor: lines, discounts taken and missed, what was left out."""
    run = get_object_or_404(PaymentRun.objects.select_related("prepared_by", "approved_by"), pk=pk)
    composition = payment_selectors.run_composition(run)
    user = request.user
    status = run.status
    is_proposed = status == PaymentRun.Status.PROPOSED
    can_change = is_proposed and roles.may(user, Perm.PROPOSE_RUN)
    company = CompanySettings.load()
    return render(
        request,
        "payables/run_detail.html",
        {
            "run": run,
            **composition,
            "current_exports": [
                e for e in composition["exports"] if e.status == PaymentExport.Status.CURRENT
            ],
            "superseded_exports": [
                e for e in composition["exports"] if e.status == PaymentExport.Status.SUPERSEDED
            ],
            "left_out": payment_selectors.exclusion_summary(composition["exclusions"]),
            "company": company,
            "is_preparer": run.prepared_by_id == user.pk,
            "can_approve": is_proposed and roles.may(user, Perm.APPROVE_RUN),
            "can_change": can_change,
            "add_form": AddInvoiceForm(invoices=payment_selectors.addable_invoices(run))
            if can_change
            else None,
            "can_export": status == PaymentRun.Status.APPROVED
            and roles.may(user, Perm.OPERATE_RUN),
            # Replacing a file and voiding a payment are the AP manager's; voiding is also
            # refused to whoever prepared or changed the run (the service checks).
            "can_replace": status == PaymentRun.Status.SENT and roles.may(user, Perm.VOID_PAYMENT),
            "can_mark_paid": status in (PaymentRun.Status.APPROVED, PaymentRun.Status.SENT)
            and roles.may(user, Perm.OPERATE_RUN),
            "can_confirm": status in (PaymentRun.Status.SENT, PaymentRun.Status.PAID)
            and roles.may(user, Perm.OPERATE_RUN),
            "outcomes": BankConfirmation.Outcome.choices
            if status == PaymentRun.Status.SENT
            else [(BankConfirmation.Outcome.RETURNED, BankConfirmation.Outcome.RETURNED.label)],
            "can_void": status in (PaymentRun.Status.SENT, PaymentRun.Status.PAID)
            and roles.may(user, Perm.VOID_PAYMENT)
            and run.prepared_by_id != user.pk,
            "can_remit": status in (PaymentRun.Status.SENT, PaymentRun.Status.PAID),
            "can_cancel": status in (PaymentRun.Status.PROPOSED, PaymentRun.Status.APPROVED)
            and roles.may(user, Perm.OPERATE_RUN),
            "paid_form": MarkPaidForm(initial={"paid_on": min(run.pay_date, timezone.localdate())}),
            "threshold": company.run_approval_threshold,
            "events": AuditEvent.objects.for_objects([("payables.paymentrun", run.pk)]),
        },
    )


def _step(
    request: AuthenticatedHttpRequest, pk: int, step: Callable[[PaymentRun], str]
) -> HttpResponse:
    """Run one service step on the run, flash its outcome and go back to the run."""
    run = get_object_or_404(PaymentRun, pk=pk)
    try:
        message = step(run)
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, message)
    return redirect(reverse("payables:run_detail", args=[pk]))


@require_POST
@role_required(Perm.APPROVE_RUN)
@password_confirmation_required
def run_approve(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Approve a proposed run (never by whoever prepared or changed it: the service refuses)."""

    def approve(run: PaymentRun) -> str:
        run = payments.payment_run_approve(run=run, by=request.user)
        return f"{run.number} approved; send it to the bank."

    return _step(request, pk, approve)


@require_POST
@role_required(Perm.OPERATE_RUN)
def run_export(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Write the schema-checked bank files; the run is sent."""

    def export(run: PaymentRun) -> str:
        files = settlement.payment_run_export(run=run, by=request.user)
        names = ", ".join(export.filename for export in files)
        return f"Bank files ready and checked against the ISO 20022 schema: {names}."

    return _step(request, pk, export)


@require_POST
@role_required(Perm.OPERATE_RUN)
def run_mark_paid(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """The bank executed the run on the given day: its invoices become paid."""
    form = MarkPaidForm(request.POST)

    def mark_paid(run: PaymentRun) -> str:
        if request.POST and not form.is_valid():
            raise DomainError(_first_error(form))
        paid_on = form.cleaned_data.get("paid_on") if request.POST else None
        run = settlement.payment_run_mark_paid(run=run, by=request.user, paid_on=paid_on)
        return f"{run.number} marked paid."

    return _step(request, pk, mark_paid)


@require_POST
@role_required(Perm.OPERATE_RUN)
def run_cancel(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Drop an unpaid run; its invoices become payable again."""
    form = CancelForm(request.POST)

    def cancel(run: PaymentRun) -> str:
        note = form.cleaned_data["note"] if form.is_valid() else ""
        run = payments.payment_run_cancel(run=run, by=request.user, note=note)
        return f"{run.number} cancelled; its invoices are payable again."

    return _step(request, pk, cancel)


@require_POST
@role_required(Perm.PROPOSE_RUN)
def run_add_invoice(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Add an approved invoice to a proposed run, with a reason."""
    run = get_object_or_404(PaymentRun, pk=pk)
    form = AddInvoiceForm(request.POST, invoices=Invoice.objects.select_related("vendor"))

    def add(run: PaymentRun) -> str:
        if not form.is_valid():
            raise DomainError(_first_error(form))
        invoice = form.cleaned_data["invoice"]
        payments.payment_run_add_invoice(
            run=run, invoice=invoice, by=request.user, reason=form.cleaned_data["reason"]
        )
        return f"Invoice {invoice.number} added to {run.number}."

    return _step(request, run.pk, add)


@require_POST
@role_required(Perm.PROPOSE_RUN)
def run_remove_invoice(request: AuthenticatedHttpRequest, pk: int, invoice_pk: int) -> HttpResponse:
    """Take an invoice out of a proposed run, with a reason."""
    invoice = get_object_or_404(Invoice, pk=invoice_pk)
    form = ReasonForm(request.POST)

    def remove(run: PaymentRun) -> str:
        if not form.is_valid():
            raise DomainError("Give a reason for taking the invoice out of the run.")
        payments.payment_run_remove_invoice(
            run=run, invoice=invoice, by=request.user, reason=form.cleaned_data["reason"]
        )
        return f"Invoice {invoice.number} taken out of {run.number}; it is payable again."

    return _step(request, pk, remove)


@require_POST
@role_required(Perm.OPERATE_RUN)
def run_bank_confirm(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Record what the bank confirmed about one transfer (not executed, or returned)."""
    form = BankConfirmForm(request.POST)

    def confirm(run: PaymentRun) -> str:
        if not form.is_valid():
            raise DomainError(_first_error(form))
        vendor = get_object_or_404(Vendor, pk=form.cleaned_data["vendor"])
        confirmation = settlement.transfer_bank_confirm(
            run=run,
            vendor=vendor,
            currency=form.cleaned_data["currency"],
            outcome=form.cleaned_data["outcome"],
            reference=form.cleaned_data["reference"],
            by=request.user,
        )
        return (
            f"Recorded: the {confirmation.currency} transfer to {vendor.name} was "
            f"{confirmation.get_outcome_display().lower()} (reference {confirmation.reference})."
        )

    return _step(request, pk, confirm)


@require_POST
@role_required(Perm.VOID_PAYMENT)
def run_void(request: AuthenticatedHttpRequest, pk: int, payment_pk: int) -> HttpResponse:
    """Void one payment the bank confirmed unpaid; its invoice is payable again."""
    form = ReasonForm(request.POST)

    def void(run: PaymentRun) -> str:
        if not form.is_valid():
            raise DomainError(_first_error(form))
        payment = get_object_or_404(
            Payment.objects.select_related("invoice"), pk=payment_pk, run=run
        )
        settlement.payment_void(
            payment=payment, by=request.user, reason=form.cleaned_data["reason"]
        )
        return f"Payment of {payment.invoice.number} voided; the invoice is payable again."

    return _step(request, pk, void)


@require_POST
@role_required(Perm.VOID_PAYMENT)
def run_file_replace(request: AuthenticatedHttpRequest, pk: int, export_pk: int) -> HttpResponse:
    """Re-issue one bank file with the same ids; the earlier one is kept as superseded."""
    form = ReasonForm(request.POST)

    def replace(run: PaymentRun) -> str:
        if not form.is_valid():
            raise DomainError(_first_error(form))
        export = get_object_or_404(PaymentExport, pk=export_pk, run=run)
        replacement = settlement.bank_file_replace(
            export=export, by=request.user, reason=form.cleaned_data["reason"]
        )
        return (
            f"{replacement.filename} written with the same message id {replacement.message_id}"
            if replacement.message_id
            else f"{replacement.filename} written"
        ) + f"; {export.filename} is superseded."

    return _step(request, pk, replace)


@role_required(Perm.READ_PAYMENTS)
def export_download(request: AuthenticatedHttpRequest, pk: int, export_pk: int) -> HttpResponse:
    """A bank file exactly as it was written and checked."""
    export = get_object_or_404(PaymentExport, pk=export_pk, run_id=pk)
    content_type = (
        "application/xml" if export.format == PaymentExport.Format.PAIN001 else "text/csv"
    )
    response = HttpResponse(export.content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
    return response


@role_required(Perm.READ_PAYMENTS)
def remittance(request: AuthenticatedHttpRequest, pk: int, vendor_pk: int) -> HttpResponse:
    """The printable remittance advice for one vendor in a run."""
    run = get_object_or_404(PaymentRun, pk=pk)
    vendor = get_object_or_404(Vendor, pk=vendor_pk)
    advice = remittance_advice.remittance_for(run, vendor)
    return render(
        request,
        "payables/remittance.html",
        {
            "advice": advice,
            "run": run,
            "can_send": run.status in (PaymentRun.Status.SENT, PaymentRun.Status.PAID)
            and bool(vendor.email),
        },
        status=200 if advice.transfers else 404,
    )


@require_POST
@role_required(Perm.OPERATE_RUN)
def remittance_send(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Email the advice to one vendor (`vendor` in the form) or to every vendor in the run."""
    run = get_object_or_404(PaymentRun, pk=pk)
    vendor_pk = request.POST.get("vendor", "")
    if vendor_pk.isdigit():
        vendors = [get_object_or_404(Vendor, pk=int(vendor_pk))]
    else:
        vendors = list(
            Vendor.objects.filter(payments__run=run)
            .exclude(payments__status="void")
            .distinct()
            .order_by("name")
        )
    sent, problems = [], []
    for vendor in vendors:
        try:
            remittance_advice.remittance_send(run=run, vendor=vendor, by=request.user)
        except DomainError as exc:
            problems.append(exc.message)
        else:
            sent.append(f"{vendor.name} ({vendor.email})")
    if sent:
        messages.success(request, f"Remittance advice emailed to {', '.join(sent)}.")
    for problem in problems:
        messages.error(request, problem)
    return redirect("payables:run_detail", pk=run.pk)


@role_required(Perm.READ_PAYMENTS)
def cash_calendar(request: AuthenticatedHttpRequest) -> HttpResponse:
    """What falls due and which discounts lapse, per currency, for the weeks ahead."""
    today = timezone.localdate()
    form = CalendarForm(request.GET or None)
    weeks = (form.cleaned_data.get("weeks") if form.is_valid() else None) or 6
    company = CompanySettings.load()
    deadlines = Paginator(
        payment_selectors.discount_deadlines(today, DEADLINE_DAYS), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "payables/cash_calendar.html",
        {
            "table": payment_selectors.calendar_table(
                payment_selectors.cash_calendar(today, weeks=weeks)
            ),
            "weeks": weeks,
            "week_choices": [value for value, _label in CALENDAR_WEEKS],
            "deadlines": deadlines,
            "deadline_days": DEADLINE_DAYS,
            "cost_of_capital": company.cost_of_capital_pct,
            "today": today,
            "can_propose": roles.may(request.user, Perm.PROPOSE_RUN),
        },
    )


@role_required(Perm.READ_PAYMENTS)
def company_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The paying account, cost of capital and approval threshold; finance leaders edit them."""
    current = CompanySettings.load()
    can_edit = roles.may(request.user, Perm.EDIT_PAYMENT_SETTINGS)
    form = CompanySettingsForm(instance=current)
    status = 200
    if request.method == "POST":
        roles.require(request.user, Perm.EDIT_PAYMENT_SETTINGS)
        form = CompanySettingsForm(request.POST, instance=CompanySettings.load())
        if form.is_valid():
            try:
                payments.company_settings_update(by=request.user, **form.cleaned_data)
            except DomainError as exc:
                messages.error(request, exc.message)
                status = exc.status_code
            else:
                messages.success(request, "Payment settings saved.")
                return redirect("payables:company_settings")
        else:
            status = 400
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(
        request,
        "payables/company_settings.html",
        {
            "form": form,
            "settings": current,
            "can_edit": can_edit,
            "events": AuditEvent.objects.for_objects([("payables.companysettings", 1)]),
        },
        status=status,
    )


@require_POST
@role_required(Perm.HOLD_PAYMENT)
def invoice_hold(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Put an invoice on payment hold with a reason, or release it (`release` in the form)."""
    invoice = get_object_or_404(Invoice, pk=pk)
    form = ReasonForm(request.POST)
    try:
        if request.POST.get("release"):
            payments.payment_hold_release(
                invoice=invoice, by=request.user, note=request.POST.get("reason", "")
            )
            messages.success(request, f"Invoice {invoice.number} released for payment.")
        elif form.is_valid():
            payments.payment_hold_place(
                invoice=invoice, by=request.user, reason=form.cleaned_data["reason"]
            )
            messages.success(request, f"Invoice {invoice.number} is on payment hold.")
        else:
            messages.error(request, "Say why the invoice is held.")
    except DomainError as exc:
        messages.error(request, exc.message)
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}):
        return redirect(next_url)
    return redirect("payables:invoice_detail", pk=invoice.pk)
