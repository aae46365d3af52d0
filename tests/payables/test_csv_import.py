"""The CSV upload: many invoices per file, all-or-nothing or valid-only, every bad row reported."""

import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, reset_queries
from django.test.utils import CaptureQueriesContext

from p2p.exceptions import DomainError
from p2p.models import AuditEvent
from payables.models.invoices import Invoice
from payables.services import importing
from payables.services.importing import import_csv
from tests import factories
from tests.flow import issued_po
from vendors.models import Vendor

pytestmark = pytest.mark.django_db

HEADER = "vendor_tax_id,invoice_number,invoice_date,currency,po_number,line_description,quantity,unit_price,tax_amount,document_type\n"
NOT_IMPORTED = (
    "Not imported: other lines of this file have errors. Fix them, or import only the valid "
    "invoices (--valid-only)."
)


@pytest.fixture
def office_depot(db):
    vendor = factories.make_vendor("Office Depot B.V.")
    Vendor.objects.filter(pk=vendor.pk).update(tax_id="NL004495445B01")
    vendor.refresh_from_db()
    return vendor


@pytest.fixture
def staples(db):
    vendor = factories.make_vendor("Staples Nederland")
    Vendor.objects.filter(pk=vendor.pk).update(tax_id="NL812345678B01")
    vendor.refresh_from_db()
    return vendor


def csv_bytes(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(row + "\n" for row in rows)).encode()


def test_two_invoices_from_one_file(people, setup_org, office_depot, staples):
    po = issued_po(
        people,
        setup_org,
        vendor=office_depot,
        lines=(("A4 copy paper", "40", "23.50"), ("Toner", "2", "89.00")),
    )
    data = csv_bytes(
        f"NL004495445B01,OD-118,2026-11-02,EUR,{po.number},A4 copy paper,40,23.50,236.78,",
        "NL004495445B01,OD-118,2026-11-02,EUR,,Toner,2,89.00,,",
        "nl 8123 45678 b01,ST-9,2026-11-03,EUR,,Staples,10,1.25,2.63,invoice",
    )
    report = import_csv(data=data, filename="november.csv", by=people["ap_clerk"])
    assert report.ok
    first, second = report.imported
    assert (first.vendor, first.number, first.source, first.source_file) == (
        office_depot,
        "OD-118",
        "csv",
        "november.csv",
    )
    assert (first.net_amount, first.tax_amount, first.total_amount, first.payable_amount) == (
        Decimal("1118.00"),
        Decimal("236.78"),
        Decimal("1354.78"),
        Decimal("1354.78"),
    )
    assert first.purchase_order == po
    # As many lines as the PO, no line references: mapped by position.
    assert [line.po_line.line_no for line in first.lines.all()] == [1, 2]
    assert first.due_date == first.invoice_date.replace(day=2, month=12)  # vendor terms, Net 30
    assert (second.vendor, second.total_amount, second.purchase_order) == (
        staples,
        Decimal("15.13"),
        None,
    )
    assert [result.line_numbers for result in report.results] == [[2, 3], [4]]


def test_vendor_by_name_and_credit_note(people, office_depot):
    header = "vendor_name,invoice_number,invoice_date,currency,line_description,quantity,unit_price,tax_amount,document_type\n"
    data = csv_bytes(
        "office depot b.v.,CN-7,2026-11-05,EUR,Returned toner,1,89.00,18.69,credit_note",
        header=header,
    )
    (invoice,) = import_csv(data=data, filename="cn.csv", by=None).imported
    assert invoice.vendor == office_depot
    assert invoice.document_type == Invoice.DocumentType.CREDIT_NOTE
    assert invoice.total_amount == Decimal("107.69")


def test_bad_rows_are_all_reported_and_nothing_is_written(people, setup_org, office_depot):
    issued_po(people, setup_org, vendor=office_depot)
    data = csv_bytes(
        "NL004495445B01,OD-200,2026-11-02,EUR,,Paper,40,23.50,197.40,",  # 2: fine
        "NL004495445B01,OD-201,2026-02-30,EUR,,Paper,40,23.50,,",  # 3: bad date
        "NL004495445B01,OD-202,2026-11-02,EUR,,Paper,forty,23.50,,",  # 4: non-numeric qty
        "NL004495445B01,OD-203,2026-11-02,EUR,,Paper,-5,23.50,,",  # 5: negative qty
        "NL999999999B01,X-1,2026-11-02,EUR,,Paper,1,1.00,,",  # 6: unknown vendor
        "NL004495445B01,OD-204,2026-11-02,EUR,PO-999999,Paper,1,1.00,,",  # 7: unknown PO
    )
    report = import_csv(data=data, filename="bad.csv", by=people["ap_clerk"])
    assert not report.ok
    assert [(result.number, result.ok, result.error) for result in report.results] == [
        ("OD-200", False, NOT_IMPORTED),
        ("OD-201", False, "line 3: invoice_date '2026-02-30' is not a date (use YYYY-MM-DD)."),
        ("OD-202", False, "line 4: quantity 'forty' is not a number."),
        (
            "OD-203",
            False,
            "line 5: quantity must be greater than zero (got -5); use document_type credit_note.",
        ),
        (
            "X-1",
            False,
            "line 6: Unknown vendor: VAT NL999999999B01 — add the vendor first.",
        ),
        ("OD-204", False, "line 7: Unknown purchase order PO-999999: check the po_number."),
    ]
    assert not Invoice.objects.exists()


def test_valid_only_imports_the_good_invoices_and_reports_the_rest(people, office_depot):
    data = csv_bytes(
        "NL004495445B01,OD-300,2026-11-02,EUR,,Paper,40,23.50,197.40,",
        "NL004495445B01,OD-301,11/02/2026,EUR,,Paper,1,1.00,,",
        "NL004495445B01,OD-302,2026-11-02,EUR,,Paper,2,1.00,0.42,",
    )
    report = import_csv(data=data, filename="mixed.csv", by=None, valid_only=True)
    assert sorted(invoice.number for invoice in report.imported) == ["OD-300", "OD-302"]
    (rejected,) = report.rejected
    assert rejected.error == "line 3: invoice_date '11/02/2026' is not a date (use YYYY-MM-DD)."
    assert rejected.row_errors[0].line == 3
    assert Invoice.objects.count() == 2


def test_a_capture_failing_mid_file_rolls_back_the_whole_file(people, office_depot, monkeypatch):
    real_input = importing.capture_input

    def failing_on_the_second(*, parsed, **kwargs):
        if parsed.number == "OD-401":
            raise DomainError("The database refused it.")
        return real_input(parsed=parsed, **kwargs)

    monkeypatch.setattr(importing, "capture_input", failing_on_the_second)
    data = csv_bytes(
        "NL004495445B01,OD-400,2026-11-02,EUR,,Paper,1,1.00,,",
        "NL004495445B01,OD-401,2026-11-02,EUR,,Paper,1,1.00,,",
        "NL004495445B01,OD-402,2026-11-02,EUR,,Paper,1,1.00,,",
    )
    report = import_csv(data=data, filename="x.csv", by=None)
    assert [r.error for r in report.results] == [
        NOT_IMPORTED,
        "line 3: The database refused it.",
        NOT_IMPORTED,
    ]
    assert report.imported == []
    assert not Invoice.objects.exists()


def test_header_values_must_agree_within_an_invoice(people, office_depot):
    data = csv_bytes(
        "NL004495445B01,OD-500,2026-11-02,EUR,,Paper,1,1.00,0.21,",
        "NL004495445B01,od 500,2026-11-03,EUR,,Toner,1,1.00,,",
    )
    report = import_csv(data=data, filename="x.csv", by=None)
    (result,) = report.results  # "od 500" is the same invoice number, normalised
    assert result.error == "line 3: invoice_date differs from line 2 of the same invoice OD-500."


def test_tax_may_be_repeated_on_every_row(people, office_depot):
    data = csv_bytes(
        "NL004495445B01,OD-600,2026-11-02,EUR,,Paper,1,10.00,4.20,",
        "NL004495445B01,OD-600,2026-11-02,EUR,,Toner,1,10.00,4.20,",
    )
    (invoice,) = import_csv(data=data, filename="x.csv", by=None).imported
    assert (invoice.tax_amount, invoice.total_amount) == (Decimal("4.20"), Decimal("24.20"))


def test_already_captured_invoice_is_a_row_error(people, office_depot):
    data = csv_bytes("NL004495445B01,OD-700,2026-11-02,EUR,,Paper,1,1.00,,")
    import_csv(data=data, filename="first.csv", by=None)
    again = csv_bytes("NL004495445B01,od-0700,2026-11-02,EUR,,Paper,1,1.00,,")
    (result,) = import_csv(data=again, filename="second.csv", by=None).results
    assert not result.ok
    assert result.error.startswith(
        "line 2: Office Depot B.V. invoice od-0700 was already captured as OD-700"
    )
    assert Invoice.objects.count() == 1


def test_semicolons_and_decimal_commas(people, office_depot):
    data = (
        "vendor_tax_id;invoice_number;invoice_date;currency;line_description;quantity;unit_price;tax_amount\n"
        "NL004495445B01;OD-800;2026-11-02;EUR;Papier;2;1.234,50;518,49\n"
    ).encode("cp1252")
    (invoice,) = import_csv(data=data, filename="nl.csv", by=None).imported
    assert (invoice.net_amount, invoice.tax_amount) == (Decimal("2469.00"), Decimal("518.49"))


def test_missing_columns_are_named(people):
    report = import_csv(data=b"invoice_number,amount\n1,2\n", filename="x.csv", by=None)
    (result,) = report.results
    assert result.error.startswith(
        "The CSV lacks the column(s) vendor_tax_id or vendor_name, invoice_date, currency, "
        "line_description, quantity, unit_price."
    )


def test_progress_is_reported_per_chunk_of_invoices(people, office_depot, monkeypatch):
    monkeypatch.setattr(importing, "CAPTURE_CHUNK", 1)
    calls = []
    data = csv_bytes(
        "NL004495445B01,OD-900,2026-11-02,EUR,,Paper,1,1.00,,",
        "NL004495445B01,OD-901,2026-11-02,EUR,,Paper,1,1.00,,",
    )
    import_csv(
        data=data,
        filename="x.csv",
        by=None,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(1, 2), (2, 2)]


def test_dry_run_validates_against_the_database_and_writes_nothing(people, office_depot):
    data = csv_bytes(
        "NL004495445B01,OD-950,2026-11-02,EUR,,Paper,1,1.00,,",
        "NL000000000B01,X-9,2026-11-02,EUR,,Paper,1,1.00,,",
    )
    report = import_csv(data=data, filename="x.csv", by=None, dry_run=True, valid_only=True)
    assert [result.ok for result in report.results] == [True, False]
    assert not Invoice.objects.exists()


def test_command_imports_a_csv_all_or_nothing(people, office_depot, tmp_path):
    path = tmp_path / "lines.csv"
    path.write_bytes(
        csv_bytes(
            "NL004495445B01,OD-1000,2026-11-02,EUR,,Paper,1,1.00,,",
            "NL004495445B01,OD-1001,2026-11-02,EUR,,Paper,abc,1.00,,",
        )
    )
    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_invoices", str(path), "--json", stdout=out, stderr=io.StringIO())
    results = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["number"], r["ok"]) for r in results] == [("OD-1000", False), ("OD-1001", False)]
    assert results[1]["error"] == "line 3: quantity 'abc' is not a number."
    assert not Invoice.objects.exists()

    out = io.StringIO()
    with pytest.raises(CommandError):
        call_command("import_invoices", str(path), "--valid-only", stdout=out, stderr=io.StringIO())
    assert out.getvalue().splitlines()[-1] == "1 imported, 1 rejected."
    assert list(Invoice.objects.values_list("number", flat=True)) == ["OD-1000"]


# --- decimal marks ---------------------------------------------------------------------------

DUTCH_HEADER = (
    "vendor_tax_id,invoice_number,invoice_date,currency,po_number,line_description,"
    "quantity,unit_price,tax_amount\n"
)


def test_dutch_comma_file_with_decimal_commas_keeps_its_amounts(people, office_depot):
    # Exported by a Dutch bookkeeping package: commas between fields, decimal commas quoted.
    data = csv_bytes(
        'NL004495445B01,2026-0412,2026-11-02,EUR,,"Kopieerpapier A4, 80 g","1,5","390,00","147,42"',
        'NL004495445B01,2026-0412,2026-11-02,EUR,,Nietjes 24/6,"2","1.250,00","147,42"',
        header=DUTCH_HEADER,
    )
    (invoice,) = import_csv(data=data, filename="inkoop.csv", by=None).imported
    assert [line.quantity for line in invoice.lines.order_by("line_no")] == [
        Decimal("1.5"),
        Decimal("2"),
    ]
    assert [line.amount for line in invoice.lines.order_by("line_no")] == [
        Decimal("585.00"),
        Decimal("2500.00"),
    ]
    assert (invoice.net_amount, invoice.tax_amount, invoice.total_amount, invoice.currency) == (
        Decimal("3085.00"),
        Decimal("147.42"),
        Decimal("3232.42"),
        "EUR",
    )


def test_german_semicolon_file_with_thousands_only_is_refused_until_the_clerk_chooses(
    people, office_depot
):
    # Nothing in this file says whether 1.250 means one thousand two hundred and fifty.
    data = (
        "vendor_tax_id;invoice_number;invoice_date;currency;line_description;quantity;unit_price\n"
        "NL004495445B01;RE-2026-118;2026-11-02;EUR;Kopierpapier A4;1.250;2\n"
        "NL004495445B01;RE-2026-119;2026-11-03;EUR;Toner schwarz;4;89\n"
    ).encode("cp1252")
    report = import_csv(data=data, filename="rechnungen.csv", by=None)
    assert report.results[0].error == (
        "line 2: quantity '1.250' could be read with a decimal point or a decimal comma and "
        "nothing else in the file says which: choose the decimal mark when you upload it."
    )
    assert report.results[1].error == NOT_IMPORTED
    assert not Invoice.objects.exists()

    first, second = import_csv(
        data=data, filename="rechnungen.csv", by=None, decimal_mark="comma"
    ).imported
    assert (first.net_amount, second.net_amount) == (Decimal("2500.00"), Decimal("356.00"))


@pytest.mark.parametrize(
    ("decimal_mark", "quantity", "net"),
    [("point", Decimal("1234"), Decimal("2468.00")), ("comma", Decimal("1.234"), Decimal("2.47"))],
)
def test_ambiguous_comma_is_named_by_row_and_column_and_the_clerks_choice_decides(
    people, office_depot, decimal_mark, quantity, net
):
    data = csv_bytes(
        'NL004495445B01,OD-1100,2026-11-02,EUR,,Paper,"1,234",2,',
        header=DUTCH_HEADER,
    )
    (result,) = import_csv(data=data, filename="x.csv", by=None).results
    assert not result.ok
    assert result.error.startswith("line 2: quantity '1,234' could be read with a decimal point")
    assert not Invoice.objects.exists()

    (invoice,) = import_csv(
        data=data, filename="x.csv", by=None, decimal_mark=decimal_mark
    ).imported
    assert (invoice.lines.get().quantity, invoice.net_amount) == (quantity, net)


def test_a_file_mixing_decimal_marks_is_refused_naming_both(people, office_depot):
    data = csv_bytes(
        'NL004495445B01,OD-1200,2026-11-02,EUR,,Paper,1,"390,00",',
        "NL004495445B01,OD-1201,2026-11-02,EUR,,Toner,1,89.50,",
        header=DUTCH_HEADER,
    )
    (result,) = import_csv(data=data, filename="x.csv", by=None).results
    assert result.error == (
        "The CSV mixes decimal marks: unit_price '390,00' on line 2 has a decimal comma, "
        "unit_price '89.50' on line 3 a decimal point. Correct the file, or choose its decimal "
        "mark when you upload it."
    )
    report = import_csv(data=data, filename="x.csv", by=None, decimal_mark="comma")
    assert report.results[1].error == (
        "line 3: unit_price '89.50' has a decimal point, but this file uses a decimal comma "
        "(1.234,50): correct the file, or choose its decimal mark when you upload it."
    )
    assert not Invoice.objects.exists()


def test_a_file_above_the_row_limit_is_refused_whole(people, office_depot, settings):
    settings.CSV_IMPORT_MAX_ROWS = 3
    rows = [f"NL004495445B01,OD-13{n:02d},2026-11-02,EUR,,Paper,1,2.50," for n in range(4)]
    (result,) = import_csv(data=csv_bytes(*rows), filename="big.csv", by=None).results
    assert result.error == (
        "The CSV has more than 3 invoice lines; split it into files of at most 3 lines."
    )
    assert not Invoice.objects.exists()
    assert len(import_csv(data=csv_bytes(*rows[:3]), filename="ok.csv", by=None).imported) == 3


def test_command_takes_the_decimal_mark(people, office_depot, tmp_path):
    path = tmp_path / "inkoop.csv"
    path.write_bytes(
        csv_bytes('NL004495445B01,OD-1400,2026-11-02,EUR,,Paper,"1,500",2,', header=DUTCH_HEADER)
    )
    out = io.StringIO()
    call_command("import_invoices", str(path), "--decimal-mark", "comma", stdout=out)
    assert Invoice.objects.get().net_amount == Decimal("3.00")


def test_rows_of_one_invoice_apart_in_the_file_are_still_one_invoice(people, office_depot, staples):
    # The lines are read again as a stream when written; an invoice waits for its last row.
    data = csv_bytes(
        "NL004495445B01,OD-1500,2026-11-02,EUR,,A4 copy paper,40,23.50,,",
        "NL812345678B01,ST-15,2026-11-03,EUR,,Pens,10,1.25,,",
        "NL004495445B01,OD-1500,2026-11-02,EUR,,Toner,2,89.00,,",
    )
    report = import_csv(data=data, filename="x.csv", by=None)
    assert [result.line_numbers for result in report.results] == [[2, 4], [3]]
    paper_and_toner, pens = report.imported
    assert (paper_and_toner.net_amount, paper_and_toner.lines.count()) == (Decimal("1118.00"), 2)
    assert pens.net_amount == Decimal("12.50")


def test_a_large_import_runs_a_few_queries_per_chunk_not_per_invoice(
    people, setup_org, office_depot, staples
):
    po = issued_po(
        people,
        setup_org,
        vendor=office_depot,
        lines=(("A4 copy paper", "40", "23.50"), ("Toner", "2", "89.00")),
    )

    def november(invoices: int, prefix: str) -> bytes:
        rows = []
        for n in range(invoices):
            if n % 2:
                rows.append(f"NL812345678B01,{prefix}-{n},2026-11-03,EUR,,Staples,10,1.25,2.63,")
            else:
                rows += [
                    f"NL004495445B01,{prefix}-{n},2026-11-02,EUR,{po.number},A4 copy paper,40,23.50,236.78,",
                    f"NL004495445B01,{prefix}-{n},2026-11-02,EUR,,Toner,2,89.00,,",
                ]
        return csv_bytes(*rows)

    # The query log keeps the last 9,000 statements: start each count from an empty one.
    reset_queries()
    with CaptureQueriesContext(connection) as one_chunk:
        report = import_csv(data=november(500, "OCT"), filename="october.csv", by=None)
    assert report.ok
    reset_queries()
    with CaptureQueriesContext(connection) as four_chunks:
        report = import_csv(data=november(2000, "NOV"), filename="november.csv", by=None)
    assert report.ok
    # 1,500 more invoices are three more chunks of 500, each a handful of statements.
    assert len(four_chunks) - len(one_chunk) <= 3 * 10
    assert len(four_chunks) < 100
    assert Invoice.objects.filter(number__startswith="NOV-").count() == 2000
    first = Invoice.objects.get(number="NOV-0")
    assert (first.total_amount, first.currency) == (Decimal("1354.78"), "EUR")
    assert first.purchase_order == po
    assert sorted(first.lines.values_list("po_line__line_no", "amount")) == [
        (1, Decimal("940.00")),
        (2, Decimal("178.00")),
    ]
    assert AuditEvent.objects.filter(
        object_type="payables.invoice", object_id=first.pk, action="created"
    ).exists()
