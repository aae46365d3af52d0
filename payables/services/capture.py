"""Invoice capture beyond the keyed lines: attachments, browser import batches, API uploads.

Files are read by the one importer (`payables.services.importing`) that the command line uses; this
module stores what the clerk sent, runs it through that importer and keeps the outcome.
"""

import datetime as dt
import hashlib
import io
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import PurePath
from typing import Any, BinaryIO

from django.contrib.auth.models import User
from django.core.files.base import ContentFile, File
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.celery import enqueue
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.roles import Perm
from payables.models.capture import ImportBatch
from payables.models.invoices import Invoice, InvoiceAttachment
from payables.services.importing import ImportResult, import_csv, import_files
from payables.services.invoices import invoice_capture
from payables.storage import private_storage
from payables.uploads import (
    ATTACHMENT_KINDS,
    MAX_ATTACHMENT_BYTES,
    MAX_UPLOAD_FILES,
    RefusedUpload,
    import_limit,
    sniff_attachment_type,
    too_large_message,
)

UNKNOWN_VENDOR = "Unknown vendor:"
# A batch's report lists this many imported and this many rejected invoices; the rest are
# counted. Nobody reads 50,000 lines in a page, and a worker holding them all would grow
# with the file.
REPORT_ENTRIES_KEPT = 500
_ORIGINAL_TYPES = {"facturx": "application/pdf"}


# --- attachments -----------------------------------------------------------------------------


def check_attachment(upload: "File[bytes]") -> str:
    """The attachment's content type, or DomainError saying why it cannot be kept."""
    name = PurePath(upload.name or "file").name
    if upload.size is not None and upload.size > MAX_ATTACHMENT_BYTES:
        raise DomainError(f"{name}: {too_large_message(name, MAX_ATTACHMENT_BYTES, upload.size)}")
    if not upload.size:
        raise DomainError(f"{name}: the file is empty.")
    upload.seek(0)
    head = upload.read(16)
    upload.seek(0)
    content_type = sniff_attachment_type(head)
    if content_type is None:
        raise DomainError(f"{name}: only {ATTACHMENT_KINDS} files can be attached.")
    return content_type


def _store_attachment(
    *, invoice: Invoice, name: str, content: "File[bytes]", content_type: str, by: User | None
) -> InvoiceAttachment:
    digest = hashlib.sha256()
    for chunk in content.chunks():
        digest.update(chunk)
    attachment = InvoiceAttachment(
        invoice=invoice,
        original_name=name[:255],
        content_type=content_type,
        size=content.size,
        sha256=digest.hexdigest(),
        uploaded_by=by,
        uploaded_at=timezone.now(),
    )
    attachment.file.save(name, content, save=False)
    attachment.save()
    audit_record(
        obj=invoice,
        action=AuditAction.ATTACHMENT_ADDED,
        by=by,
        changes={"file": attachment.original_name, "size": attachment.size},
    )
    return attachment


@dataclass
class _StoredFiles:
    """Files written to disk inside a transaction, removed again if it rolls back."""

    names: list[str]

    def discard(self) -> None:
        for name in self.names:
            private_storage.delete(name)


def attachments_add(
    *, invoice: Invoice, uploads: Sequence["File[bytes]"], by: User
) -> list[InvoiceAttachment]:
    """Keep the vendor's PDF (or scan) with an invoice; all files or none."""
    roles.require(by, Perm.CAPTURE_INVOICE)
    checked = [(upload, check_attachment(upload)) for upload in uploads]
    if not checked:
        raise DomainError("Choose the file to attach.")
    stored = _StoredFiles([])
    try:
        with transaction.atomic():
            attachments = []
            for upload, content_type in checked:
                attachment = _store_attachment(
                    invoice=invoice,
                    name=PurePath(upload.name or "file").name,
                    content=upload,
                    content_type=content_type,
                    by=by,
                )
                stored.names.append(attachment.file.name)
                attachments.append(attachment)
            return attachments
    except BaseException:
        stored.discard()
        raise


def invoice_capture_with_attachments(
    *, attachments: Sequence["File[bytes]"], by: User, **capture: Any
) -> Invoice:
    """Capture a keyed invoice and keep its attachments, in one transaction."""
    checked = [(upload, check_attachment(upload)) for upload in attachments]
    stored = _StoredFiles([])
    try:
        with transaction.atomic():
            invoice = invoice_capture(by=by, **capture)
            for upload, content_type in checked:
                attachment = _store_attachment(
                    invoice=invoice,
                    name=PurePath(upload.name or "file").name,
                    content=upload,
                    content_type=content_type,
                    by=by,
                )
                stored.names.append(attachment.file.name)
            return invoice
    except BaseException:
        stored.discard()
        raise


def recent_duplicate_of(
    *,
    vendor_id: int,
    number: str,
    invoice_date: dt.date,
    tax_amount: Decimal,
    by: User,
    within_minutes: int = 30,
) -> Invoice | None:
    """The invoice this user captured moments ago from the very same form data, if any.

    A double click sends the form twice; the capture service refuses the second copy as a
    duplicate, and the clerk should land on the invoice that was captured, not on an error.
    Only an identical submission counts: "inv 42" after "INV-0042" is a real duplicate the
    clerk must be told about.
    """
    since = timezone.now() - dt.timedelta(minutes=within_minutes)
    return (
        Invoice.objects.filter(
            vendor_id=vendor_id,
            number=number.strip(),
            invoice_date=invoice_date,
            tax_amount=tax_amount,
            captured_by=by,
            captured_at__gte=since,
            source=Invoice.Source.FORM,
        )
        .exclude(status=Invoice.Status.REJECTED)
        .order_by("-id")
        .first()
    )


# --- importing files -------------------------------------------------------------------------


@dataclass(frozen=True)
class Upload:
    """One file as received: its bytes, or why it was refused before it could be read.

    A CSV kept in private storage is named by its `path` instead and read as a stream, so a
    file of 200,000 lines never sits in memory whole.
    """

    name: str
    data: bytes | None = None
    error: str = ""
    path: str = ""

    @property
    def is_csv(self) -> bool:
        return self.name.lower().endswith(".csv")

    @property
    def received(self) -> bool:
        return self.data is not None or bool(self.path)

    def open(self) -> BinaryIO:
        if self.data is not None:
            return io.BytesIO(self.data)
        # A stored File reads and iterates like the binary file the CSV reader takes.
        return private_storage.open(self.path, "rb")  # type: ignore[return-value]


class ImportProgress:
    """Receives progress from an import; the batch page's version writes it to the database."""

    def file_started(self, name: str) -> None:
        """A file is about to be read."""

    def file_finished(self) -> None:
        """A file is done."""

    def rows(self, done: int, total: int) -> None:
        """Invoices written so far inside the current CSV."""


def uploads_from(
    files: Sequence["File[bytes]"], refused: Sequence[RefusedUpload] = ()
) -> list[Upload]:
    """Received files as the importer takes them, each checked against its size limit again."""
    uploads = []
    for upload in files:
        name = PurePath(upload.name or "file").name
        limit = import_limit(name)
        if upload.size > limit:
            uploads.append(Upload(name, error=too_large_message(name, limit, upload.size)))
        else:
            uploads.append(Upload(name, data=upload.read()))
    return uploads + [Upload(item.name, error=item.error) for item in refused]


def import_uploads(
    uploads: Sequence[Upload],
    *,
    by: User,
    dry_run: bool = False,
    valid_only: bool = False,
    progress: ImportProgress | None = None,
    decimal_mark: str = "",
) -> list[ImportResult]:
    """Import e-invoices and CSVs through the command line's importer, results in file order.

    Each e-invoice and each CSV is its own transaction (a CSV all-or-nothing unless
    valid_only). The original of each imported e-invoice is kept as its attachment. A CSV's
    decimal mark is `decimal_mark` (point or comma) when the clerk chose one.
    """
    roles.require(by, Perm.CAPTURE_INVOICE)
    progress = progress or ImportProgress()
    results: dict[int, list[ImportResult]] = {}
    for upload in uploads:
        if not upload.received:
            progress.file_finished()  # refused on arrival: nothing left to do for it
    # E-invoices go through import_files together, so a byte-identical copy is caught.
    einvoices = [
        (index, upload)
        for index, upload in enumerate(uploads)
        if upload.received and not upload.is_csv
    ]
    if einvoices:
        progress.file_started(einvoices[0][1].name)

        def on_file(done: int, total: int) -> None:
            progress.file_finished()
            if done < total:
                progress.file_started(einvoices[done][1].name)

        report = import_files(
            # Only a CSV waits in storage: every received e-invoice has its bytes.
            [(upload.name, upload.data or b"") for _, upload in einvoices],
            by=by,
            dry_run=dry_run,
            valid_only=valid_only,
            progress=on_file,
        )
        for (index, _), result in zip(einvoices, report.results, strict=True):
            results[index] = [result]
    for index, upload in enumerate(uploads):
        if not upload.received:
            results[index] = [ImportResult(file=upload.name, ok=False, error=upload.error)]
        elif upload.is_csv:
            progress.file_started(upload.name)
            with upload.open() as stream:
                report = import_csv(
                    data=stream,
                    filename=upload.name,
                    by=by,
                    dry_run=dry_run,
                    valid_only=valid_only,
                    progress=progress.rows,
                    decimal_mark=decimal_mark,
                )
            results[index] = report.results
            progress.file_finished()
    if not dry_run:
        for index, upload in einvoices:
            _keep_original(upload, results[index][0], by=by)
    return [result for index in range(len(uploads)) for result in results[index]]


def _keep_original(upload: Upload, result: ImportResult, *, by: User) -> None:
    """Attach the file an invoice was imported from: it is the legal original."""
    if not result.ok or result.invoice is None or result.parsed is None or upload.data is None:
        return
    with transaction.atomic():
        _store_attachment(
            invoice=result.invoice,
            name=PurePath(upload.name).name,
            content=ContentFile(upload.data, name=upload.name),
            content_type=_ORIGINAL_TYPES.get(result.parsed.syntax, "application/xml"),
            by=by,
        )


def report_entry(result: ImportResult) -> dict[str, Any]:
    """One line of the upload report: the command line's JSON plus what the page links to."""
    entry = result.as_json()
    entry["invoice_id"] = result.invoice_id
    entry["lines"] = result.line_numbers
    entry["row_errors"] = [
        {"line": error.line, "message": error.message} for error in result.row_errors
    ]
    entry["unknown_vendor"] = bool(result.error and UNKNOWN_VENDOR in result.error)
    return entry


# --- browser import batches ------------------------------------------------------------------


def import_batch_create(
    *,
    files: Sequence["File[bytes]"],
    refused: Sequence[RefusedUpload] = (),
    by: User,
    valid_only: bool = False,
    dry_run: bool = False,
    decimal_mark: str = "",
) -> ImportBatch:
    """Keep the uploaded files and queue their import; the task reports progress on the batch."""
    roles.require(by, Perm.CAPTURE_INVOICE)
    if not files and not refused:
        raise DomainError("Choose at least one file to import.")
    if len(files) + len(refused) > MAX_UPLOAD_FILES:
        raise DomainError(
            f"{len(files) + len(refused)} files were sent; import at most {MAX_UPLOAD_FILES} "
            "at once."
        )
    folder = f"imports/{uuid.uuid4().hex}"
    stored = _StoredFiles([])
    entries: list[dict[str, Any]] = []
    try:
        for number, upload in enumerate(files, start=1):
            name = PurePath(upload.name or f"file-{number}").name
            limit = import_limit(name)
            # The upload handler already dropped anything larger; this is the explicit check.
            if upload.size > limit:
                error = too_large_message(name, limit, upload.size)
                entries.append({"name": name, "size": upload.size, "path": None, "error": error})
                continue
            path = private_storage.save(
                f"{folder}/{number:03d}-{private_storage.get_valid_name(name)}", upload
            )
            stored.names.append(path)
            entries.append({"name": name, "size": upload.size, "path": path, "error": ""})
        entries += [
            {"name": item.name, "size": None, "path": None, "error": item.error} for item in refused
        ]
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                created_by=by,
                created_at=timezone.now(),
                valid_only=valid_only,
                dry_run=dry_run,
                decimal_mark=decimal_mark,
                files=entries,
                files_total=len(entries),
            )
            audit_record(
                obj=batch,
                action=AuditAction.CREATED,
                by=by,
                changes={"files": len(entries), "valid_only": valid_only, "dry_run": dry_run},
            )
            transaction.on_commit(lambda: _enqueue_batch(batch.pk))
    except BaseException:
        stored.discard()
        raise
    return batch


def _enqueue_batch(batch_id: int) -> None:
    enqueue("payables.tasks.import_batch_run", batch_id)


class BatchProgress(ImportProgress):
    """Writes an import's progress to its batch row on a database connection of its own.

    A CSV is imported in one transaction, and anything the importing connection wrote would
    stay invisible to the polling page until that transaction ends. A second connection, in
    autocommit, makes each update visible at once. Row updates are throttled: the page polls
    about once a second.
    """

    INTERVAL_SECONDS = 0.3

    def __init__(self, batch: ImportBatch, clock: Callable[[], float] = time.monotonic) -> None:
        self.batch_id = batch.pk
        self.clock = clock
        self.connection: BaseDatabaseWrapper | None = None
        self.last_write = float("-inf")
        self.state: dict[str, int | str] = {
            "files_done": 0,
            "current_file": "",
            "current_done": 0,
            "current_total": 0,
        }

    def file_started(self, name: str) -> None:
        self.state.update(current_file=name[:255], current_done=0, current_total=0)
        self._write(force=True)

    def file_finished(self) -> None:
        self.state.update(
            files_done=int(self.state["files_done"]) + 1, current_done=0, current_total=0
        )
        self._write(force=True)

    def rows(self, done: int, total: int) -> None:
        self.state.update(current_done=done, current_total=total)
        self._write(force=done == total)

    def _write(self, *, force: bool) -> None:
        now = self.clock()
        if not force and now - self.last_write < self.INTERVAL_SECONDS:
            return
        self.last_write = now
        if self.connection is None:
            self.connection = connections.create_connection(DEFAULT_DB_ALIAS)
        quote = self.connection.ops.quote_name
        assignments = ", ".join(f"{quote(column)} = %s" for column in self.state)
        table = quote(ImportBatch._meta.db_table)
        # Table and column names come from the model; the values are parameters.
        statement = f"UPDATE {table} SET {assignments} WHERE id = %s"  # noqa: S608
        with self.connection.cursor() as cursor:
            cursor.execute(statement, [*self.state.values(), self.batch_id])

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def import_batch_run(*, batch_id: int) -> ImportBatch:
    """Import a batch's files, report progress on the way and the outcome per invoice at the end.

    Idempotent under redelivery: a finished batch is left alone, and one found running means
    the worker that had it died, so it is marked stopped rather than imported twice.
    """
    with transaction.atomic():
        batch = (
            ImportBatch.objects.select_for_update().select_related("created_by").get(pk=batch_id)
        )
        if batch.status == ImportBatch.Status.RUNNING:
            _finish_failed(
                batch,
                "The import was interrupted before it finished. Invoices already imported are "
                "listed under Invoices; upload the remaining files again.",
            )
            return batch
        if batch.status != ImportBatch.Status.QUEUED:
            return batch
        batch.started_at = timezone.now()
        transition(batch, ImportBatch.Status.RUNNING, by=None, extra_fields=["started_at"])
    progress = BatchProgress(batch)
    try:
        results = import_uploads(
            [_read_stored(entry) for entry in batch.files],
            by=batch.created_by,
            dry_run=batch.dry_run,
            valid_only=batch.valid_only,
            progress=progress,
            decimal_mark=batch.decimal_mark,
        )
    except Exception as exc:
        progress.close()
        message = getattr(exc, "message", None) or str(exc) or exc.__class__.__name__
        _finish_failed(batch, f"The import stopped: {message}")
        raise
    progress.close()
    _keep_report(batch, results)
    batch.files_done = batch.files_total
    batch.current_file, batch.current_done, batch.current_total = "", 0, 0
    batch.finished_at = timezone.now()
    with transaction.atomic():
        transition(
            batch,
            ImportBatch.Status.DONE,
            by=None,
            changes={"imported": batch.imported_count, "rejected": batch.rejected_count},
            extra_fields=[
                "report",
                "imported_count",
                "rejected_count",
                "credit_note_count",
                "files_done",
                "current_file",
                "current_done",
                "current_total",
                "finished_at",
            ],
        )
    _delete_stored(batch)
    return batch


def _keep_report(batch: ImportBatch, results: list[ImportResult]) -> None:
    """Count every outcome on the batch and keep the first entries of each kind.

    Each result is let go once counted, so the results and the report are never both held.
    """
    batch.imported_count = batch.rejected_count = batch.credit_note_count = 0
    batch.report = []
    results.reverse()
    while results:
        result = results.pop()
        if result.ok:
            batch.imported_count += 1
            kept = batch.imported_count
            if result.document_type == Invoice.DocumentType.CREDIT_NOTE:
                batch.credit_note_count += 1
        else:
            batch.rejected_count += 1
            kept = batch.rejected_count
        if kept <= REPORT_ENTRIES_KEPT:
            batch.report.append(report_entry(result))


def _read_stored(entry: dict[str, Any]) -> Upload:
    if not entry.get("path"):
        return Upload(name=entry["name"], error=entry.get("error") or "The file was not received.")
    if entry["name"].lower().endswith(".csv"):
        if not private_storage.exists(entry["path"]):
            return Upload(name=entry["name"], error="The uploaded file is gone; upload it again.")
        return Upload(name=entry["name"], path=entry["path"])
    try:
        with private_storage.open(entry["path"], "rb") as stored:
            return Upload(name=entry["name"], data=stored.read())
    except FileNotFoundError:
        return Upload(name=entry["name"], error="The uploaded file is gone; upload it again.")


def _finish_failed(batch: ImportBatch, error: str) -> None:
    batch.error = error
    batch.finished_at = timezone.now()
    with transaction.atomic():
        transition(batch, ImportBatch.Status.FAILED, by=None, extra_fields=["error", "finished_at"])
    _delete_stored(batch)


def _delete_stored(batch: ImportBatch) -> None:
    """The uploaded copies are only needed until imported; originals live on as attachments."""
    for entry in batch.files:
        if entry.get("path"):
            private_storage.delete(entry["path"])
