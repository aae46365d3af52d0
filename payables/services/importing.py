"""Invoices from files: e-invoices (UBL, CII, Factur-X) and CSV uploads, through invoice_capture.

One parser (`payables.einvoice.parse_document`) and these functions serve the command line,
the browser upload and the API. Every file is its own transaction: an e-invoice is captured
whole or not at all; a CSV is all-or-nothing unless the clerk asks to import only its valid
invoices, and then gets every rejected one back with the line numbers and reasons.

Storage convention (see Invoice): a credit note keeps positive amounts and document_type
credit_note; a negative invoice is stored as a credit note with its signs flipped.
"""

import functools
import hashlib
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import PurePath
from typing import BinaryIO

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Replace, Upper

from p2p import roles
from p2p.celery import enqueue
from p2p.exceptions import DomainError
from p2p.money import ZERO
from p2p.roles import Perm
from payables.einvoice import (
    CREDIT_NOTE,
    INVOICE,
    EInvoiceError,
    ParsedInvoice,
    ParsedLine,
    parse_document,
)
from payables.einvoice.common import normalize_party_id
from payables.einvoice.csv_import import CsvInvoice, RowError, read_csv
from payables.models.invoices import Invoice
from payables.services.invoices import (
    DocumentFacts,
    InvoiceInput,
    InvoiceLineInput,
    captured_numbers,
    duplicate_error,
    invoice_capture_many,
    normalize_invoice_number,
)
from procurement.models import PurchaseOrder
from vendors.models import Vendor

ProgressCallback = Callable[[int, int], None]
# One match task per this many imported invoices: the engine is set-based, batches are cheap.
MATCH_BATCH = 1000
# A CSV's invoices are captured this many at a time: a few queries per chunk, not per invoice.
CAPTURE_CHUNK = 500
SUMMARY_KEYS = (
    "document_type",
    "number",
    "issue_date",
    "due_date",
    "currency",
    "seller_name",
    "seller_tax_id",
    "order_reference",
    "line_count",
    "line_net_total",
    "tax_total",
    "payable_amount",
)
_SOURCES = {
    "ubl": Invoice.Source.UBL,
    "cii": Invoice.Source.CII,
    "facturx": Invoice.Source.FACTURX,
    "csv": Invoice.Source.CSV,
}
_NOT_IMPORTED = (
    "Not imported: other lines of this file have errors. Fix them, or import only the valid "
    "invoices (--valid-only)."
)


@dataclass(slots=True)
class ImportResult:
    """What happened to one invoice of a file (or to a file that yielded no invoice)."""

    file: str
    ok: bool
    error: str | None = None
    parsed: ParsedInvoice | None = None
    invoice: Invoice | None = None
    # The invoice number when the document could not be parsed into a ParsedInvoice (CSV rows).
    number: str | None = None
    # CSV only: the file lines this invoice came from, and what is wrong with them.
    line_numbers: list[int] = field(default_factory=list)
    row_errors: list[RowError] = field(default_factory=list)
    # CSV only: the invoice as read (its lines are not kept) and the id it was captured as.
    csv_invoice: CsvInvoice | None = None
    invoice_id: int | None = None

    @property
    def document_type(self) -> str | None:
        """Invoice or credit note, as stored once captured (a negative invoice is a credit note)."""
        if self.invoice is not None:
            return self.invoice.document_type
        if self.parsed is not None:
            return self.parsed.document_type
        if self.csv_invoice is not None:
            return self.csv_invoice.document_type
        return None

    def as_json(self) -> dict[str, object]:
        """The command line's JSON object: file, ok, error and the document's key facts."""
        if self.parsed is not None:
            summary = self.parsed.as_summary()
        elif self.csv_invoice is not None and self.csv_invoice.readable:
            summary = self.csv_invoice.summary() or {}
        else:
            summary = dict.fromkeys(SUMMARY_KEYS)
            if self.number:
                summary["number"] = self.number
        return {"file": self.file, "ok": self.ok, "error": self.error, **summary}


@dataclass
class ImportReport:
    """The outcome of an import: one result per invoice, in file order."""

    results: list[ImportResult] = field(default_factory=list)

    @property
    def imported(self) -> list[Invoice]:
        """The captured invoices; those of a CSV are read back in one query."""
        ids = [r.invoice_id for r in self.results if r.ok and r.invoice is None and r.invoice_id]
        by_id = Invoice.objects.in_bulk(ids)
        return [r.invoice or by_id[r.invoice_id] for r in self.results if r.ok and r.invoice_id]

    @property
    def rejected(self) -> list[ImportResult]:
        return [r for r in self.results if not r.ok]

    @property
    def ok(self) -> bool:
        return not self.rejected


# --- resolving the vendor and the purchase order ---------------------------------------------


def _normalized_tax_id() -> Upper:
    """Vendor.tax_id without spaces, dots and dashes, upper-cased: compared like the document's."""
    stripped: F | Replace = F("tax_id")
    for character in (" ", ".", "-"):
        stripped = Replace(stripped, Value(character), Value(""))
    return Upper(stripped)


def _unknown_vendor(name: str, tax_id: str) -> DomainError:
    who = f"{name} (VAT {tax_id})" if name and tax_id else (name or f"VAT {tax_id}")
    return DomainError(f"Unknown vendor: {who} — add the vendor first.")


def resolve_vendor(
    *, tax_ids: Sequence[str], endpoint_id: str = "", names: Sequence[str] = ()
) -> Vendor:
    """The vendor a document names: by tax id, then endpoint id, then exact name."""
    wanted = [normalize_party_id(value) for value in [*tax_ids, endpoint_id] if value]
    if wanted:
        candidates = list(
            Vendor.objects.annotate(normalized_tax_id=_normalized_tax_id())
            .filter(normalized_tax_id__in=wanted)
            .order_by("pk")
        )
        for value in wanted:
            found: list[Vendor] = [
                vendor for vendor in candidates if vendor.normalized_tax_id == value
            ]
            if len(found) == 1:
                return found[0]
            if found:
                raise DomainError(
                    f"Several vendors have tax id {value} ({', '.join(v.name for v in found)}); "
                    "merge them before importing."
                )
    for name in names:
        if name:
            found = list(Vendor.objects.filter(name__iexact=name.strip()).order_by("pk")[:2])
            if len(found) == 1:
                return found[0]
            if found:
                raise DomainError(
                    f"Several vendors are named {name}; add the tax id to the vendor."
                )
    raise _unknown_vendor(next((n for n in names if n), ""), next((t for t in tax_ids if t), ""))


def resolve_purchase_order(reference: str) -> PurchaseOrder | None:
    """The PO an order reference names; None for no reference, a placeholder or an unknown number."""
    if not reference:
        return None
    return PurchaseOrder.objects.filter(number__iexact=reference.strip()).order_by("pk").first()


class PoLineNumbers:
    """The PO lines by line number, read once per purchase order for all invoices of a file."""

    def __init__(self) -> None:
        self.by_order: dict[int, dict[int, int]] = {}

    def of(self, purchase_order: PurchaseOrder) -> dict[int, int]:
        if purchase_order.pk not in self.by_order:
            self.by_order[purchase_order.pk] = dict(
                purchase_order.lines.values_list("line_no", "pk")
            )
        return self.by_order[purchase_order.pk]


def map_po_lines(
    lines: Sequence[ParsedLine],
    purchase_order: PurchaseOrder | None,
    po_lines: PoLineNumbers | None = None,
) -> list[int | None]:
    """Which PO line each invoice line bills: by the quoted order line, else by position."""
    if purchase_order is None:
        return [None] * len(lines)
    by_line_no = (po_lines or PoLineNumbers()).of(purchase_order)
    if any(line.order_line_reference for line in lines):
        return [
            by_line_no.get(int(ref))
            if (ref := line.order_line_reference.strip()).isdigit()
            else None
            for line in lines
        ]
    if len(by_line_no) == len(lines):
        return [by_line_no[no] for no in sorted(by_line_no)]
    return [None] * len(lines)


# --- one document ----------------------------------------------------------------------------


def import_parsed(
    *,
    parsed: ParsedInvoice,
    by: User | None,
    source_file: str = "",
    vendor: Vendor | None = None,
    purchase_order: PurchaseOrder | None = None,
    enqueue_match: bool = True,
) -> Invoice:
    """Capture a parsed document as an Invoice, resolving its vendor and PO when not given."""
    invoice = capture_input(
        parsed=parsed, source_file=source_file, vendor=vendor, purchase_order=purchase_order
    )
    (outcome,) = invoice_capture_many(by=by, invoices=[invoice], enqueue_match=enqueue_match)
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def capture_input(
    *,
    parsed: ParsedInvoice,
    source_file: str = "",
    vendor: Vendor | None = None,
    purchase_order: PurchaseOrder | None = None,
    po_lines: PoLineNumbers | None = None,
) -> InvoiceInput:
    """What invoice_capture takes for a parsed document; DomainError when it cannot be one.

    `po_lines` remembers the PO lines across the invoices of one file.
    """
    max_length = Invoice._meta.get_field("number").max_length
    if max_length is not None and len(parsed.number) > max_length:
        raise DomainError(f"The invoice number '{parsed.number[:80]}…' is too long to be real.")
    if vendor is None:
        vendor = resolve_vendor(
            tax_ids=[parsed.seller_tax_id, *parsed.seller_ids],
            endpoint_id=parsed.seller_endpoint_id,
            names=[parsed.seller_name, parsed.seller_trading_name],
        )
    if purchase_order is None:
        purchase_order = resolve_purchase_order(parsed.order_reference)
    # A negative invoice is a credit in substance; amounts are stored positive with the type.
    sign = (
        -1
        if parsed.tax_inclusive_amount < 0
        or (parsed.tax_inclusive_amount == 0 and parsed.payable_amount < 0)
        else 1
    )
    document_type = parsed.document_type
    if sign < 0:
        document_type = CREDIT_NOTE if parsed.document_type == INVOICE else INVOICE
    lines = []
    po_line_ids = map_po_lines(parsed.lines, purchase_order, po_lines)
    for line, po_line_id in zip(parsed.lines, po_line_ids, strict=True):
        quantity, unit_price = line.quantity * sign, line.unit_price
        if unit_price < 0:  # EN 16931 forbids it, but the line total means the same either way
            quantity, unit_price = -quantity, -unit_price
        lines.append(
            InvoiceLineInput(
                description=line.description,
                quantity=quantity,
                unit_price=unit_price,
                amount=line.net_amount * sign,
                po_line_id=po_line_id,
                tax_rate=line.tax_rate or ZERO,
                unit_code=line.unit_code,
                order_line_reference=line.order_line_reference,
            )
        )
    # Document-level allowances and charges become lines, so net = Σ lines as the match expects.
    for extra in parsed.allowances_charges:
        signed = (extra.amount if extra.is_charge else -extra.amount) * sign
        label = "Charge" if extra.is_charge else "Allowance"
        lines.append(
            InvoiceLineInput(
                description=f"{label}: {extra.reason}" if extra.reason else label,
                quantity=Decimal(1 if signed >= 0 else -1),
                unit_price=abs(signed),
                amount=signed,
                tax_rate=extra.tax_rate or ZERO,
            )
        )
    discount = parsed.discount
    return InvoiceInput(
        vendor=vendor,
        number=parsed.number,
        invoice_date=parsed.issue_date,
        currency=parsed.currency,
        lines=lines,
        tax_amount=parsed.tax_total * sign,
        total_amount=parsed.tax_inclusive_amount * sign,
        purchase_order=purchase_order,
        po_reference=parsed.order_reference_text[:60],
        document_type=document_type,
        source=_SOURCES.get(parsed.syntax, Invoice.Source.UBL),
        document=DocumentFacts(
            seller_name=parsed.seller_name,
            seller_tax_id=parsed.seller_tax_id,
            payment_terms_text=parsed.payment_terms_text,
            source_file=PurePath(source_file).name,
            tax_currency=parsed.tax_currency if parsed.tax_currency != parsed.currency else "",
            due_date=parsed.due_date,
            discount_percent=discount.percent if discount else ZERO,
            discount_days=discount.days if discount else None,
            prepaid_amount=parsed.prepaid_amount * sign,
            payable_amount=parsed.payable_amount * sign,
        ),
    )


def import_document(
    *, data: bytes, filename: str, by: User | None, enqueue_match: bool = True
) -> Invoice:
    """Parse one e-invoice file and capture it in one transaction; DomainError says why not."""
    if by is not None:
        roles.require(by, Perm.CAPTURE_INVOICE)
    parsed = parse_document(data, filename)
    with transaction.atomic():
        return import_parsed(
            parsed=parsed, by=by, source_file=filename, enqueue_match=enqueue_match
        )


# --- many files ------------------------------------------------------------------------------


def import_files(
    files: Iterable[tuple[str, bytes]],
    *,
    by: User | None,
    dry_run: bool = False,
    valid_only: bool = False,
    progress: ProgressCallback | None = None,
    decimal_mark: str = "",
) -> ImportReport:
    """Import e-invoice and CSV files, each file in its own transaction, and report on each.

    With dry_run nothing is written: e-invoices are parsed and checked, CSV rows are validated
    against vendors and POs. `progress(done, total)` is called after every file. A CSV's
    decimal mark is `decimal_mark` (point or comma) when given, else read from the file.
    """
    if by is not None:
        roles.require(by, Perm.CAPTURE_INVOICE)
    files = list(files)
    report = ImportReport()
    seen_content: dict[str, str] = {}
    imported_ids: list[int] = []
    for done, (filename, data) in enumerate(files, start=1):
        if filename.lower().endswith(".csv"):
            csv_report = import_csv(
                data=data,
                filename=filename,
                by=by,
                dry_run=dry_run,
                valid_only=valid_only,
                enqueue_match=False,
                decimal_mark=decimal_mark,
            )
            report.results.extend(csv_report.results)
            imported_ids += [r.invoice_id for r in csv_report.results if r.ok and r.invoice_id]
        else:
            result = _import_one(
                filename,
                data,
                by=by,
                dry_run=dry_run,
                seen_content=seen_content,
            )
            report.results.append(result)
            if result.invoice_id is not None:
                imported_ids.append(result.invoice_id)
        if progress is not None:
            progress(done, len(files))
    _enqueue_match(imported_ids)
    return report


def _import_one(
    filename: str,
    data: bytes,
    *,
    by: User | None,
    dry_run: bool,
    seen_content: dict[str, str],
) -> ImportResult:
    """One e-invoice file. A byte-identical copy of an earlier file in the batch is refused
    even in a dry run; the same number sent again in another file is refused on import by
    invoice_capture's duplicate rule (same vendor, same normalised number)."""
    try:
        parsed = parse_document(data, filename)
    except DomainError as exc:
        return ImportResult(file=filename, ok=False, error=exc.message)
    digest = hashlib.sha256(data).hexdigest()
    if digest in seen_content:
        return ImportResult(
            file=filename,
            ok=False,
            parsed=parsed,
            error=(
                f"Duplicate: the same file as {seen_content[digest]} (identical content, "
                f"invoice {parsed.number}); refused."
            ),
        )
    result = ImportResult(file=filename, ok=True, parsed=parsed)
    if not dry_run:
        try:
            with transaction.atomic():
                result.invoice = import_parsed(
                    parsed=parsed, by=by, source_file=filename, enqueue_match=False
                )
                result.invoice_id = result.invoice.pk
        except DomainError as exc:
            return ImportResult(file=filename, ok=False, error=exc.message, parsed=parsed)
    seen_content[digest] = filename
    return result


def _enqueue_match(invoice_ids: list[int]) -> None:
    for start in range(0, len(invoice_ids), MATCH_BATCH):
        batch = invoice_ids[start : start + MATCH_BATCH]
        transaction.on_commit(functools.partial(enqueue, "payables.tasks.match_invoices", batch))


# --- CSV -------------------------------------------------------------------------------------


def import_csv(
    *,
    data: bytes | BinaryIO,
    filename: str,
    by: User | None,
    dry_run: bool = False,
    valid_only: bool = False,
    progress: ProgressCallback | None = None,
    enqueue_match: bool = True,
    decimal_mark: str = "",
) -> ImportReport:
    """Import a CSV of invoice lines: all invoices or none, or (valid_only) the valid ones.

    Every bad row is reported with its line number and reason before anything is written.
    `data` may be an open binary file: it is read as a stream, never whole.
    """
    if by is not None:
        roles.require(by, Perm.CAPTURE_INVOICE)
    try:
        csv_file = read_csv(data, decimal_mark=decimal_mark)
    except EInvoiceError as exc:
        return ImportReport(results=[ImportResult(file=filename, ok=False, error=exc.message)])
    invoices = csv_file.invoices
    _check_against_database(invoices)
    results = [
        ImportResult(
            file=filename,
            ok=not invoice.errors,
            csv_invoice=invoice,
            number=invoice.number or None,
            line_numbers=invoice.line_numbers,
            row_errors=invoice.errors,
            error="; ".join(str(error) for error in invoice.errors) or None,
        )
        for invoice in invoices
    ]
    report = ImportReport(results=results)
    has_errors = any(invoice.errors for invoice in invoices)
    if has_errors and not valid_only:
        for result in results:
            if result.ok:
                result.ok, result.error = False, _NOT_IMPORTED
        return report
    if dry_run:
        return report
    valid = {_csv_invoice(result).first_line: result for result in results if result.ok}
    try:
        with transaction.atomic():
            # Lock the file's vendors in one order up front, so two uploads cannot deadlock
            # however their rows are ordered; invoice_capture's own lock then holds already.
            vendor_ids = {_csv_invoice(result).vendor.pk for result in valid.values()}
            list(Vendor.objects.select_for_update().filter(pk__in=vendor_ids).order_by("pk"))
            parsed_invoices = csv_file.parsed_invoices(_csv_invoice(r) for r in valid.values())
            po_lines = PoLineNumbers()
            done = 0
            while chunk := list(itertools.islice(parsed_invoices, CAPTURE_CHUNK)):
                captured_results, inputs = [], []
                for invoice, parsed in chunk:
                    try:
                        inputs.append(
                            capture_input(
                                parsed=parsed,
                                source_file=filename,
                                vendor=invoice.vendor,
                                purchase_order=invoice.purchase_order,
                                po_lines=po_lines,
                            )
                        )
                        captured_results.append(valid[invoice.first_line])
                    except DomainError as exc:
                        _refuse(valid[invoice.first_line], exc, valid_only=valid_only)
                outcomes = invoice_capture_many(by=by, invoices=inputs, enqueue_match=False)
                for result, outcome in zip(captured_results, outcomes, strict=True):
                    if isinstance(outcome, DomainError):
                        _refuse(result, outcome, valid_only=valid_only)
                    else:
                        result.invoice_id = outcome.pk
                done += len(chunk)
                if progress is not None:
                    progress(done, len(valid))
    except _AbortImport:
        for result in results:
            result.invoice_id = None
            if result.ok:
                result.ok, result.error = False, _NOT_IMPORTED
        return report
    if enqueue_match:
        _enqueue_match(
            [result.invoice_id for result in valid.values() if result.ok and result.invoice_id]
        )
    return report


def _csv_invoice(result: ImportResult) -> CsvInvoice:
    """The CSV invoice a result of import_csv was made from: every one of them has it."""
    if result.csv_invoice is None:
        raise ValueError(f"{result.file}: the result of a CSV import has no CSV invoice")
    return result.csv_invoice


class _AbortImport(Exception):
    """Rolls back an all-or-nothing CSV import after the first capture that failed."""


def _refuse(result: ImportResult, exc: DomainError, *, valid_only: bool) -> None:
    """Report why capture refused an invoice; without valid_only the whole file is rolled back."""
    line = _csv_invoice(result).first_line
    result.ok, result.error = False, f"line {line}: {exc.message}"
    result.row_errors = [RowError(line, exc.message)]
    if not valid_only:
        raise _AbortImport from exc


def _check_against_database(invoices: list[CsvInvoice]) -> None:
    """Add the errors only the database can find: unknown vendors and POs, earlier captures."""
    vendors: dict[tuple[str, str], Vendor | DomainError] = {}
    orders: dict[str, PurchaseOrder | None] = {}
    for invoice in invoices:
        if not invoice.readable:
            continue
        key = (invoice.vendor_tax_id, invoice.vendor_name)
        if key not in vendors:
            try:
                vendors[key] = resolve_vendor(
                    tax_ids=[invoice.vendor_tax_id], names=[invoice.vendor_name]
                )
            except DomainError as exc:
                vendors[key] = exc
        vendor = vendors[key]
        if isinstance(vendor, DomainError):
            invoice.errors.append(RowError(invoice.first_line, vendor.message))
        else:
            invoice.vendor = vendor
        reference = invoice.order_reference
        if reference:
            if reference.upper() not in orders:
                orders[reference.upper()] = resolve_purchase_order(reference)
            invoice.purchase_order = orders[reference.upper()]
            if invoice.purchase_order is None:
                invoice.errors.append(
                    RowError(
                        invoice.first_line,
                        f"Unknown purchase order {reference}: check the po_number.",
                    )
                )
        else:
            invoice.purchase_order = None
    _check_earlier_captures([i for i in invoices if i.readable and not i.errors])


def _check_earlier_captures(invoices: list[CsvInvoice]) -> None:
    """Invoices already captured under the same vendor and number: one query per chunk.

    Chunked so that a file of 100,000 invoices does not build one statement of 100,000
    parameters.
    """
    for start in range(0, len(invoices), CAPTURE_CHUNK):
        _check_captured_chunk(invoices[start : start + CAPTURE_CHUNK])


def _check_captured_chunk(invoices: list[CsvInvoice]) -> None:
    captured = captured_numbers((i.vendor.pk, normalize_invoice_number(i.number)) for i in invoices)
    for invoice in invoices:
        error = duplicate_error(
            vendor=invoice.vendor,
            number=invoice.number,
            # An invoice without errors has its document type: read_csv reports a row without one.
            document_type=invoice.document_type,  # type: ignore[arg-type]
            normalized=normalize_invoice_number(invoice.number),
            captured=captured,
        )
        if error is not None:
            invoice.errors.append(RowError(invoice.first_line, error.message))
