"""The invoice form's capture details: attachments, double submits, credit notes shown as credit."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payables.models.invoices import Invoice, InvoiceAttachment
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.storage import private_storage
from tests.flow import issued_po, receive
from tests.payables.test_views import CREATE_URL, entry_post, texts

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


@pytest.fixture(autouse=True)
def private_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def po(people, setup_org):
    po = issued_po(
        people, setup_org, lines=(("A4 copy paper", "40", "23.50"), ("Toner black", "4", "89.00"))
    )
    receive(po, people, {1: "40", 2: "4"})
    return po


def form_data(po, number: str = "INV-7001") -> dict:
    paper, toner = po.lines.order_by("line_no")
    return entry_post(po, number, {paper: ("40", "23.50"), toner: ("4", "89.00")}, tax="272.16")


def test_invoice_form_captures_the_vendor_pdf_served_only_by_role(client, people, po):
    client.force_login(people["ap_clerk"])
    data = form_data(po)
    data["attachments"] = [SimpleUploadedFile("INV-7001.pdf", PDF, "application/pdf")]
    response = client.post(CREATE_URL, data)
    invoice = Invoice.objects.get()
    assert response.status_code == 302
    assert response.url == reverse("payables:invoice_detail", args=[invoice.pk])
    (attachment,) = invoice.attachments.all()
    assert (attachment.original_name, attachment.content_type, attachment.size) == (
        "INV-7001.pdf",
        "application/pdf",
        len(PDF),
    )
    assert attachment.uploaded_by == people["ap_clerk"]
    # Never a public URL: the storage has none, and MEDIA is not served.
    with pytest.raises(ValueError, match="no public URL"):
        private_storage.url(attachment.file.name)
    assert client.get(f"/media/private/{attachment.file.name}").status_code == 404

    url = reverse("payables:invoice_attachment", args=[invoice.pk, attachment.pk])
    detail = client.get(reverse("payables:invoice_detail", args=[invoice.pk])).content.decode()
    assert url in detail and "INV-7001.pdf" in detail
    served = client.get(url)
    assert served.status_code == 200
    assert b"".join(served.streaming_content) == PDF
    assert served["Content-Type"] == "application/pdf"
    assert served["X-Content-Type-Options"] == "nosniff"
    assert served["Content-Security-Policy"] == "sandbox"
    assert served["Content-Disposition"] == 'inline; filename="INV-7001.pdf"'
    for role, status in (("buyer", 200), ("finance_leader", 200), ("requester", 403)):
        client.force_login(people[role])
        assert client.get(url).status_code == status
    # The URL of another invoice does not reach this attachment.
    other = reverse("payables:invoice_attachment", args=[invoice.pk + 1, attachment.pk])
    client.force_login(people["ap_clerk"])
    assert client.get(other).status_code == 404


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("invoice.pdf", b"<html><script>alert(1)</script></html>", "only PDF, PNG, JPEG or TIFF"),
        ("empty.pdf", b"", "The submitted file is empty."),
        (
            "scan.pdf",
            b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024),
            "The file is larger than 10 MB; attachments above 10 MB are refused.",
        ),
    ],
)
def test_bad_attachment_is_refused_and_nothing_is_captured(
    client, people, po, tmp_path, name, content, message
):
    client.force_login(people["ap_clerk"])
    data = form_data(po)
    data["attachments"] = [SimpleUploadedFile(name, content)]
    response = client.post(CREATE_URL, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Invoice.objects.exists() and not InvoiceAttachment.objects.exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))


def test_double_submit_captures_one_invoice_and_lands_on_it(client, people, po):
    client.force_login(people["ap_clerk"])
    data = form_data(po)
    first = client.post(CREATE_URL, data)
    second = client.post(CREATE_URL, data)
    invoice = Invoice.objects.get()
    assert first.url == second.url == reverse("payables:invoice_detail", args=[invoice.pk])
    page = client.get(second.url)
    assert any("was already captured" in text and "sent twice" in text for text in texts(page))


def test_the_same_number_from_another_clerk_is_refused_with_the_reason(client, people, po):
    client.force_login(people["ap_manager"])
    client.post(CREATE_URL, form_data(po))
    client.force_login(people["ap_clerk"])
    response = client.post(CREATE_URL, form_data(po))
    assert response.status_code == 200
    assert Invoice.objects.count() == 1
    assert any("was already captured as INV-7001" in text for text in texts(response))


def test_attachment_added_on_the_invoice_page(client, people, po):
    client.force_login(people["ap_clerk"])
    client.post(CREATE_URL, form_data(po))
    invoice = Invoice.objects.get()
    url = reverse("payables:invoice_attachment_add", args=[invoice.pk])
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    response = client.post(url, {"attachments": [SimpleUploadedFile("scan.png", png)]})
    assert response.status_code == 302
    assert invoice.attachments.get().content_type == "image/png"
    refused = client.post(url, {"attachments": [SimpleUploadedFile("notes.txt", b"hello")]})
    assert any("only PDF, PNG, JPEG or TIFF" in text for text in texts(client.get(refused.url)))
    assert invoice.attachments.count() == 1
    client.force_login(people["buyer"])
    assert client.post(url, {"attachments": [SimpleUploadedFile("x.png", png)]}).status_code == 403


def test_entry_form_offers_attachments_and_keeps_the_po_lookup(client, people, po):
    client.force_login(people["ap_clerk"])
    response = client.get(CREATE_URL, {"po": po.pk})
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html and 'name="attachments"' in html
    assert 'value="A4 copy paper"' in html and "data-submit-once" in html


def test_credit_notes_show_as_credit_in_the_list_and_on_their_page(client, people, po):
    vendor = po.vendor
    invoice_capture(
        by=people["ap_clerk"],
        vendor=vendor,
        number="CN-77",
        invoice_date=dt.date(2026, 11, 5),
        currency="EUR",
        lines=[InvoiceLineInput("Returned toner", Decimal("1"), Decimal("89.00"))],
        tax_amount=Decimal("18.69"),
        document_type=Invoice.DocumentType.CREDIT_NOTE,
    )
    credit = Invoice.objects.get(number="CN-77")
    client.force_login(people["ap_clerk"])
    listing = client.get(reverse("payables:invoice_list")).content.decode()
    assert "Credit note" in listing and "−107.69 EUR" in listing
    only_credits = client.get(reverse("payables:invoice_list"), {"document_type": "credit_note"})
    assert list(only_credits.context["page"].object_list) == [credit]
    page = client.get(reverse("payables:invoice_detail", args=[credit.pk])).content.decode()
    assert "Credit note CN-77" in page
    assert f"reduces what is owed to {vendor.name} by 107.69 EUR" in page
    assert "−107.69 EUR" in page
