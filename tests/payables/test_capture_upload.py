"""Importing invoice files in the browser: real examples, progress, the report, hostile files."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payables import uploads
from payables.einvoice.common import DTD_REFUSED
from payables.models.capture import ImportBatch
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, InvoiceAttachment
from payables.services import capture
from tests import factories
from tests.payables.test_einvoice import HOSTILE, example, facturx_pdf, oversize_invoice
from tests.payables.test_import_command import ubl_invoice, vendor_with

pytestmark = pytest.mark.django_db

IMPORT_URL = reverse("payables:invoice_import")
BASE_EXAMPLE = "peppol/examples/base-example.xml"
CSV_HEADER = (
    "vendor_tax_id,invoice_number,invoice_date,currency,po_number,line_description,"
    "quantity,unit_price,tax_amount,document_type\n"
)


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data)


def post_files(client, files, *, mode: str = "each_file", capture_callbacks=None):
    """Upload through the page, running the import task the way the worker would."""
    with capture_callbacks(execute=True):
        response = client.post(IMPORT_URL, {"files": files, "mode": mode})
    return response


def finished_batch(client, response) -> ImportBatch:
    assert response.status_code == 302, response.content.decode()[:2000]
    batch = ImportBatch.objects.get()
    assert response.url == reverse("payables:import_batch_detail", args=[batch.pk])
    return batch


def test_real_examples_import_through_the_page_with_their_originals(
    client, people, django_capture_on_commit_callbacks
):
    base = vendor_with("SupplierOfficialName Ltd", "GB1232434")
    supplier = vendor_with("My Supplier Company", "BE0000000196")
    koksmaat = vendor_with("De Koksmaat", "NL8200.98.395.B.01")
    dkk = vendor_with("SellerCompany", "NL16356706", currency="DKK")
    client.force_login(people["ap_clerk"])
    files = [
        upload("base-example.xml", example(BASE_EXAMPLE)),
        upload("creditnote1.xml", example("en16931/ubl/examples/ubl-tc434-creditnote1.xml")),
        upload("koksmaat.pdf", facturx_pdf(example("en16931/cii/examples/CII_example1.xml"))),
        upload("CII_example5.xml", example("en16931/cii/examples/CII_example5.xml")),
    ]
    response = post_files(client, files, capture_callbacks=django_capture_on_commit_callbacks)
    batch = finished_batch(client, response)
    assert batch.status == ImportBatch.Status.DONE
    assert (batch.imported_count, batch.rejected_count, batch.files_done) == (4, 0, 4)

    invoices = {invoice.number: invoice for invoice in Invoice.objects.all()}
    assert set(invoices) == {"Snippet1", "018304 / 28865", "12115118", "TOSL110"}
    snippet = invoices["Snippet1"]
    assert (snippet.vendor, snippet.source, snippet.currency) == (base, "ubl", "EUR")
    assert snippet.payable_amount == Decimal("1656.25")
    assert snippet.captured_by == people["ap_clerk"]
    credit = invoices["018304 / 28865"]
    assert (credit.vendor, credit.document_type) == (supplier, Invoice.DocumentType.CREDIT_NOTE)
    facturx = invoices["12115118"]
    assert (facturx.vendor, facturx.source, facturx.payable_amount) == (
        koksmaat,
        "facturx",
        Decimal("250.33"),
    )
    cii = invoices["TOSL110"]
    assert (cii.vendor, cii.currency, cii.po_reference, cii.purchase_order) == (
        dkk,
        "DKK",
        "PO4711",
        None,
    )
    # The file each invoice came from is kept with it, the PDF as a PDF.
    originals = {a.invoice.number: a for a in InvoiceAttachment.objects.select_related("invoice")}
    assert originals["12115118"].content_type == "application/pdf"
    assert originals["Snippet1"].content_type == "application/xml"
    assert originals["Snippet1"].file.read() == example(BASE_EXAMPLE)
    # The uploaded copies themselves are gone once imported.
    assert all(entry["path"] for entry in batch.files)
    assert not any(capture.private_storage.exists(entry["path"]) for entry in batch.files)

    page = client.get(response.url)
    html = page.content.decode()
    assert page.status_code == 200
    assert "Imported" in html and "12115118" in html
    assert "Credit note" in html and "−100.11 EUR" in html
    assert "PO4711 (not found: no-PO exception)" in html


def test_unknown_vendor_is_reported_with_a_way_to_the_vendor_list(
    client, people, django_capture_on_commit_callbacks
):
    client.force_login(people["ap_clerk"])
    response = post_files(
        client,
        [upload("base-example.xml", example(BASE_EXAMPLE))],
        capture_callbacks=django_capture_on_commit_callbacks,
    )
    batch = finished_batch(client, response)
    (entry,) = batch.report
    assert entry["error"] == (
        "Unknown vendor: SupplierOfficialName Ltd (VAT GB1232434) — add the vendor first."
    )
    assert entry["unknown_vendor"] is True
    html = client.get(response.url).content.decode()
    assert (
        "Unknown vendor: SupplierOfficialName Ltd (VAT GB1232434) — add the vendor first." in html
    )
    assert f'href="{reverse("vendors:vendor_list")}?q=GB1232434"' in html
    assert not Invoice.objects.exists()


def test_invoice_naming_an_unknown_po_still_imports_and_raises_no_po(
    client, people, setup_org, django_capture_on_commit_callbacks
):
    vendor_with("Office Depot B.V.", "NL004495445B01")
    client.force_login(people["ap_clerk"])
    data = ubl_invoice("OD-2026-121", "PO-999999", [("Paper", "40", "23.50", "1")])
    response = post_files(
        client, [upload("od.xml", data)], capture_callbacks=django_capture_on_commit_callbacks
    )
    finished_batch(client, response)
    invoice = Invoice.objects.get()
    assert (invoice.purchase_order, invoice.po_reference) == (None, "PO-999999")
    assert invoice.exceptions.get().type == InvoiceException.Type.NO_PO


def test_valid_only_imports_the_valid_invoices_of_a_mixed_csv_and_reports_the_rest(
    client, people, django_capture_on_commit_callbacks
):
    vendor_with("Office Depot B.V.", "NL004495445B01")
    client.force_login(people["ap_clerk"])
    mixed = (
        CSV_HEADER
        + "NL004495445B01,OD-200,2026-11-02,EUR,,Paper,10,2.50,5.25,\n"
        + "NL004495445B01,OD-201,2026-11-02,EUR,,Toner,two,89.00,0,\n"
        + "NL999999999B01,XX-1,2026-11-02,EUR,,Pens,1,1.00,0,\n"
        + "NL004495445B01,OD-202,2026-11-03,EUR,,Credit for paper,1,2.50,0.53,credit_note\n"
    ).encode()

    response = post_files(
        client,
        [upload("november.csv", mixed)],
        mode="valid_only",
        capture_callbacks=django_capture_on_commit_callbacks,
    )
    batch = finished_batch(client, response)
    assert batch.valid_only and (batch.imported_count, batch.rejected_count) == (2, 2)
    assert sorted(Invoice.objects.values_list("number", "document_type")) == [
        ("OD-200", "invoice"),
        ("OD-202", "credit_note"),
    ]
    rejected = {entry["number"]: entry for entry in batch.report if not entry["ok"]}
    assert rejected["OD-201"]["lines"] == [3]
    assert "line 3" in rejected["OD-201"]["error"] and "two" in rejected["OD-201"]["error"]
    assert rejected["XX-1"]["unknown_vendor"]
    html = client.get(response.url).content.decode()
    assert "Rejected" in html and "line 3" in html and "OD-202" in html


def test_each_file_mode_imports_nothing_from_a_csv_with_a_bad_row(
    client, people, django_capture_on_commit_callbacks
):
    vendor_with("Office Depot B.V.", "NL004495445B01")
    client.force_login(people["ap_clerk"])
    mixed = (
        CSV_HEADER
        + "NL004495445B01,OD-200,2026-11-02,EUR,,Paper,10,2.50,5.25,\n"
        + "NL004495445B01,OD-201,2026-11-02,EUR,,Toner,two,89.00,0,\n"
    ).encode()
    response = post_files(
        client,
        [upload("november.csv", mixed)],
        capture_callbacks=django_capture_on_commit_callbacks,
    )
    batch = finished_batch(client, response)
    assert (batch.imported_count, batch.rejected_count) == (0, 2)
    assert not Invoice.objects.exists()
    ok_row = next(entry for entry in batch.report if entry["number"] == "OD-200")
    assert ok_row["error"].startswith("Not imported: other lines of this file have errors.")


def test_check_only_writes_nothing(client, people, django_capture_on_commit_callbacks):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    client.force_login(people["ap_clerk"])
    response = post_files(
        client,
        [upload("base-example.xml", example(BASE_EXAMPLE))],
        mode="check_only",
        capture_callbacks=django_capture_on_commit_callbacks,
    )
    batch = finished_batch(client, response)
    assert batch.dry_run and batch.imported_count == 1
    assert not Invoice.objects.exists() and not InvoiceAttachment.objects.exists()
    assert "Would be imported" in client.get(response.url).content.decode()


def test_hostile_and_oversize_files_are_rejected_through_the_page_and_the_rest_imports(
    client, people, django_capture_on_commit_callbacks
):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    client.force_login(people["ap_clerk"])
    files = [
        upload("xxe.xml", (HOSTILE / "xxe.xml").read_bytes()),
        upload("billion_laughs.xml", (HOSTILE / "billion_laughs.xml").read_bytes()),
        upload("huge.xml", oversize_invoice()),
        upload("base-example.xml", example(BASE_EXAMPLE)),
    ]
    response = post_files(client, files, capture_callbacks=django_capture_on_commit_callbacks)
    batch = finished_batch(client, response)
    errors = {entry["file"]: entry["error"] for entry in batch.report}
    assert errors == {
        "xxe.xml": DTD_REFUSED,
        "billion_laughs.xml": DTD_REFUSED,
        "base-example.xml": None,
        # Dropped by the upload handler while it arrived, never read whole.
        "huge.xml": "The file is larger than 20 MB; e-invoices above 20 MB are refused.",
    }
    (refused,) = [entry for entry in batch.files if entry["name"] == "huge.xml"]
    assert refused["path"] is None
    assert list(Invoice.objects.values_list("number", flat=True)) == ["Snippet1"]
    html = client.get(response.url).content.decode()
    assert "it was refused unread" in html and "e-invoices above 20 MB are refused" in html


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("xxe.xml", None, DTD_REFUSED),
        ("huge.xml", "oversize", "The file is larger than 20 MB; e-invoices above 20 MB"),
    ],
)
def test_a_lone_hostile_file_writes_nothing(
    client, people, django_capture_on_commit_callbacks, name, data, message
):
    client.force_login(people["ap_clerk"])
    content = oversize_invoice() if data == "oversize" else (HOSTILE / name).read_bytes()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(IMPORT_URL, {"files": [upload(name, content)], "mode": "each_file"})
    if response.status_code == 302:
        html = client.get(response.url).content.decode()
    else:
        # Nothing importable arrived: the page says why at once, no batch is queued.
        assert response.status_code == 400
        html = response.content.decode()
        assert not ImportBatch.objects.exists()
    assert message in html
    assert not Invoice.objects.exists() and not InvoiceAttachment.objects.exists()


def test_request_above_the_total_limit_is_refused_unread(client, people, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UPLOAD_REQUEST_BYTES", 4096)
    client.force_login(people["ap_clerk"])
    response = client.post(
        IMPORT_URL, {"files": [upload("big.xml", b"<x/>" * 2000)], "mode": "each_file"}
    )
    assert response.status_code == 413
    assert "split it into several uploads" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_upload_still_needs_the_csrf_token(people):
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["ap_clerk"])
    response = client.post(IMPORT_URL, {"files": [upload("a.xml", b"<a/>")]})
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_empty_upload_asks_for_a_file(client, people):
    client.force_login(people["ap_clerk"])
    response = client.post(IMPORT_URL, {"mode": "each_file"})
    assert response.status_code == 400
    assert "Choose at least one file to import." in response.content.decode()


@pytest.mark.parametrize("role", ["requester", "buyer", "approver", "finance_leader"])
def test_only_ap_may_upload(client, people, role):
    client.force_login(people[role])
    assert client.get(IMPORT_URL).status_code == 403
    response = client.post(IMPORT_URL, {"files": [upload("a.xml", b"<a/>")]})
    assert response.status_code == 403
    assert not ImportBatch.objects.exists()


def test_progress_polls_then_refreshes_into_the_report(client, people):
    client.force_login(people["ap_clerk"])
    batch = capture.import_batch_create(
        files=[upload("base-example.xml", example(BASE_EXAMPLE))], by=people["ap_clerk"]
    )
    url = reverse("payables:import_batch_detail", args=[batch.pk])
    page = client.get(url).content.decode()
    assert "Waiting for the import worker" in page and "every 1s" in page
    fragment = client.get(url, {"part": "progress"}, HTTP_HX_REQUEST="true")
    assert 'id="import-progress"' in fragment.content.decode()
    capture.import_batch_run(batch_id=batch.pk)
    done = client.get(url, {"part": "progress"}, HTTP_HX_REQUEST="true")
    assert done.headers["HX-Refresh"] == "true"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_progress_is_visible_while_the_import_transaction_is_open(people):
    batch = ImportBatch.objects.create(
        created_by=people["ap_clerk"], created_at="2026-11-02T10:00:00Z", files_total=2
    )
    ticks = iter([0.0, 1.0, 1.1, 2.0])
    progress = capture.BatchProgress(batch, clock=lambda: next(ticks))
    try:
        with transaction.atomic():
            progress.file_started("november.csv")
            progress.rows(40, 100)
            # Committed on the progress connection, so the polling page sees it already.
            seen = ImportBatch.objects.get(pk=batch.pk)
            assert (seen.current_file, seen.current_done, seen.current_total) == (
                "november.csv",
                40,
                100,
            )
            assert seen.percent_done == 20
            # Within the throttle interval nothing is written; the last row always is.
            progress.rows(41, 100)
            assert ImportBatch.objects.get(pk=batch.pk).current_done == 40
            progress.rows(100, 100)
            assert ImportBatch.objects.get(pk=batch.pk).current_done == 100
    finally:
        progress.close()


def test_redelivered_batch_found_running_is_stopped_not_imported_twice(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    batch = capture.import_batch_create(
        files=[upload("base-example.xml", example(BASE_EXAMPLE))], by=people["ap_clerk"]
    )
    ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.RUNNING)
    capture.import_batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert "interrupted" in batch.error
    assert not Invoice.objects.exists()
    assert not capture.private_storage.exists(batch.files[0]["path"])
    # A second redelivery changes nothing.
    capture.import_batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED


def test_recent_imports_cost_the_same_queries_for_2_or_12(client, people):
    clerk = people["ap_clerk"]
    client.force_login(clerk)

    def make(count: int) -> None:
        for n in range(count):
            ImportBatch.objects.create(
                created_by=factories.make_user(
                    f"clerk{ImportBatch.objects.count()}-{n}", "ap_clerk"
                ),
                created_at="2026-11-02T10:00:00Z",
                files_total=1,
            )

    make(2)
    with CaptureQueriesContext(connection) as few:
        assert client.get(IMPORT_URL).status_code == 200
    make(10)
    with CaptureQueriesContext(connection) as many:
        assert client.get(IMPORT_URL).status_code == 200
    assert len(many) == len(few)


def test_the_clerks_decimal_mark_reaches_the_import_of_a_dutch_csv(
    client, people, django_capture_on_commit_callbacks
):
    vendor_with("Office Depot B.V.", "NL004495445B01")
    client.force_login(people["ap_clerk"])
    page = client.get(IMPORT_URL).content.decode()
    assert "Decimal comma: 1.234,50" in page and "200,000 lines" in page
    dutch = (
        CSV_HEADER + 'NL004495445B01,2026-0412,2026-11-02,EUR,,Papier,"1,500","390",,\n'
    ).encode()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            IMPORT_URL,
            {"files": [upload("inkoop.csv", dutch)], "mode": "each_file", "decimal_mark": "comma"},
        )
    batch = finished_batch(client, response)
    assert (batch.decimal_mark, batch.imported_count) == ("comma", 1)
    assert Invoice.objects.get().net_amount == Decimal("585.00")
    report = client.get(response.url).content.decode()
    assert "CSV decimals with a comma: 1.234,50" in report  # the page says how it was read


def test_a_large_import_lists_the_first_invoices_and_counts_them_all(
    client, people, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(capture, "REPORT_ENTRIES_KEPT", 2)
    vendor_with("Office Depot B.V.", "NL004495445B01")
    client.force_login(people["ap_clerk"])
    lines = "".join(
        f"NL004495445B01,OD-16{n:02d},2026-11-02,EUR,,Paper,10,2.50,5.25,\n" for n in range(3)
    )
    # Past the entries kept, the credit notes are counted all the same.
    lines += "".join(
        f"NL004495445B01,CN-16{n:02d},2026-11-03,EUR,,Paper returned,2,2.50,1.05,credit_note\n"
        for n in range(2)
    )
    response = post_files(
        client,
        [upload("november.csv", (CSV_HEADER + lines).encode())],
        capture_callbacks=django_capture_on_commit_callbacks,
    )
    batch = finished_batch(client, response)
    assert (batch.imported_count, batch.credit_note_count) == (5, 2)
    # The worker keeps only what the page lists, however large the file.
    assert [entry["number"] for entry in batch.report] == ["OD-1600", "OD-1601"]
    page = client.get(response.url)
    assert page.context["accepted_count"] == 5 and len(page.context["accepted"]) == 2
    content = page.content.decode()
    assert "the first 2 of 5" in content and "2 credit notes" in content
