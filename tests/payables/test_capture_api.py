"""POST /api/invoices/import/: the command line's importer and JSON over HTTP."""

import io
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from rest_framework.test import APIClient

from p2p.models import AuditEvent
from payables.einvoice.common import DTD_REFUSED
from payables.models.invoices import Invoice, InvoiceAttachment
from tests.payables.test_einvoice import EINVOICE_DATA, HOSTILE, example, oversize_invoice
from tests.payables.test_import_command import JSON_KEYS, vendor_with

pytestmark = pytest.mark.django_db

URL = "/api/invoices/import/"
BASE_EXAMPLE = "peppol/examples/base-example.xml"
CREDIT_NOTE = "en16931/ubl/examples/ubl-tc434-creditnote1.xml"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def api_client(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def files(*names: str) -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(name.rsplit("/", 1)[-1], example(name)) for name in names]


def cli_dry_run(*names: str) -> list[dict]:
    out = io.StringIO()
    call_command(
        "import_invoices",
        *[str(EINVOICE_DATA / name) for name in names],
        "--dry-run",
        "--json",
        stdout=out,
    )
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_dry_run_answers_with_exactly_the_command_lines_json(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    events = AuditEvent.objects.count()
    names = (BASE_EXAMPLE, CREDIT_NOTE, "en16931/cii/examples/CII_example5.xml")
    response = api_client(people["ap_clerk"]).post(
        URL + "?dry_run=1", {"file": files(*names)}, format="multipart"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["dry_run"] is True and body["invoice_ids"] == []
    assert [list(result) for result in body["results"]] == [JSON_KEYS] * 3
    for api, cli in zip(body["results"], cli_dry_run(*names), strict=True):
        assert api["file"] == cli["file"].rsplit("/", 1)[-1]
        assert {**api, "file": None} == {**cli, "file": None}
    assert not Invoice.objects.exists()
    assert AuditEvent.objects.count() == events


def test_import_creates_the_invoices_and_returns_their_ids(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    vendor_with("My Supplier Company", "BE0000000196")
    response = api_client(people["ap_clerk"]).post(
        URL, {"file": files(BASE_EXAMPLE, CREDIT_NOTE)}, format="multipart"
    )
    assert response.status_code == 201
    body = response.json()
    invoices = list(Invoice.objects.order_by("id"))
    assert body["invoice_ids"] == [invoice.pk for invoice in invoices]
    assert [r["invoice_id"] for r in body["results"]] == body["invoice_ids"]
    assert [(i.number, i.document_type, i.source) for i in invoices] == [
        ("Snippet1", "invoice", "ubl"),
        ("018304 / 28865", "credit_note", "ubl"),
    ]
    assert InvoiceAttachment.objects.count() == 2
    detail = api_client(people["ap_clerk"]).get(f"/api/invoices/{invoices[1].pk}/").json()
    assert detail["document_type"] == "credit_note"


def test_rejected_files_come_back_with_their_reasons(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    response = api_client(people["ap_clerk"]).post(
        URL,
        {
            "file": [
                SimpleUploadedFile("base.xml", example(BASE_EXAMPLE)),
                SimpleUploadedFile("unknown.xml", example(CREDIT_NOTE)),
            ]
        },
        format="multipart",
    )
    assert response.status_code == 200
    ok, unknown = response.json()["results"]
    assert ok["ok"] and ok["invoice_id"] == Invoice.objects.get().pk
    assert unknown == {
        **unknown,
        "ok": False,
        "invoice_id": None,
        "error": "Unknown vendor: My Supplier Company (VAT BE0000000196) — add the vendor first.",
    }


@pytest.mark.parametrize(
    ("name", "content", "error"),
    [
        ("xxe.xml", (HOSTILE / "xxe.xml").read_bytes(), DTD_REFUSED),
        ("laughs.xml", (HOSTILE / "billion_laughs.xml").read_bytes(), DTD_REFUSED),
        (
            "huge.xml",
            None,
            "The file is larger than 20 MB; e-invoices above 20 MB are refused.",
        ),
    ],
)
def test_hostile_files_are_refused_and_nothing_is_written(people, name, content, error):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    data = content if content is not None else oversize_invoice()
    response = api_client(people["ap_clerk"]).post(
        URL, {"file": [SimpleUploadedFile(name, data)]}, format="multipart"
    )
    assert response.status_code == 400
    (result,) = response.json()["results"]
    assert (result["file"], result["ok"], result["error"]) == (name, False, error)
    assert not Invoice.objects.exists() and not InvoiceAttachment.objects.exists()


def test_a_request_without_files_is_refused(people):
    response = api_client(people["ap_clerk"]).post(URL, {}, format="multipart")
    assert response.status_code == 400
    assert "under the name 'file'" in response.json()["detail"]


@pytest.mark.parametrize("role", ["requester", "buyer", "finance_leader"])
def test_only_ap_may_import(people, role):
    response = api_client(people[role]).post(URL, {"file": files(BASE_EXAMPLE)}, format="multipart")
    assert response.status_code == 403
    assert not Invoice.objects.exists()


def test_session_clients_need_the_csrf_token(people):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(people["ap_clerk"])
    response = client.post(URL, {"file": files(BASE_EXAMPLE)}, format="multipart")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_a_request_above_the_total_limit_is_not_read(people, monkeypatch):
    from payables import uploads

    monkeypatch.setattr(uploads, "MAX_UPLOAD_REQUEST_BYTES", 4096)
    response = api_client(people["ap_clerk"]).post(
        URL, {"file": files(BASE_EXAMPLE)}, format="multipart"
    )
    assert response.status_code == 413
    assert "split it into several uploads" in response.json()["detail"]
    assert not Invoice.objects.exists()


def test_csv_decimal_mark_is_a_query_parameter(people):
    vendor_with("Office Depot B.V.", "NL004495445B01")
    dutch = (
        b"vendor_tax_id,invoice_number,invoice_date,currency,line_description,quantity,unit_price\n"
        b'NL004495445B01,2026-0412,2026-11-02,EUR,Papier,"1,500",390\n'
    )
    client = api_client(people["ap_clerk"])
    refused = client.post(
        URL, {"file": [SimpleUploadedFile("inkoop.csv", dutch)]}, format="multipart"
    )
    assert refused.status_code == 400
    assert (
        "could be read with a decimal point or a decimal comma"
        in refused.json()["results"][0]["error"]
    )
    response = client.post(
        URL + "?decimal_mark=comma",
        {"file": [SimpleUploadedFile("inkoop.csv", dutch)]},
        format="multipart",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["results"][0]["payable_amount"] == "585.00"
    wrong = client.post(
        URL + "?decimal_mark=euro",
        {"file": [SimpleUploadedFile("x.csv", dutch)]},
        format="multipart",
    )
    assert wrong.status_code == 400 and "decimal_mark" in wrong.json()
