"""Reading and checking a CSV file of vendors; writing happens in vendors.services.

Columns (header names in any order and case; comma, semicolon or tab separated):
name, country, currency, payment_terms (a terms code such as NET30) are required;
tax_id, email, remit_to, iban, bic and account_holder are optional. Every problem is
reported with the file's line number (the header is line 1), so a clerk can fix the file.
"""

import _csv  # the reader's type; the csv module does not name it
import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from p2p.exceptions import DomainError
from vendors import selectors, validation
from vendors.models import PaymentTerms

REQUIRED_COLUMNS = ("name", "country", "currency", "payment_terms")
OPTIONAL_COLUMNS = ("tax_id", "email", "remit_to", "iban", "bic", "account_holder")
MAX_ROWS = 5000
PROGRESS_EVERY = 25


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a look) on one line of the file."""

    line: int
    column: str
    message: str

    def as_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "message": self.message}


@dataclass(frozen=True)
class VendorRow:
    """A row that passed every check, ready to insert."""

    line: int
    name: str
    country: str
    currency: str
    payment_terms_id: int
    tax_id: str = ""
    email: str = ""
    remit_to: str = ""
    iban: str = ""
    bic: str = ""
    account_holder: str = ""


@dataclass
class CheckedFile:
    """The outcome of checking a file: good rows, errors and warnings, by line."""

    total_rows: int = 0
    rows: list[VendorRow] = field(default_factory=list)
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def _reader(content: str) -> _csv.Reader:
    first_line = content.split("\n", 1)[0]
    try:
        dialect = csv.Sniffer().sniff(first_line, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return csv.reader(io.StringIO(content), dialect)


def _column_name(header: str) -> str:
    return "_".join(header.strip().lower().replace("-", " ").split())


def check_header(content: str) -> list[str]:
    """The normalised column names, or DomainError naming the missing required columns."""
    if not content.strip():
        raise DomainError("The file is empty.")
    header = [_column_name(name) for name in next(_reader(content), [])]
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    if missing:
        raise DomainError(
            f"The file lacks the column(s) {', '.join(missing)}. The first line must name the "
            f"columns: {', '.join(REQUIRED_COLUMNS)} and optionally {', '.join(OPTIONAL_COLUMNS)}."
        )
    unknown = [
        name for name in header if name and name not in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    ]
    if unknown:
        raise DomainError(
            f"The file has column(s) this import does not know: {', '.join(unknown)}."
        )
    return header


def _records(content: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, {column: value}) for every non-blank data row."""
    header = check_header(content)
    reader = _reader(content)
    next(reader)
    records, last_line = [], reader.line_num
    for values in reader:
        line = last_line + 1
        last_line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        padded = [*values, *[""] * (len(header) - len(values))]
        records.append((line, {name: padded[i].strip() for i, name in enumerate(header) if name}))
        if len(records) > MAX_ROWS:
            raise DomainError(f"The file has more than {MAX_ROWS} vendors; split it into parts.")
    return records


def _check_row(
    line: int, values: dict[str, str], terms: dict[str, int], problems: list[Problem]
) -> VendorRow | None:
    found = len(problems)

    def attempt(column: str, check: Callable[[], str]) -> str:
        try:
            return check()
        except DomainError as exc:
            problems.append(Problem(line, column, exc.message))
            return ""

    name = " ".join(values.get("name", "").split())
    if not name:
        problems.append(Problem(line, "name", "The vendor name is missing."))
    elif len(name) > 200:
        problems.append(Problem(line, "name", "The vendor name is longer than 200 characters."))
    country = attempt("country", lambda: validation.clean_country(values.get("country", "")))
    currency = attempt("currency", lambda: validation.clean_currency(values.get("currency", "")))
    tax_id = (
        attempt("tax_id", lambda: validation.clean_tax_id(values.get("tax_id", ""), country))
        if country
        else ""
    )
    terms_code = values.get("payment_terms", "").strip().upper()
    terms_id = terms.get(terms_code)
    if terms_id is None:
        known = ", ".join(sorted(terms)) or "none defined"
        problems.append(
            Problem(
                line,
                "payment_terms",
                f"Unknown payment terms '{values.get('payment_terms', '')}' (known: {known})."
                if terms_code
                else f"The payment terms are missing (known: {known}).",
            )
        )
    email = values.get("email", "")
    if email:
        try:
            validate_email(email)
        except ValidationError:
            problems.append(Problem(line, "email", f"'{email}' is not an e-mail address."))
    iban = (
        attempt("iban", lambda: validation.clean_iban(values["iban"])) if values.get("iban") else ""
    )
    bic = ""
    if iban:
        bic = attempt("bic", lambda: validation.clean_bic(values.get("bic", ""), iban))
    elif values.get("bic"):
        problems.append(
            Problem(line, "bic", "A BIC without an IBAN; add the IBAN or drop the BIC.")
        )
    # Unknown payment terms added a problem above; the second test says so to the type checker.
    if len(problems) > found or terms_id is None:
        return None
    return VendorRow(
        line=line,
        name=name,
        country=country,
        currency=currency,
        payment_terms_id=terms_id,
        tax_id=tax_id,
        email=email,
        remit_to=values.get("remit_to", "").replace("\\n", "\n"),
        iban=iban,
        bic=bic,
        account_holder=" ".join(values.get("account_holder", "").split())[:200],
    )


def check_rows(
    content: str, *, on_progress: Callable[[int, int], None] | None = None
) -> CheckedFile:
    """Check every row (formats, check digits, duplicates in the file and in the vendor master).

    A file-level problem (no header, too many rows) is reported as an error on line 1.
    """
    checked = CheckedFile()
    try:
        records = _records(content)
    except (DomainError, csv.Error) as exc:
        message = (
            exc.message if isinstance(exc, DomainError) else f"The file is not readable CSV: {exc}"
        )
        checked.errors.append(Problem(1, "", message))
        return checked
    checked.total_rows = len(records)
    terms = {code.upper(): pk for code, pk in PaymentTerms.objects.values_list("code", "pk")}
    candidates: list[VendorRow] = []
    for done, (line, values) in enumerate(records, start=1):
        row = _check_row(line, values, terms, checked.errors)
        if row is not None:
            candidates.append(row)
        if on_progress is not None and (done % PROGRESS_EVERY == 0 or done == len(records)):
            on_progress(done, len(records))

    # Duplicates, set-based: within the file, then against the vendor master (three queries).
    bad_lines: set[int] = set()
    first_seen: dict[tuple[str, str], int] = {}
    for row in candidates:
        for column, value in (("tax_id", row.tax_id), ("iban", row.iban)):
            if not value:
                continue
            earlier = first_seen.setdefault((column, value), row.line)
            if earlier != row.line:
                label = "tax id" if column == "tax_id" else "IBAN"
                checked.errors.append(
                    Problem(row.line, column, f"The same {label} as line {earlier}.")
                )
                bad_lines.add(row.line)
    existing = selectors.existing_tax_ids([row.tax_id for row in candidates])
    for row in candidates:
        if row.tax_id and row.tax_id.upper() in existing:
            checked.errors.append(
                Problem(row.line, "tax_id", f"A vendor with tax id {row.tax_id} already exists.")
            )
            bad_lines.add(row.line)
    in_use = selectors.ibans_in_use([row.iban for row in candidates if row.iban])
    similar = selectors.similar_names_for_rows({row.line: row.name for row in candidates})
    for row in candidates:
        if row.iban in in_use:
            checked.warnings.append(
                Problem(row.line, "iban", f"{in_use[row.iban]} is already paid to this IBAN.")
            )
        for _vendor_id, name in similar.get(row.line, [])[:3]:
            checked.warnings.append(
                Problem(row.line, "name", f"Looks like the existing vendor {name}.")
            )
    checked.rows = [row for row in candidates if row.line not in bad_lines]
    checked.errors.sort(key=lambda problem: problem.line)
    checked.warnings.sort(key=lambda problem: problem.line)
    return checked
