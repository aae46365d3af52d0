"""The CSV upload: one row per invoice line, many invoices per file, read into ParsedInvoices.

Columns (header names, any order, case-insensitive): vendor_tax_id or vendor_name,
invoice_number, invoice_date (YYYY-MM-DD), currency, po_number, line_description, quantity,
unit_price, tax_amount (per invoice: repeat it or give it on the invoice's first row) and,
optionally, document_type (invoice or credit_note). Rows are grouped into invoices by
(vendor, invoice number). This module checks what the file itself can tell; vendors,
purchase orders and duplicates are checked against the database by `payables.importing`.
"""

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from django.conf import settings

from p2p.dates import implausible_date
from p2p.money import round_money
from payables.einvoice.common import (
    CREDIT_NOTE,
    INVOICE,
    MAX_MAGNITUDE,
    ZERO,
    EInvoiceError,
    ParsedInvoice,
    ParsedLine,
    clean_order_reference,
    normalize_party_id,
)
from payables.services import normalize_invoice_number

# A CSV carries many invoices, so it may be larger than one e-invoice.
MAX_CSV_BYTES = 50 * 1024 * 1024
REQUIRED_COLUMNS = (
    "invoice_number",
    "invoice_date",
    "currency",
    "line_description",
    "quantity",
    "unit_price",
)
NUMBER_COLUMNS = ("quantity", "unit_price", "tax_amount")
# How the clerk names a file's decimal mark on upload, and the character it stands for.
POINT, COMMA = "point", "comma"
DECIMAL_MARKS = {POINT: ".", COMMA: ","}
# A number written with the given decimal mark; the other mark may group thousands.
_NUMBER_PATTERNS = {
    ".": r"[-+]?(\d+|[1-9]\d{0,2}(,\d{3})+)(\.\d+)?",
    ",": r"[-+]?(\d+|[1-9]\d{0,2}(\.\d{3})+)(,\d+)?",
}
OPTIONAL_COLUMNS = ("vendor_tax_id", "vendor_name", "po_number", "tax_amount", "document_type")
_DOCUMENT_TYPES = {
    "": INVOICE,
    "invoice": INVOICE,
    "380": INVOICE,
    "inv": INVOICE,
    "credit_note": CREDIT_NOTE,
    "credit note": CREDIT_NOTE,
    "creditnote": CREDIT_NOTE,
    "credit": CREDIT_NOTE,
    "381": CREDIT_NOTE,
}


@dataclass(frozen=True)
class RowError:
    """Why one line of the file cannot be imported; `line` is the line number in the file."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class CsvInvoice:
    """The rows of one invoice in the file: parsed when they are all valid, else their errors."""

    first_line: int
    line_numbers: list[int]
    vendor_tax_id: str
    vendor_name: str
    number: str
    parsed: ParsedInvoice | None = None
    errors: list[RowError] = field(default_factory=list)
    # Resolved against the database by payables.importing (a Vendor and a PurchaseOrder).
    vendor: Any = None
    purchase_order: Any = None


@dataclass(slots=True)
class _Row:
    line: int
    vendor_tax_id: str
    vendor_name: str
    number: str
    invoice_date: dt.date | None
    currency: str
    po_number: str
    description: str
    quantity: Decimal | None
    unit_price: Decimal | None
    tax_amount: Decimal | None
    document_type: str | None
    errors: list[RowError]


def read_csv(
    source: bytes | BinaryIO, *, decimal_mark: str = "", max_rows: int | None = None
) -> list[CsvInvoice]:
    """Group the file's rows into invoices; EInvoiceError when the file as a whole is unusable.

    `source` is the file's bytes or a seekable binary file, read twice as a stream: once to
    count the rows and learn its decimal mark, once to read them. `decimal_mark` is POINT or
    COMMA when the clerk chose it, else it is detected from the file.
    """
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    size = stream.seek(0, io.SEEK_END)
    if size > MAX_CSV_BYTES:
        raise EInvoiceError(
            f"The CSV is {size / 1024 / 1024:.1f} MB; split files above "
            f"{MAX_CSV_BYTES // 1024 // 1024} MB."
        )
    if decimal_mark and decimal_mark not in DECIMAL_MARKS:
        raise EInvoiceError(f"Decimal mark '{decimal_mark}' must be {POINT} or {COMMA}.")
    max_rows = settings.CSV_IMPORT_MAX_ROWS if max_rows is None else max_rows
    try:
        layout = _survey(stream, "utf-8-sig", decimal_mark, max_rows)
    except UnicodeDecodeError:
        # Excel in most of Europe still saves "CSV" as Windows-1252.
        layout = _survey(stream, "cp1252", decimal_mark, max_rows)
    rows = []
    with _text(stream, layout.encoding) as text:
        reader = csv.reader(text, delimiter=layout.delimiter)
        next(reader)
        try:
            for values in reader:
                if not any(value.strip() for value in values):
                    continue
                record = dict(zip(layout.header, (v.strip() for v in values), strict=False))
                rows.append(_read_row(reader.line_num, record, layout))
        except csv.Error as exc:
            raise EInvoiceError(
                f"The CSV cannot be read at line {reader.line_num} ({exc})."
            ) from None
    return _group(rows)


@dataclass(frozen=True)
class _Layout:
    """What the first pass learnt about the file as a whole."""

    encoding: str
    delimiter: str
    header: list[str]
    # "." or ","; `mark_known` is False when the file gave no evidence either way.
    decimal: str
    mark_known: bool


class _text:  # noqa: N801 - used as a context manager, like open()
    """The binary stream as text from its start, handed back undetached and unclosed."""

    def __init__(self, stream: BinaryIO, encoding: str) -> None:
        stream.seek(0)
        self.wrapper = io.TextIOWrapper(
            stream,
            encoding=encoding,
            errors="replace" if encoding == "cp1252" else "strict",
            newline="",
        )

    def __enter__(self) -> io.TextIOWrapper:
        return self.wrapper

    def __exit__(self, *exc: object) -> None:
        self.wrapper.detach()


def _survey(stream: BinaryIO, encoding: str, decimal_mark: str, max_rows: int) -> _Layout:
    """Read the file once without keeping it: header, row count, the decimal mark it uses."""
    with _text(stream, encoding) as text:
        first_line = text.readline()
        if not first_line.strip():
            raise EInvoiceError("The CSV file is empty.")
        delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
        text.seek(0)
        reader = csv.reader(text, delimiter=delimiter)
        try:
            header = [re.sub(r"\s+", "_", name.strip().lower()) for name in next(reader)]
        except csv.Error as exc:
            raise EInvoiceError(f"The CSV header cannot be read ({exc}).") from None
        _check_header(header)
        columns = [(header.index(name), name) for name in NUMBER_COLUMNS if name in header]
        evidence: dict[str, tuple[int, str, str]] = {}
        rows = 0
        try:
            for values in reader:
                if not any(value.strip() for value in values):
                    continue
                rows += 1
                if rows > max_rows:
                    raise EInvoiceError(
                        f"The CSV has more than {max_rows:,} invoice lines; split it into files "
                        f"of at most {max_rows:,} lines."
                    )
                if decimal_mark or len(evidence) == 2:
                    continue
                for index, name in columns:
                    raw = values[index] if index < len(values) else ""
                    mark = _decimal_mark_of(_compact(raw))
                    if mark and mark not in evidence:
                        evidence[mark] = (reader.line_num, name, raw.strip())
        except csv.Error as exc:
            raise EInvoiceError(
                f"The CSV cannot be read at line {reader.line_num} ({exc})."
            ) from None
    if not rows:
        raise EInvoiceError("The CSV has a header but no invoice lines.")
    if decimal_mark:
        return _Layout(encoding, delimiter, header, DECIMAL_MARKS[decimal_mark], True)
    if len(evidence) == 2:
        (comma_line, comma_column, comma_raw) = evidence[","]
        (point_line, point_column, point_raw) = evidence["."]
        raise EInvoiceError(
            f"The CSV mixes decimal marks: {comma_column} '{comma_raw}' on line {comma_line} "
            f"has a decimal comma, {point_column} '{point_raw}' on line {point_line} a decimal "
            "point. Correct the file, or choose its decimal mark when you upload it."
        )
    if evidence:
        return _Layout(encoding, delimiter, header, next(iter(evidence)), True)
    # No number in the file says: a semicolon file comes from a decimal-comma Excel.
    return _Layout(encoding, delimiter, header, "," if delimiter == ";" else ".", False)


def _check_header(header: list[str]) -> None:
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if "vendor_tax_id" not in header and "vendor_name" not in header:
        missing.insert(0, "vendor_tax_id or vendor_name")
    if missing:
        raise EInvoiceError(
            f"The CSV lacks the column(s) {', '.join(missing)}. Expected: vendor_tax_id (or "
            f"vendor_name), {', '.join(REQUIRED_COLUMNS)}, po_number, tax_amount, document_type."
        )


def _compact(raw: str) -> str:
    """The number without the spaces some locales group thousands with (1 234,50)."""
    return re.sub(r"[\s\u00a0\u202f']", "", raw)


def _decimal_mark_of(number: str) -> str:
    """ "," or "." when the text can only be read one way, "" when it could be either or neither.

    "390,00", "1.234,50" and "1.234.567" use a decimal comma; "23.50" and "1,234.50" a point;
    "1,234" and "1.234" could be a thousand or one, so they decide nothing.
    """
    for decimal, thousands in ((",", "."), (".", ",")):
        if re.fullmatch(_NUMBER_PATTERNS[decimal], number) and not re.fullmatch(
            _NUMBER_PATTERNS[thousands], number
        ):
            return decimal
    return ""


def _not_a_number(number: str, layout: _Layout) -> str:
    if _decimal_mark_of(number) not in ("", layout.decimal):
        used, wanted = ("comma", "point") if layout.decimal == "." else ("point", "comma")
        example = "1,234.50" if layout.decimal == "." else "1.234,50"
        return (
            f"has a decimal {used}, but this file uses a decimal {wanted} ({example}): correct "
            "the file, or choose its decimal mark when you upload it."
        )
    return "is not a number."


def _parse_number(number: str, layout: _Layout) -> Decimal | None:
    """The value under the file's decimal mark; None when the text is not written that way."""
    if not re.fullmatch(_NUMBER_PATTERNS[layout.decimal], number):
        return None
    thousands = "." if layout.decimal == "," else ","
    return Decimal(number.replace(thousands, "").replace(layout.decimal, "."))


def _read_row(line: int, record: dict[str, str], layout: _Layout) -> _Row:
    errors: list[RowError] = []

    def number(column: str, *, required: bool = True) -> Decimal | None:
        raw = record.get(column, "")
        if not raw:
            if required:
                errors.append(RowError(line, f"{column} is missing."))
            return None
        compact = _compact(raw)
        if not layout.mark_known and re.search(r"[.,]", compact) and not _decimal_mark_of(compact):
            errors.append(
                RowError(
                    line,
                    f"{column} '{raw}' could be read with a decimal point or a decimal comma and "
                    "nothing else in the file says which: choose the decimal mark when you "
                    "upload it.",
                )
            )
            return None
        value = _parse_number(compact, layout)
        if value is None:
            errors.append(RowError(line, f"{column} '{raw}' {_not_a_number(compact, layout)}"))
            return None
        if abs(value) >= MAX_MAGNITUDE:
            errors.append(RowError(line, f"{column} '{raw}' is too large."))
            return None
        return value

    number_text = record.get("invoice_number", "")
    if not number_text:
        errors.append(RowError(line, "invoice_number is missing."))
    vendor_tax_id, vendor_name = record.get("vendor_tax_id", ""), record.get("vendor_name", "")
    if not vendor_tax_id and not vendor_name:
        errors.append(RowError(line, "vendor_tax_id (or vendor_name) is missing."))
    invoice_date = None
    date_text = record.get("invoice_date", "")
    if not date_text:
        errors.append(RowError(line, "invoice_date is missing."))
    else:
        try:
            invoice_date = dt.date.fromisoformat(date_text)
        except ValueError:
            errors.append(
                RowError(line, f"invoice_date '{date_text}' is not a date (use YYYY-MM-DD).")
            )
        else:
            if problem := implausible_date(invoice_date, "invoice_date"):
                errors.append(RowError(line, problem))
                invoice_date = None
    currency = record.get("currency", "").upper()
    if not re.fullmatch(r"[A-Z]{3}", currency):
        errors.append(
            RowError(line, f"currency '{currency}' is not a three-letter code such as EUR.")
        )
    description = record.get("line_description", "")
    if not description:
        errors.append(RowError(line, "line_description is missing."))
    quantity = number("quantity")
    if quantity is not None and quantity <= 0:
        errors.append(
            RowError(
                line,
                f"quantity must be greater than zero (got {quantity}); use document_type credit_note.",
            )
        )
    unit_price = number("unit_price")
    if unit_price is not None and unit_price < 0:
        errors.append(RowError(line, f"unit_price cannot be negative (got {unit_price})."))
    tax_amount = number("tax_amount", required=False)
    if tax_amount is not None and tax_amount < 0:
        errors.append(RowError(line, f"tax_amount cannot be negative (got {tax_amount})."))
    document_type = _DOCUMENT_TYPES.get(record.get("document_type", "").lower())
    if document_type is None:
        errors.append(
            RowError(
                line,
                f"document_type '{record.get('document_type')}' must be invoice or credit_note.",
            )
        )
    return _Row(
        line=line,
        vendor_tax_id=vendor_tax_id,
        vendor_name=vendor_name,
        number=number_text,
        invoice_date=invoice_date,
        currency=currency,
        po_number=record.get("po_number", ""),
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        tax_amount=tax_amount,
        document_type=document_type,
        errors=errors,
    )


def _group_key(row: _Row) -> tuple[str, str]:
    vendor = (
        normalize_party_id(row.vendor_tax_id)
        if row.vendor_tax_id
        else "NAME:" + row.vendor_name.upper()
    )
    return vendor, normalize_invoice_number(row.number)


def _group(rows: list[_Row]) -> list[CsvInvoice]:
    groups: dict[tuple[str, str], list[_Row]] = {}
    ungroupable = []
    for row in rows:
        if not row.number or not (row.vendor_tax_id or row.vendor_name):
            ungroupable.append(row)
        else:
            groups.setdefault(_group_key(row), []).append(row)
    invoices = [_invoice(group) for group in groups.values()]
    invoices += [
        CsvInvoice(
            first_line=row.line,
            line_numbers=[row.line],
            vendor_tax_id=row.vendor_tax_id,
            vendor_name=row.vendor_name,
            number=row.number,
            errors=row.errors,
        )
        for row in ungroupable
    ]
    return sorted(invoices, key=lambda invoice: invoice.first_line)


def _invoice(rows: list[_Row]) -> CsvInvoice:
    first = rows[0]
    errors = [error for row in rows for error in row.errors]
    # Header values may be repeated on every row or given once; repeated ones must agree.
    for row in rows[1:]:
        for label, mine, theirs in (
            ("invoice_date", row.invoice_date, first.invoice_date),
            ("currency", row.currency, first.currency),
            ("po_number", row.po_number or first.po_number, first.po_number),
            ("document_type", row.document_type, first.document_type),
            (
                "tax_amount",
                row.tax_amount if row.tax_amount is not None else first.tax_amount,
                first.tax_amount,
            ),
        ):
            if mine != theirs and not row.errors:
                errors.append(
                    RowError(
                        row.line,
                        f"{label} differs from line {first.line} of the same invoice {first.number}.",
                    )
                )
    invoice = CsvInvoice(
        first_line=first.line,
        line_numbers=[row.line for row in rows],
        vendor_tax_id=first.vendor_tax_id,
        vendor_name=first.vendor_name,
        number=first.number,
        errors=errors,
    )
    if errors:
        return invoice
    currency = first.currency
    lines = [
        ParsedLine(
            line_id=str(n),
            description=row.description,
            quantity=row.quantity,
            unit_code="",
            unit_price=row.unit_price,
            net_amount=round_money(row.quantity * row.unit_price, currency),
        )
        for n, row in enumerate(rows, start=1)
    ]
    net = sum((line.net_amount for line in lines), ZERO)
    tax = round_money(first.tax_amount or ZERO, currency)
    po_number = first.po_number
    invoice.parsed = ParsedInvoice(
        syntax="csv",
        document_type=first.document_type,
        type_code="381" if first.document_type == CREDIT_NOTE else "380",
        number=first.number,
        issue_date=first.invoice_date,
        due_date=None,
        currency=currency,
        lines=lines,
        seller_name=first.vendor_name,
        seller_tax_id=first.vendor_tax_id,
        seller_ids=(first.vendor_tax_id,) if first.vendor_tax_id else (),
        order_reference=clean_order_reference(po_number),
        order_reference_text=po_number,
        line_net_total=net,
        tax_exclusive_amount=net,
        tax_total=tax,
        tax_inclusive_amount=net + tax,
        payable_amount=net + tax,
    )
    return invoice
