"""Capture pages: importing e-invoice and CSV files in the browser, and invoice attachments."""

import datetime as dt
from collections.abc import Sequence

from django.conf import settings
from django.contrib import messages
from django.db.models import QuerySet
from django.http import FileResponse, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from p2p import roles
from p2p.downloads import private_file_response
from p2p.exceptions import DomainError
from p2p.http import AuthenticatedHttpRequest
from p2p.roles import Perm, role_required
from payables.einvoice.common import MAX_DOCUMENT_BYTES
from payables.einvoice.csv_import import MAX_CSV_BYTES
from payables.forms.capture import AttachmentForm, ImportUploadForm
from payables.models.capture import ImportBatch
from payables.models.invoices import Invoice, InvoiceAttachment
from payables.services import capture
from payables.storage import private_storage
from payables.uploads import (
    MAX_UPLOAD_FILES,
    MAX_UPLOAD_REQUEST_BYTES,
    MB,
    attachment_limit,
    import_limit,
    limited_uploads,
    refused_uploads,
)

RECENT_BATCHES = 20
# A CSV may hold 100,000 invoices: the page lists this many of each kind, the counts say all.
# Shown inline in the browser; anything else (the XML originals) is downloaded.
INLINE_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg"})


def recent_batches() -> QuerySet[ImportBatch]:
    """The latest imports for the upload page, one query whatever their number."""
    return (
        ImportBatch.objects.select_related("created_by")
        .defer("report", "files")
        .order_by("-id")[:RECENT_BATCHES]
    )


def _import_page(
    request: AuthenticatedHttpRequest,
    form: ImportUploadForm,
    *,
    errors: Sequence[str] = (),
    status: int = 200,
) -> HttpResponse:
    context = {
        "form": form,
        "upload_errors": list(errors),
        "batches": recent_batches(),
        "max_document_mb": MAX_DOCUMENT_BYTES // MB,
        "max_csv_mb": MAX_CSV_BYTES // MB,
        "max_csv_rows": f"{settings.CSV_IMPORT_MAX_ROWS:,}",
        "max_request_mb": MAX_UPLOAD_REQUEST_BYTES // MB,
        "max_files": MAX_UPLOAD_FILES,
    }
    if request.htmx:
        # htmx swaps only successful responses; the form with its errors is the answer here.
        return render(request, "payables/_import_form.html", context)
    return render(request, "payables/invoice_import.html", context, status=status)


def _import_too_large(request: AuthenticatedHttpRequest, message: str) -> HttpResponse:
    return _import_page(request, ImportUploadForm(), errors=[message], status=413)


@role_required(Perm.CAPTURE_INVOICE)
@limited_uploads(import_limit, too_large=_import_too_large)
def invoice_import(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Drop e-invoices (UBL, CII, Factur-X PDF) and CSVs; a background task imports them."""
    if request.method != "POST":
        return _import_page(request, ImportUploadForm())
    form = ImportUploadForm(request.POST, request.FILES)
    refused = refused_uploads(request)
    if not form.is_valid():
        return _import_page(request, form, status=400)
    files = form.cleaned_data["files"]
    if not files:
        # Nothing left to import: say why right here instead of queueing an empty batch.
        errors = [f"{item.name}: {item.error}" for item in refused] or [
            "Choose at least one file to import."
        ]
        return _import_page(request, form, errors=errors, status=400)
    mode = form.cleaned_data["mode"]
    try:
        batch = capture.import_batch_create(
            files=files,
            refused=refused,
            by=request.user,
            valid_only=mode == ImportUploadForm.VALID_ONLY,
            dry_run=mode == ImportUploadForm.CHECK_ONLY,
            decimal_mark=form.cleaned_data["decimal_mark"],
        )
    except DomainError as exc:
        return _import_page(request, form, errors=[exc.message], status=exc.status_code)
    url = reverse("payables:import_batch_detail", args=[batch.pk])
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


@role_required(Perm.CAPTURE_INVOICE)
def import_batch_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """One upload: a progress bar while the task works, then the outcome per invoice."""
    batch = get_object_or_404(ImportBatch.objects.select_related("created_by"), pk=pk)
    finished = batch.status in (ImportBatch.Status.DONE, ImportBatch.Status.FAILED)
    if request.htmx and request.GET.get("part") == "progress":
        if finished:
            return HttpResponseClientRefresh()
        return render(request, "payables/_import_progress.html", {"batch": batch})
    shown = batch.report if finished else []
    imported_ids = [entry["invoice_id"] for entry in shown if entry.get("invoice_id")]
    invoices = Invoice.objects.select_related("vendor").in_bulk(imported_ids)
    rows = []
    for entry in shown:
        invoice = invoices.get(entry.get("invoice_id"))
        # A negative invoice is stored as a credit note: the stored type is the one that counts.
        document_type = invoice.document_type if invoice else entry.get("document_type")
        issued = entry.get("issue_date")
        rows.append(
            {
                **entry,
                "invoice": invoice,
                "is_credit": document_type == "credit_note",
                "issue_date": dt.date.fromisoformat(issued) if issued else None,
            }
        )
    duration = (
        (batch.finished_at - batch.started_at).total_seconds()
        if batch.started_at and batch.finished_at
        else None
    )
    return render(
        request,
        "payables/import_batch_detail.html",
        {
            "batch": batch,
            "finished": finished,
            "rows": rows,
            "accepted": [row for row in rows if row["ok"]],
            "rejected": [row for row in rows if not row["ok"]],
            "accepted_count": batch.imported_count,
            "rejected_count": batch.rejected_count,
            "credit_notes": batch.credit_note_count,
            "duration": duration,
            "can_read_vendors": roles.may(request.user, Perm.READ_VENDORS),
        },
    )


# --- attachments -----------------------------------------------------------------------------


@require_POST
@role_required(Perm.CAPTURE_INVOICE)
@limited_uploads(attachment_limit)
def invoice_attachment_add(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """Attach the vendor's PDF (or a scan) to an invoice already captured."""
    invoice = get_object_or_404(Invoice, pk=pk)
    form = AttachmentForm(request.POST, request.FILES)
    refused = refused_uploads(request)
    if not form.is_valid() or refused:
        for error in [item.error for item in refused] or form.errors.get("attachments", []):
            messages.error(request, str(error))
    else:
        try:
            added = capture.attachments_add(
                invoice=invoice, uploads=form.cleaned_data["attachments"], by=request.user
            )
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            names = ", ".join(attachment.original_name for attachment in added)
            messages.success(request, f"Attached {names} to {invoice.number}.")
    return redirect(reverse("payables:invoice_detail", args=[pk]) + "#attachments")


@role_required(Perm.READ_INVOICES)
def invoice_attachment(
    request: AuthenticatedHttpRequest, pk: int, attachment_pk: int
) -> HttpResponse | FileResponse:
    """Serve an attachment to someone who may read the invoice; there is no public URL."""
    attachment = get_object_or_404(InvoiceAttachment, pk=attachment_pk, invoice_id=pk)
    try:
        handle = private_storage.open(attachment.file.name, "rb")
    except FileNotFoundError:
        messages.error(request, f"{attachment.original_name} is missing from storage.")
        return redirect("payables:invoice_detail", pk=pk)
    return private_file_response(
        # A stored File reads like the binary file FileResponse streams from.
        handle,  # type: ignore[arg-type]
        filename=attachment.original_name,
        content_type=attachment.content_type,
        inline=attachment.content_type in INLINE_TYPES,
    )
