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
from decimal import Decimal, InvalidOperation
from typing import Any

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


@dataclass
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


def read_csv(data: bytes) -> list[CsvInvoice]:
    """Group the file's rows into invoices; EInvoiceError when the file as a whole is unusable."""
    if len(data) > MAX_CSV_BYTES:
        raise EInvoiceError(
            f"The CSV is {len(data) / 1024 / 1024:.1f} MB; split files above "
            f"{MAX_CSV_BYTES // 1024 // 1024} MB."
        )
    text = _decode(data)
    if not text.strip():
        raise EInvoiceError("The CSV file is empty.")
    first_line = text.splitlines()[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [re.sub(r"\s+", "_", name.strip().lower()) for name in next(reader)]
    except csv.Error as exc:
        raise EInvoiceError(f"The CSV header cannot be read ({exc}).") from None
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if "vendor_tax_id" not in header and "vendor_name" not in header:
        missing.insert(0, "vendor_tax_id or vendor_name")
    if missing:
        raise EInvoiceError(
            f"The CSV lacks the column(s) {', '.join(missing)}. Expected: vendor_tax_id (or "
            f"vendor_name), {', '.join(REQUIRED_COLUMNS)}, po_number, tax_amount, document_type."
        )
    rows = []
    try:
        for values in reader:
            if not any(value.strip() for value in values):
                continue
            record = dict(zip(header, (value.strip() for value in values), strict=False))
            rows.append(_read_row(reader.line_num, record, decimal_comma=delimiter == ";"))
    except csv.Error as exc:
        raise EInvoiceError(f"The CSV cannot be read at line {reader.line_num} ({exc}).") from None
    if not rows:
        raise EInvoiceError("The CSV has a header but no invoice lines.")
    return _group(rows)


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Excel in most of Europe still saves "CSV" as Windows-1252.
        return data.decode("cp1252", errors="replace")


def _read_row(line: int, record: dict[str, str], *, decimal_comma: bool) -> _Row:
    errors: list[RowError] = []

    def number(column: str, *, required: bool = True) -> Decimal | None:
        raw = record.get(column, "")
        if not raw:
            if required:
                errors.append(RowError(line, f"{column} is missing."))
            return None
        cleaned = raw.replace(" ", "")
        if decimal_comma and re.fullmatch(r"-?\d+(\.\d{3})*,\d+", cleaned):
            cleaned = cleaned.replace(".", "").replace(",", ".")
        else:
            cleaned = cleaned.replace(",", "")
        try:
            value = Decimal(cleaned)
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite():
            errors.append(RowError(line, f"{column} '{raw}' is not a number."))
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
