"""The CSV upload: one row per invoice line, many invoices per file, read into ParsedInvoices.

Columns (header names, any order, case-insensitive): vendor_tax_id or vendor_name,
invoice_number, invoice_date (YYYY-MM-DD), currency, po_number, line_description, quantity,
unit_price, tax_amount (per invoice: repeat it or give it on the invoice's first row) and,
optionally, document_type (invoice or credit_note). Rows are grouped into invoices by
(vendor, invoice number). This module checks what the file itself can tell; vendors,
purchase orders and duplicates are checked against the database by `payables.services.importing`.
"""

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO, TypeVar

from django.conf import settings

from p2p.dates import implausible_date
from p2p.money import ZERO, round_money
from payables.einvoice.common import (
    CREDIT_NOTE,
    INVOICE,
    MAX_MAGNITUDE,
    EInvoiceError,
    ParsedInvoice,
    ParsedLine,
    clean_order_reference,
    money_text,
    normalize_party_id,
)
from payables.services.invoices import normalize_invoice_number

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


@dataclass(slots=True, eq=False)
class CsvInvoice:
    """One invoice of the file: its header as the first row gives it, totals and errors.

    Its lines are not kept: `CsvFile.parsed_invoices` reads them again when they are written,
    so a file of 200,000 lines is never in memory whole.
    """

    first_line: int
    line_numbers: list[int]
    vendor_tax_id: str
    vendor_name: str
    number: str
    errors: list[RowError] = field(default_factory=list)
    invoice_date: dt.date | None = None
    currency: str = ""
    po_number: str = ""
    document_type: str | None = None
    tax_amount: Decimal | None = None
    net_amount: Decimal = ZERO
    # Every row could be read; set once the whole file has been (the database may still refuse).
    readable: bool = False
    # Resolved against the database by payables.services.importing (a Vendor and a PurchaseOrder).
    vendor: Any = None
    purchase_order: Any = None

    @property
    def order_reference(self) -> str:
        return clean_order_reference(self.po_number)

    @property
    def tax_total(self) -> Decimal:
        return round_money(self.tax_amount or ZERO, self.currency)

    def summary(self) -> dict[str, object] | None:
        """The command line's facts about the invoice (ParsedInvoice.as_summary's keys)."""
        if not self.readable or self.invoice_date is None:
            return None
        return {
            "document_type": self.document_type,
            "number": self.number,
            "issue_date": self.invoice_date.isoformat(),
            "due_date": None,
            "currency": self.currency,
            "seller_name": self.vendor_name or None,
            "seller_tax_id": self.vendor_tax_id or None,
            "order_reference": self.order_reference or None,
            "line_count": len(self.line_numbers),
            "line_net_total": money_text(self.net_amount),
            "tax_total": money_text(self.tax_total),
            "payable_amount": money_text(self.net_amount + self.tax_total),
        }


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
) -> "CsvFile":
    """Read the file's invoices; EInvoiceError when the file as a whole is unusable.

    `source` is the file's bytes or a seekable binary file, read as a stream: once to count
    the rows and learn its decimal mark, once to check every row, and once more for the
    lines when the invoices are written. `decimal_mark` is POINT or COMMA when the clerk
    chose it, else it is detected from the file.
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
    csv_file = CsvFile(stream, layout)
    groups: dict[tuple[str, str], CsvInvoice] = {}
    ungroupable = []
    for row in csv_file.rows():
        key = _group_key(row.vendor_tax_id, row.vendor_name, row.number)
        if key is None:
            ungroupable.append(_invoice_of(row))
        elif key in groups:
            _add_row(groups[key], row)
        else:
            groups[key] = _invoice_of(row)
    csv_file.invoices = sorted(
        [*groups.values(), *ungroupable], key=lambda invoice: invoice.first_line
    )
    for invoice in csv_file.invoices:
        invoice.readable = not invoice.errors
    return csv_file


class CsvFile:
    """A CSV being imported: its invoices, and the stream to read their lines from again."""

    def __init__(self, stream: BinaryIO, layout: "_Layout") -> None:
        self.stream = stream
        self.layout = layout
        self.invoices: list[CsvInvoice] = []

    def rows(self) -> Iterator["_Row"]:
        with _text(self.stream, self.layout.encoding) as text:
            reader = csv.reader(text, delimiter=self.layout.delimiter)
            next(reader)
            try:
                for values in reader:
                    if not any(value.strip() for value in values):
                        continue
                    record = dict(
                        zip(self.layout.header, (v.strip() for v in values), strict=False)
                    )
                    yield _read_row(reader.line_num, record, self.layout)
            except csv.Error as exc:
                raise EInvoiceError(
                    f"The CSV cannot be read at line {reader.line_num} ({exc})."
                ) from None

    def parsed_invoices(
        self, invoices: Iterable[CsvInvoice]
    ) -> Iterator[tuple[CsvInvoice, ParsedInvoice]]:
        """The given invoices with their lines, each as soon as its last row has been read.

        Only the rows of invoices not yet complete are held, which in a file that keeps an
        invoice's rows together is one invoice's.
        """
        wanted = {
            _group_key(i.vendor_tax_id, i.vendor_name, i.number): i for i in invoices if i.readable
        }
        pending: dict[tuple[str, str], list[_Row]] = {}
        for row in self.rows():
            key = _group_key(row.vendor_tax_id, row.vendor_name, row.number)
            invoice = wanted.get(key) if key is not None else None
            if key is None or invoice is None:
                continue
            rows = pending.setdefault(key, [])
            rows.append(row)
            if len(rows) == len(invoice.line_numbers):
                del pending[key]
                yield invoice, _parsed(invoice, rows)


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
        # A generator abandoned mid-file may be finalised after its caller closed the file.
        if not self.wrapper.buffer.closed:
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


def _group_key(vendor_tax_id: str, vendor_name: str, number: str) -> tuple[str, str] | None:
    """Rows with the same vendor and invoice number (normalised) are one invoice."""
    if not number or not (vendor_tax_id or vendor_name):
        return None
    vendor = normalize_party_id(vendor_tax_id) if vendor_tax_id else "NAME:" + vendor_name.upper()
    return vendor, normalize_invoice_number(number)


def _invoice_of(row: _Row) -> CsvInvoice:
    invoice = CsvInvoice(
        first_line=row.line,
        line_numbers=[row.line],
        vendor_tax_id=row.vendor_tax_id,
        vendor_name=row.vendor_name,
        number=row.number,
        errors=list(row.errors),
        invoice_date=row.invoice_date,
        currency=row.currency,
        po_number=row.po_number,
        document_type=row.document_type,
        tax_amount=row.tax_amount,
    )
    _add_amount(invoice, row)
    return invoice


def _add_row(invoice: CsvInvoice, row: _Row) -> None:
    invoice.line_numbers.append(row.line)
    invoice.errors += row.errors
    # Header values may be repeated on every row or given once; repeated ones must agree.
    if not row.errors:
        for label, mine, theirs in (
            ("invoice_date", row.invoice_date, invoice.invoice_date),
            ("currency", row.currency, invoice.currency),
            ("po_number", row.po_number or invoice.po_number, invoice.po_number),
            ("document_type", row.document_type, invoice.document_type),
            (
                "tax_amount",
                row.tax_amount if row.tax_amount is not None else invoice.tax_amount,
                invoice.tax_amount,
            ),
        ):
            if mine != theirs:
                invoice.errors.append(
                    RowError(
                        row.line,
                        f"{label} differs from line {invoice.first_line} of the same invoice "
                        f"{invoice.number}.",
                    )
                )
    _add_amount(invoice, row)


def _add_amount(invoice: CsvInvoice, row: _Row) -> None:
    if row.quantity is not None and row.unit_price is not None and row.currency:
        invoice.net_amount += round_money(row.quantity * row.unit_price, row.currency)


_Value = TypeVar("_Value")


def _checked(value: _Value | None, line: int, what: str) -> _Value:
    """A value every row of a readable invoice has: reading the file reported it if missing."""
    if value is None:
        raise EInvoiceError(f"Line {line}: {what} is missing.")
    return value


def _parsed(invoice: CsvInvoice, rows: list[_Row]) -> ParsedInvoice:
    currency = invoice.currency
    lines = []
    for n, row in enumerate(rows, start=1):
        quantity = _checked(row.quantity, row.line, "quantity")
        unit_price = _checked(row.unit_price, row.line, "unit_price")
        lines.append(
            ParsedLine(
                line_id=str(n),
                description=row.description,
                quantity=quantity,
                unit_code="",
                unit_price=unit_price,
                net_amount=round_money(quantity * unit_price, currency),
            )
        )
    net = sum((line.net_amount for line in lines), ZERO)
    tax = invoice.tax_total
    return ParsedInvoice(
        syntax="csv",
        document_type=_checked(invoice.document_type, invoice.first_line, "document_type"),
        type_code="381" if invoice.document_type == CREDIT_NOTE else "380",
        number=invoice.number,
        issue_date=_checked(invoice.invoice_date, invoice.first_line, "invoice_date"),
        due_date=None,
        currency=currency,
        lines=lines,
        seller_name=invoice.vendor_name,
        seller_tax_id=invoice.vendor_tax_id,
        seller_ids=(invoice.vendor_tax_id,) if invoice.vendor_tax_id else (),
        order_reference=invoice.order_reference,
        order_reference_text=invoice.po_number,
        line_net_total=net,
        tax_exclusive_amount=net,
        tax_total=tax,
        tax_inclusive_amount=net + tax,
        payable_amount=net + tax,
    )
