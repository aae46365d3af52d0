"""Request intake in the browser: quotes as attachments, draft edits, copies, contract items,
'My requests'; and receiving with the re-match it triggers."""

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditAction, AuditEvent
from payables.models.invoices import Invoice
from payables.services.matching import run_matching
from procurement.models import PurchaseOrder, PurchaseRequest, RequestAttachment
from procurement.services.approvals import approval_decide
from procurement.services.attachments import (
    ATTACHMENT_MAX_BYTES,
    request_attachment_add,
    request_attachment_remove,
)
from procurement.services.receipts import ReceiptLineInput, receipt_post
from procurement.services.requests import (
    LineInput,
    request_create,
    request_submit,
    request_withdraw,
)
from tests import factories
from tests.flow import invoice, issued_po
from tests.procurement.conftest import client_for, make_contract, raise_request

pytestmark = pytest.mark.django_db

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def quote(name: str = "quote-4471.pdf", content: bytes = PDF, content_type="application/pdf"):
    return SimpleUploadedFile(name, content, content_type=content_type)


def form_data(setup_org, lines, *, action="draft", **extra) -> dict:
    data = {
        "title": "Chairs for the meeting room",
        "cost_center": setup_org["cost_center"].pk,
        "gl_account": setup_org["gl_account"].pk,
        "category": "goods",
        "currency": "EUR",
        "needed_by": "",
        "preferred_vendor": "",
        "justification": "Broken chairs",
        "action": action,
        "lines-TOTAL_FORMS": str(len(lines)),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        **extra,
    }
    for n, line in enumerate(lines):
        for key, value in line.items():
            data[f"lines-{n}-{key}"] = value
    return data


CHAIR = {"description": "Meeting chair", "quantity": "6", "uom": "EA", "unit_price": "149.50"}


# ---------- attachments ----------


def test_a_quote_uploaded_with_the_request_is_kept_under_media_and_served_to_readers(
    people, setup_org, media_root
):
    rita = client_for(people["requester"])
    response = rita.post(
        reverse("procurement:request_create"),
        form_data(setup_org, [CHAIR], attachments=[quote()]),
    )
    assert response.status_code == 302
    attachment = RequestAttachment.objects.get()
    assert attachment.original_name == "quote-4471.pdf" and attachment.size == len(PDF)
    stored = Path(attachment.file.path)
    assert stored.is_file() and media_root in stored.parents
    assert stored.name != "quote-4471.pdf"  # a random stored name

    url = reverse("procurement:request_attachment", args=[attachment.request_id, attachment.pk])
    for reader in (people["requester"], people["approver"], people["buyer"]):
        download = client_for(reader).get(url)
        assert download.status_code == 200
        assert b"".join(download.streaming_content) == PDF
        assert download["Content-Disposition"].startswith("attachment")
        assert download["X-Content-Type-Options"] == "nosniff"
        assert download["Content-Security-Policy"] == "sandbox"
    stranger = factories.make_user("sam", "requester")
    assert client_for(stranger).get(url).status_code == 404


@pytest.mark.parametrize(
    ("upload", "message"),
    [
        (quote("setup.exe", b"MZ\x90\x00"), "this file type is not accepted"),
        (quote("quote.pdf", b"MZ\x90\x00 not a pdf"), "is not a real PDF file"),
        (quote("empty.pdf", b""), "is empty"),
        (quote("notes.txt", b"abc\x00def", "text/plain"), "is not a text file"),
    ],
)
def test_bad_attachments_are_refused_and_nothing_is_written(
    people, setup_org, media_root, upload, message
):
    with pytest.raises(DomainError, match=message):
        request_create(
            by=people["requester"],
            title="Chairs",
            cost_center=setup_org["cost_center"],
            gl_account=setup_org["gl_account"],
            lines=[LineInput("Chair", Decimal("1"), Decimal("10"))],
            attachments=[quote(), upload],
        )
    assert not PurchaseRequest.objects.exists()
    assert not RequestAttachment.objects.exists()
    assert not any(path.is_file() for path in Path(media_root).rglob("*"))


def test_an_oversized_attachment_is_refused(people, setup_org, settings):
    request = raise_request(people, setup_org, submit=False)
    big = quote(content=PDF + b"0" * (ATTACHMENT_MAX_BYTES + 1))
    with pytest.raises(DomainError, match="at most 10 MB"):
        request_attachment_add(request=request, by=people["requester"], uploads=[big])


def test_attachments_are_added_and_removed_on_the_page_while_the_request_can_change(
    people, setup_org
):
    request = raise_request(people, setup_org, submit=False)
    rita = client_for(people["requester"])
    rita.post(
        reverse("procurement:request_attach", args=[request.pk]),
        {"files": [quote("a.pdf"), quote("b.png", b"\x89PNG\r\n\x1a\n....", "image/png")]},
    )
    assert list(request.attachments.values_list("original_name", flat=True)) == ["a.pdf", "b.png"]
    first = request.attachments.first()
    rita.post(
        reverse("procurement:request_attachment_remove", args=[request.pk, first.pk]),
        {"reason": "Old quote"},
    )
    assert request.attachments.current().count() == 1
    # The same words as an invoice's attachments; "attached" is only in old rows.
    trail = AuditEvent.objects.for_object(request).values_list("action", flat=True)
    assert list(trail.filter(action__contains="attach")) == [
        AuditAction.ATTACHMENT_ADDED,
        AuditAction.ATTACHMENT_REMOVED,
    ]
    # Another requester cannot touch it; once approved the requester cannot either.
    stranger = client_for(factories.make_user("sam", "requester"))
    response = stranger.post(
        reverse("procurement:request_attach", args=[request.pk]), {"files": [quote()]}
    )
    assert response.status_code == 404
    request_submit(request=request, by=people["requester"])
    approval_decide(step=request.approvals.get(), by=people["approver"], decision="approve")
    with pytest.raises(NotAllowed):
        request_attachment_add(request=request, by=people["requester"], uploads=[quote()])


def test_removing_an_attachment_keeps_the_file_for_auditors_with_who_when_why(people, setup_org):
    request = raise_request(people, setup_org, submit=False)
    request_attachment_add(
        request=request, by=people["requester"], uploads=[quote("quote-1788.pdf")]
    )
    request_submit(request=request, by=people["requester"])
    attachment = request.attachments.get()
    rita = client_for(people["requester"])
    url = reverse("procurement:request_attachment_remove", args=[request.pk, attachment.pk])

    refused = rita.post(url, {"reason": "  "}, follow=True)
    assert "Say why the file is removed" in refused.content.decode()
    rita.post(url, {"reason": "Quote expired; a new one follows"})

    attachment.refresh_from_db()
    assert attachment.removed_by == people["requester"] and attachment.removed_at is not None
    assert attachment.removal_reason == "Quote expired; a new one follows"
    assert attachment.file.storage.exists(attachment.file.name)
    event = AuditEvent.objects.get(
        object_type="procurement.purchaserequest",
        object_id=request.pk,
        action=AuditAction.ATTACHMENT_REMOVED,
    )
    assert event.actor == people["requester"]
    assert event.changes == {"file": "quote-1788.pdf"}  # a clerk reads no internal ids
    assert event.note == "Quote expired; a new one follows"
    # Gone from the request's page and API for the requester, still readable by finance.
    download = reverse("procurement:request_attachment", args=[request.pk, attachment.pk])
    page = rita.get(reverse("procurement:request_detail", args=[request.pk])).content.decode()
    assert download not in page and "Quote expired" in page  # the trail says why
    assert rita.get(download).status_code == 404
    api = rita.get(f"/api/requests/{request.pk}/").json()
    assert api["attachments"] == []
    fiona = client_for(people["finance_leader"])
    page = fiona.get(reverse("procurement:request_detail", args=[request.pk])).content.decode()
    assert "Quote expired; a new one follows" in page
    response = fiona.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(PDF)
    with pytest.raises(DomainError, match="already removed"):
        request_attachment_remove(attachment=attachment, by=people["requester"], reason="again")


@pytest.mark.parametrize("closing", ["reject", "withdraw"])
def test_a_buyer_cannot_change_attachments_of_a_closed_or_draft_request(people, setup_org, closing):
    request = raise_request(people, setup_org, submit=False)
    request_attachment_add(request=request, by=people["requester"], uploads=[quote()])
    attachment = request.attachments.get()
    buyer = people["buyer"]
    with pytest.raises(NotAllowed, match="is draft; you cannot change its attachments"):
        request_attachment_add(request=request, by=buyer, uploads=[quote("b.pdf")])
    request_submit(request=request, by=people["requester"])
    # In approval a buyer may add the quote the approver asks for.
    request_attachment_add(request=request, by=buyer, uploads=[quote("vendor.pdf")])
    if closing == "reject":
        approval_decide(
            step=request.approvals.get(status="pending"),
            by=people["approver"],
            decision="reject",
            comment="Not this quarter",
        )
    else:
        request_withdraw(request=request, by=people["requester"])
    with pytest.raises(NotAllowed, match="you cannot change its attachments now"):
        request_attachment_add(request=request, by=buyer, uploads=[quote("c.pdf")])
    with pytest.raises(NotAllowed):
        request_attachment_remove(attachment=attachment, by=buyer, reason="Wrong file")
    assert request.attachments.current().count() == 2


# ---------- draft edit, copy, my requests ----------


def test_a_draft_is_changed_on_the_edit_page_and_then_submitted(people, setup_org):
    request = raise_request(people, setup_org, submit=False)
    rita = client_for(people["requester"])
    url = reverse("procurement:request_edit", args=[request.pk])
    page = rita.get(url).content.decode()
    assert 'value="Meeting chair, grey"' in page
    response = rita.post(
        url,
        form_data(
            setup_org,
            [CHAIR, {"description": "Table", "quantity": "1", "uom": "EA", "unit_price": "899"}],
            action="submit",
        ),
        follow=True,
    )
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert request.total_amount == Decimal("1796.00") and request.lines.count() == 2
    assert f"{request.number} sent for approval." in response.content.decode()
    assert not request.editors.exists()  # the requester's own edits do not count
    # An ordered request cannot be changed any more.
    approval_decide(step=request.approvals.get(), by=people["approver"], decision="approve")
    assert rita.get(url).status_code == 302


def test_a_previous_request_is_copied_into_a_new_draft(people, setup_org):
    old = raise_request(people, setup_org, quantity="4")
    response = client_for(people["requester"]).post(
        reverse("procurement:request_copy", args=[old.pk])
    )
    copy = PurchaseRequest.objects.exclude(pk=old.pk).get()
    assert response.url == reverse("procurement:request_edit", args=[copy.pk])
    assert copy.status == PurchaseRequest.Status.DRAFT and copy.requester == people["requester"]
    assert [(line.description, line.quantity) for line in copy.lines.all()] == [
        ("Meeting chair, grey", Decimal("4.0000"))
    ]
    assert copy.number != old.number and copy.total_amount == old.total_amount


def test_needed_by_in_the_past_is_refused_in_the_form_and_the_api(people, setup_org):
    yesterday = (timezone.localdate() - dt.timedelta(days=1)).isoformat()
    page = client_for(people["requester"]).post(
        reverse("procurement:request_create"),
        form_data(setup_org, [{**CHAIR, "needed_by": yesterday}]),
    )
    assert "The needed-by date is in the past." in page.content.decode()
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(people["requester"])
    response = api.post(
        "/api/requests/",
        {
            "title": "Chairs",
            "cost_center": setup_org["cost_center"].pk,
            "gl_account": setup_org["gl_account"].pk,
            "needed_by": yesterday,
            "lines": [{"description": "Chair", "quantity": "1", "unit_price": "10"}],
        },
        format="json",
    )
    assert response.status_code == 400 and "needed_by" in response.json()
    assert not PurchaseRequest.objects.exists()


def test_a_contract_item_line_is_priced_from_the_contract_in_the_form(people, setup_org):
    vendor = factories.make_vendor()
    make_contract(vendor, people, {"CHAIR-G": "139.00"})
    rita = client_for(people["requester"])
    hints = rita.get(
        reverse("procurement:request_form_hints"),
        {"preferred_vendor": vendor.pk, "cost_center": setup_org["cost_center"].pk},
    ).content.decode()
    assert 'value="CHAIR-G"' in hints and "139.00 EUR" in hints
    rita.post(
        reverse("procurement:request_create"),
        form_data(
            setup_org,
            [
                {
                    "item_code": "CHAIR-G",
                    "description": "",
                    "quantity": "2",
                    "uom": "",
                    "unit_price": "",
                }
            ],
            preferred_vendor=vendor.pk,
        ),
    )
    line = PurchaseRequest.objects.get().lines.get()
    assert (line.item_code, line.unit_price, line.amount) == (
        "CHAIR-G",
        Decimal("139.0000"),
        Decimal("278.00"),
    )


def test_my_requests_shows_who_must_act_and_the_last_activity(people, setup_org):
    request = raise_request(people, setup_org)
    page = client_for(people["requester"]).get(reverse("procurement:request_list")).content.decode()
    assert request.number in page and "Any approver" in page
    assert timezone.localtime().strftime("%d %b %Y") in page


# ---------- receiving ----------


def test_posting_a_receipt_rematches_the_invoice_waiting_for_it(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = issued_po(people, setup_org, lines=(("Paper", "40", "23.50"),))
    billed = invoice(po, people, "INV-1", {1: ("40", "23.50")})
    run_matching([billed.pk])
    billed.refresh_from_db()
    assert billed.status == Invoice.Status.EXCEPTION  # nothing received yet

    rita = client_for(people["requester"])
    line = po.lines.get()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = rita.post(
            reverse("procurement:receipt_create", args=[po.pk]),
            {
                "received_on": timezone.localdate().isoformat(),
                "note": "Delivery note 4471",
                "receipt-TOTAL_FORMS": "1",
                "receipt-INITIAL_FORMS": "1",
                "receipt-MIN_NUM_FORMS": "0",
                "receipt-MAX_NUM_FORMS": "1000",
                "receipt-0-po_line_id": line.pk,
                "receipt-0-received_qty": "42",  # within the 10 % over-receipt tolerance
                "receipt-0-returned_qty": "",
            },
        )
    assert response.status_code == 302 and len(callbacks) == 1
    billed.refresh_from_db()
    assert billed.status == Invoice.Status.APPROVED
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.RECEIVED

    # Two come back damaged: a return brings the net back to the ordered 40.
    receipt_post(
        po=po,
        by=people["requester"],
        lines=[ReceiptLineInput(line.pk, Decimal("0"), Decimal("2"))],
    )
    line.refresh_from_db()
    assert line.received_qty == Decimal("40")


def test_a_future_receipt_date_is_refused(people, setup_org):
    po = issued_po(people, setup_org)
    with pytest.raises(DomainError, match="future"):
        receipt_post(
            po=po,
            by=people["requester"],
            received_on=timezone.localdate() + dt.timedelta(days=1),
            lines=[ReceiptLineInput(po.lines.get().pk, Decimal("1"))],
        )
