"""A run that went to the bank: never cancelled, voided payment by payment once the bank confirms."""

import datetime as dt
import hashlib
from decimal import Decimal

import pytest
from defusedxml import ElementTree
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, transaction
from django.urls import reverse

from p2p.exceptions import DomainError, InvalidTransition, SegregationOfDutiesError
from p2p.models import AuditEvent
from payables.models.invoices import Invoice
from payables.models.payments import BankConfirmation, Payment, PaymentExport, PaymentRun
from payables.services import payments, settlement
from tests import factories
from tests.payables.payment_data import approved, company, office_depot_run_sent

pytestmark = pytest.mark.django_db

PAY_DATE = dt.date(2026, 11, 5)
HORIZON = dt.date(2026, 11, 19)


@pytest.fixture
def sent_run(people) -> PaymentRun:
    return office_depot_run_sent(people)


NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}


def ids_in(export: PaymentExport) -> tuple[str, str, list[str]]:
    """MsgId, PmtInfId and EndToEndIds as the bank reads them from the file."""
    root = ElementTree.fromstring(export.content.encode())
    return (
        root.findtext("p:CstmrCdtTrfInitn/p:GrpHdr/p:MsgId", namespaces=NS),
        root.findtext("p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId", namespaces=NS),
        [n.text for n in root.iterfind(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", NS)],
    )


def confirm_not_executed(run: PaymentRun, by, reference: str = "ABN-2026-11-0477") -> None:
    settlement.transfer_bank_confirm(
        run=run,
        vendor=run.payments.first().vendor,
        currency="EUR",
        outcome=BankConfirmation.Outcome.NOT_EXECUTED,
        reference=reference,
        by=by,
    )


def payment_of(run: PaymentRun, number: str) -> Payment:
    return run.payments.get(invoice__number=number)


def scheduled_numbers() -> set[str]:
    return set(
        Invoice.objects.filter(status=Invoice.Status.SCHEDULED).values_list("number", flat=True)
    )


def test_cancel_of_a_sent_run_is_refused_and_its_invoices_stay_out_of_proposals(people, sent_run):
    with pytest.raises(InvalidTransition, match="was sent to the bank, so it cannot be cancelled"):
        payments.payment_run_cancel(run=sent_run, by=people["ap_manager"], note="Wrong date")

    sent_run.refresh_from_db()
    assert sent_run.status == PaymentRun.Status.SENT
    assert scheduled_numbers() == {"OD-1", "OD-2"}
    assert set(sent_run.payments.values_list("status", flat=True)) == {Payment.Status.SCHEDULED}
    with pytest.raises(DomainError, match="No approved invoices"):
        payments.payment_run_propose(by=people["ap_clerk"], pay_date=PAY_DATE, horizon_date=HORIZON)


def test_cancel_page_refuses_a_sent_run_with_the_reason(client, people, sent_run):
    client.force_login(people["ap_manager"])

    page = client.get(reverse("payables:run_detail", args=[sent_run.pk]))
    response = client.post(reverse("payables:run_cancel", args=[sent_run.pk]), follow=True)

    assert "Cancel run" not in page.content.decode()
    assert "cannot be cancelled: the bank may still pay it" in response.content.decode()
    sent_run.refresh_from_db()
    assert sent_run.status == PaymentRun.Status.SENT
    assert scheduled_numbers() == {"OD-1", "OD-2"}


def test_cancel_through_the_api_of_a_sent_run_is_a_conflict(client, people, sent_run):
    client.force_login(people["ap_manager"])

    response = client.post(
        f"/api/payment-runs/{sent_run.pk}/cancel/",
        {"note": "Oops"},
        content_type="application/json",
    )

    assert response.status_code == 409
    assert "cannot be cancelled" in response.json()["detail"]
    assert scheduled_numbers() == {"OD-1", "OD-2"}


# --- voiding a payment of a sent run ---------------------------------------------------------


def test_void_waits_for_the_banks_confirmation(people, sent_run):
    with pytest.raises(DomainError, match="bank has not confirmed .* not executed"):
        settlement.payment_void(
            payment=payment_of(sent_run, "OD-1"), by=people["ap_manager"], reason="Wrong amount"
        )

    assert scheduled_numbers() == {"OD-1", "OD-2"}


def test_void_is_for_an_ap_manager_who_did_not_prepare_the_run(people):
    company()
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15), amount="1788.00")
    run = payments.payment_run_propose(
        by=people["ap_manager"], pay_date=PAY_DATE, horizon_date=HORIZON
    )
    payments.payment_run_approve(run=run, by=people["finance_leader"])
    settlement.payment_run_export(run=run, by=people["ap_clerk"])
    confirm_not_executed(run, people["ap_clerk"])
    od1 = payment_of(run, "OD-1")

    with pytest.raises(PermissionDenied):
        settlement.payment_void(payment=od1, by=people["ap_clerk"], reason="Bank did not pay")
    with pytest.raises(PermissionDenied):
        settlement.payment_void(payment=od1, by=people["finance_leader"], reason="Bank did not pay")
    with pytest.raises(SegregationOfDutiesError, match="another AP manager"):
        settlement.payment_void(payment=od1, by=people["ap_manager"], reason="Bank did not pay")
    assert scheduled_numbers() == {"OD-1"}

    other_manager = factories.make_user("mona", "ap_manager")
    settlement.payment_void(payment=od1, by=other_manager, reason="Bank did not pay")

    assert Invoice.objects.get(number="OD-1").status == Invoice.Status.APPROVED


def test_void_after_the_bank_confirmed_frees_only_that_invoice(people, sent_run):
    confirm_not_executed(sent_run, people["ap_clerk"])
    with pytest.raises(DomainError, match="already recorded"):
        confirm_not_executed(sent_run, people["ap_clerk"], reference="again")

    settlement.payment_void(
        payment=payment_of(sent_run, "OD-1"),
        by=people["ap_manager"],
        reason="Amount disputed, bank stopped the transfer",
    )

    assert Invoice.objects.get(number="OD-1").status == Invoice.Status.APPROVED
    assert scheduled_numbers() == {"OD-2"}
    sent_run.refresh_from_db()
    assert (sent_run.status, sent_run.net_amount) == (PaymentRun.Status.SENT, Decimal("788.00"))
    confirmed = AuditEvent.objects.for_object(sent_run).get(action="bank_confirmed")
    assert (confirmed.actor_name, confirmed.note) == ("carla", "ABN-2026-11-0477")
    voided = AuditEvent.objects.for_object(sent_run).get(action="payment_voided")
    assert voided.actor_name == "martin"
    assert voided.changes["invoice"] == "OD-1"
    assert voided.changes["net"] == "1,000.00 EUR"
    assert "ABN-2026-11-0477" in voided.changes["bank"]
    # OD-2 sits in the same unexecuted transfer: the run cannot be marked paid around it.
    with pytest.raises(DomainError, match="Void their payments before marking the run paid"):
        settlement.payment_run_mark_paid(run=sent_run, by=people["ap_clerk"], paid_on=PAY_DATE)
    again = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=dt.date(2026, 11, 12), horizon_date=HORIZON
    )
    assert list(again.payments.values_list("invoice__number", flat=True)) == ["OD-1"]


def test_bank_confirmation_and_void_through_the_run_page(client, people, sent_run):
    run_url = reverse("payables:run_detail", args=[sent_run.pk])
    od1 = payment_of(sent_run, "OD-1")
    client.force_login(people["ap_clerk"])
    assert "Bank confirmed not paid" in client.get(run_url).content.decode()

    response = client.post(
        reverse("payables:run_bank_confirm", args=[sent_run.pk]),
        {
            "vendor": od1.vendor_id,
            "currency": "EUR",
            "outcome": "not_executed",
            "reference": "",
        },
        follow=True,
    )
    assert "Bank reference: This field is required." in response.content.decode()
    client.post(
        reverse("payables:run_bank_confirm", args=[sent_run.pk]),
        {
            "vendor": od1.vendor_id,
            "currency": "EUR",
            "outcome": "not_executed",
            "reference": "ABN-2026-11-0477",
        },
    )
    assert (
        client.post(
            reverse("payables:run_void", args=[sent_run.pk, od1.pk]), {"reason": "Not executed"}
        ).status_code
        == 403
    )

    client.force_login(people["ap_manager"])
    page = client.get(run_url).content.decode()
    response = client.post(
        reverse("payables:run_void", args=[sent_run.pk, od1.pk]),
        {"reason": "Not executed, pay next week"},
        follow=True,
    )

    assert "Bank: Not executed by the bank" in page and "ABN-2026-11-0477" in page
    assert "Void payment" in page
    assert "Payment of OD-1 voided; the invoice is payable again." in response.content.decode()
    assert scheduled_numbers() == {"OD-2"}


# --- bank files: written once, replaced only on purpose ----------------------------------------


def test_bank_files_are_written_once_and_downloads_return_the_same_bytes(client, people, sent_run):
    first = {e.pk: (e.message_id, e.sha256) for e in sent_run.exports.all()}

    with pytest.raises(InvalidTransition, match="bank files are written once"):
        settlement.payment_run_export(run=sent_run, by=people["ap_clerk"])

    assert {e.pk: (e.message_id, e.sha256) for e in sent_run.exports.all()} == first
    xml_file = sent_run.exports.get(format=PaymentExport.Format.PAIN001)
    assert xml_file.sha256 == hashlib.sha256(xml_file.content.encode()).hexdigest()
    assert xml_file.debtor_iban == "NL91ABNA0417164300"
    assert ids_in(xml_file) == (
        xml_file.message_id,
        xml_file.payment_info_id,
        xml_file.end_to_end_ids,
    )
    client.force_login(people["ap_clerk"])
    page_url = reverse("payables:run_export_download", args=[sent_run.pk, xml_file.pk])
    api_url = f"/api/payment-runs/{sent_run.pk}/files/{xml_file.pk}/"
    downloads = [client.get(page_url).content, client.get(page_url).content]
    downloads.append(client.get(api_url).content)
    assert {hashlib.sha256(body).hexdigest() for body in downloads} == {xml_file.sha256}
    assert client.post(f"/api/payment-runs/{sent_run.pk}/export/").status_code == 409
    page = client.get(reverse("payables:run_detail", args=[sent_run.pk])).content.decode()
    assert "Write bank files again" not in page and "Send to bank" not in page
    assert f"SHA-256 {xml_file.sha256}" in page and "Current" in page


def test_replace_file_keeps_the_ids_and_supersedes_the_earlier_file(client, people, sent_run):
    original = sent_run.exports.get(format=PaymentExport.Format.PAIN001)
    original_bytes = original.content.encode()

    with pytest.raises(PermissionDenied):
        settlement.bank_file_replace(export=original, by=people["ap_clerk"], reason="Lost")
    with pytest.raises(DomainError, match="Say why"):
        settlement.bank_file_replace(export=original, by=people["ap_manager"], reason=" ")

    replacement = settlement.bank_file_replace(
        export=original, by=people["ap_manager"], reason="Bank portal rejected the upload"
    )

    original.refresh_from_db()
    assert original.status == PaymentExport.Status.SUPERSEDED and original.superseded_at
    assert original.content.encode() == original_bytes
    assert replacement.status == PaymentExport.Status.CURRENT
    assert replacement.replaces == original
    assert replacement.filename == f"{sent_run.number}-EUR-pain.001.001.09-replacement-1.xml"
    assert ids_in(replacement) == ids_in(original)
    assert ids_in(replacement)[2] == [
        f"{sent_run.number}-{payment_of(sent_run, 'OD-1').vendor_id}-EUR"
    ]
    assert replacement.control_sum == Decimal("1788.00")
    assert (
        sent_run.exports.filter(
            format=PaymentExport.Format.PAIN001, status=PaymentExport.Status.CURRENT
        ).get()
        == replacement
    )
    with pytest.raises(DomainError, match="already replaced"):
        settlement.bank_file_replace(export=original, by=people["ap_manager"], reason="Again")
    event = AuditEvent.objects.for_object(sent_run).get(action="bank_file_replaced")
    assert event.note == "Bank portal rejected the upload"
    assert event.changes["message_id"] == original.message_id

    client.force_login(people["ap_manager"])
    old_download = client.get(
        reverse("payables:run_export_download", args=[sent_run.pk, original.pk])
    )
    page = client.get(reverse("payables:run_detail", args=[sent_run.pk])).content.decode()
    assert old_download.content == original_bytes
    assert "Superseded" in page and replacement.filename in page
    assert f"SHA-256 {replacement.sha256}" in page and f"SHA-256 {original.sha256}" in page


def test_replace_file_through_the_page_and_the_api(client, people, sent_run):
    xml_file = sent_run.exports.get(format=PaymentExport.Format.PAIN001)
    client.force_login(people["ap_manager"])

    response = client.post(
        reverse("payables:run_file_replace", args=[sent_run.pk, xml_file.pk]),
        {"reason": "Upload truncated"},
        follow=True,
    )
    assert f"with the same message id {xml_file.message_id}" in response.content.decode()
    csv_file = sent_run.exports.get(format=PaymentExport.Format.CSV)
    api = client.post(
        f"/api/payment-runs/{sent_run.pk}/files/{csv_file.pk}/replace/",
        {"reason": "Ledger import failed"},
        content_type="application/json",
    )

    assert api.status_code == 200, api.json()
    files = {(f["format"], f["status"]) for f in api.json()["exports"]}
    assert files == {
        ("pain001", "current"),
        ("pain001", "superseded"),
        ("csv", "current"),
        ("csv", "superseded"),
    }


def test_replace_file_refuses_a_different_paying_account(people, sent_run):
    xml_file = sent_run.exports.get(format=PaymentExport.Format.PAIN001)
    company(iban="DE89370400440532013000", bic="COBADEFFXXX")

    with pytest.raises(DomainError, match="must debit the same account"):
        settlement.bank_file_replace(export=xml_file, by=people["ap_manager"], reason="New bank")

    xml_file.refresh_from_db()
    assert xml_file.status == PaymentExport.Status.CURRENT
    assert sent_run.exports.count() == 2


def test_the_database_refuses_to_change_or_delete_a_written_bank_file(sent_run):
    xml_file = sent_run.exports.get(format=PaymentExport.Format.PAIN001)
    tampered = xml_file.content.replace("1788.00", "9788.00")

    for attempt in (
        lambda: PaymentExport.objects.filter(pk=xml_file.pk).update(content=tampered),
        lambda: PaymentExport.objects.filter(pk=xml_file.pk).update(message_id="NEW-ID"),
        lambda: PaymentExport.objects.filter(pk=xml_file.pk).delete(),
    ):
        with pytest.raises(DatabaseError, match="bank file"), transaction.atomic():
            attempt()

    xml_file.refresh_from_db()
    assert "1788.00" in xml_file.content and "9788.00" not in xml_file.content
