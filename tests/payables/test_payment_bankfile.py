"""Bank files, payment, voids and remittance advice for an approved run."""

import csv
import datetime as dt
import io
from decimal import Decimal
from pathlib import Path

import pytest
import xmlschema
from defusedxml import ElementTree

from p2p.exceptions import DomainError, InvalidTransition
from p2p.models import AuditEvent
from payables import bankfile
from payables.models.invoices import Invoice
from payables.models.payments import BankConfirmation, Payment, PaymentExport, PaymentRun
from payables.services import payments, remittance, settlement
from tests import factories
from tests.payables.payment_data import approved, company
from vendors.models import BankAccount

pytestmark = pytest.mark.django_db

NS = {"p": "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"}
XSD = Path(__file__).resolve().parents[2] / "payables" / "schemas" / "pain" / "pain.001.001.09.xsd"
PAY_DATE = dt.date(2026, 11, 5)


def approved_run(people, *, horizon=dt.date(2026, 11, 19)) -> PaymentRun:
    run = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=PAY_DATE, horizon_date=horizon
    )
    return payments.payment_run_approve(run=run, by=people["finance_leader"])


@pytest.fixture
def two_vendors(people):
    company()
    office = factories.make_vendor("Office Depot B.V.")
    paper = factories.make_vendor("Papier & Co GmbH", terms=factories.two_ten_net30())
    BankAccount.objects.filter(vendor=paper).update(
        iban="DE89370400440532013000", bic="COBADEFFXXX", account_holder="Papier & Co GmbH"
    )
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15), amount="1000.00")
    approved(office, "OD-2", invoice_date=dt.date(2026, 10, 16), amount="250.50")
    approved(office, "OD-CN", invoice_date=dt.date(2026, 10, 1), amount="50.50", credit_note=True)
    approved(paper, "PC-77", invoice_date=dt.date(2026, 11, 2), amount="500.00")
    return {"office": office, "paper": paper}


def parse(export: PaymentExport):
    return ElementTree.fromstring(export.content.encode())


def test_single_currency_pain001_is_schema_valid_with_one_transfer_per_vendor(people, two_vendors):
    run = approved_run(people)

    exports = settlement.payment_run_export(run=run, by=people["ap_clerk"])

    xml_file, csv_export = exports
    assert (xml_file.format, xml_file.currency, csv_export.format) == ("pain001", "EUR", "csv")
    xmlschema.XMLSchema(str(XSD)).validate(xml_file.content)
    root = parse(xml_file)
    header = root.find("p:CstmrCdtTrfInitn/p:GrpHdr", NS)
    assert header.findtext("p:NbOfTxs", namespaces=NS) == "2"
    assert header.findtext("p:CtrlSum", namespaces=NS) == "1690.00"  # 1,200 + 490
    assert xml_file.message_id == header.findtext("p:MsgId", namespaces=NS)
    info = root.find("p:CstmrCdtTrfInitn/p:PmtInf", NS)
    assert info.findtext("p:DbtrAcct/p:Id/p:IBAN", namespaces=NS) == "NL91ABNA0417164300"
    assert info.findtext("p:DbtrAgt/p:FinInstnId/p:BICFI", namespaces=NS) == "ABNANL2A"
    assert info.findtext("p:PmtTpInf/p:SvcLvl/p:Cd", namespaces=NS) == "SEPA"
    assert info.findtext("p:ReqdExctnDt/p:Dt", namespaces=NS) >= PAY_DATE.isoformat()
    transfers = {
        tx.findtext("p:Cdtr/p:Nm", namespaces=NS): tx for tx in info.findall("p:CdtTrfTxInf", NS)
    }
    office = transfers["Office Depot B.V."]
    assert office.find("p:Amt/p:InstdAmt", NS).attrib["Ccy"] == "EUR"
    assert office.findtext("p:Amt/p:InstdAmt", namespaces=NS) == "1200.00"
    office_account = BankAccount.objects.get(vendor=two_vendors["office"], status="verified")
    assert office.findtext("p:CdtrAcct/p:Id/p:IBAN", namespaces=NS) == office_account.iban
    assert (
        office.findtext("p:RmtInf/p:Ustrd", namespaces=NS) == f"{run.number} CN OD-CN, OD-1, OD-2"
    )
    paper = transfers["Papier & Co GmbH"]
    assert paper.findtext("p:Amt/p:InstdAmt", namespaces=NS) == "490.00"  # 2 % discount taken
    assert paper.findtext("p:CdtrAgt/p:FinInstnId/p:BICFI", namespaces=NS) == "COBADEFFXXX"
    end_to_end = paper.findtext("p:PmtId/p:EndToEndId", namespaces=NS)
    assert set(
        Payment.objects.filter(vendor=two_vendors["paper"]).values_list("end_to_end_id", flat=True)
    ) == {end_to_end}
    rows = list(csv.DictReader(io.StringIO(csv_export.content)))
    assert [row["document"] for row in rows] == ["OD-CN", "OD-1", "OD-2", "PC-77"]
    assert rows[0]["net"] == "-50.50" and rows[1]["transfer_net"] == "1200.00"
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.SENT and run.sent_at is not None


def test_multi_currency_run_writes_one_valid_file_per_currency(people, two_vendors):
    approved(
        two_vendors["office"],
        "OD-USD",
        invoice_date=dt.date(2026, 10, 15),
        currency="USD",
        amount="300.00",
    )
    approved(
        two_vendors["paper"],
        "PC-CHF",
        invoice_date=dt.date(2026, 10, 15),
        currency="CHF",
        amount="80.00",
    )
    run = approved_run(people)

    exports = settlement.payment_run_export(run=run, by=people["ap_clerk"])

    files = {e.currency: e for e in exports if e.format == PaymentExport.Format.PAIN001}
    assert set(files) == {"CHF", "EUR", "USD"}
    schema = xmlschema.XMLSchema(str(XSD))
    for currency, export in files.items():
        schema.validate(export.content)
        root = parse(export)
        amounts = root.findall(".//p:CdtTrfTxInf/p:Amt/p:InstdAmt", NS)
        assert {a.attrib["Ccy"] for a in amounts} == {currency}
        # SEPA is euro only; other currencies go without the SEPA service level.
        has_sepa = root.find(".//p:PmtTpInf/p:SvcLvl", NS) is not None
        assert has_sepa is (currency == "EUR")
        charges = root.findtext(".//p:PmtInf/p:ChrgBr", namespaces=NS)
        assert charges == ("SLEV" if currency == "EUR" else "SHAR")
    assert files["USD"].control_sum == Decimal("300.00")
    assert files["USD"].transfer_count == 1
    assert len({e.message_id for e in files.values()}) == 3


def test_remittance_text_fits_140_characters_and_points_to_the_advice():
    class Line:
        def __init__(self, number):
            self.invoice = type("Invoice", (), {"number": number})()
            self.net_amount = Decimal("1")

    lines = [Line(f"INV-2026-{n:05d}") for n in range(30)]

    text = bankfile.remittance_text("RUN-000123", lines)

    assert len(text) <= 140
    assert text.startswith("RUN-000123 INV-2026-00000, INV-2026-00001")
    assert text.endswith("more, see advice")


def test_export_is_refused_without_the_company_account_and_nothing_is_kept(people, two_vendors):
    run = approved_run(people)
    company(iban="")

    with pytest.raises(DomainError, match="company's own IBAN is not set"):
        settlement.payment_run_export(run=run, by=people["ap_clerk"])

    run.refresh_from_db()
    assert run.status == PaymentRun.Status.APPROVED
    assert not PaymentExport.objects.exists()


def test_a_bank_change_after_approval_stops_the_export(people, two_vendors):
    run = approved_run(people)
    BankAccount.objects.create(
        vendor=two_vendors["office"],
        account_holder="Office Depot B.V.",
        iban="NL39RABO0300065264",
        requested_by=people["buyer"],
    )

    with pytest.raises(DomainError, match="Office Depot B.V. has a bank account change waiting"):
        settlement.payment_run_export(run=run, by=people["ap_clerk"])
    assert not PaymentExport.objects.exists()


def test_a_file_that_fails_the_schema_is_never_offered(people, two_vendors):
    run = approved_run(people)
    # A mangled account slips past the vendor screens: the schema check still catches it.
    BankAccount.objects.filter(vendor=two_vendors["office"]).update(iban="NOT-AN-IBAN")

    with pytest.raises(DomainError, match="failed the pain.001.001.09 schema check"):
        settlement.payment_run_export(run=run, by=people["ap_clerk"])

    run.refresh_from_db()
    assert run.status == PaymentRun.Status.APPROVED and not PaymentExport.objects.exists()


def test_only_an_approved_run_goes_to_the_bank(people, two_vendors):
    run = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=PAY_DATE, horizon_date=dt.date(2026, 11, 19)
    )

    with pytest.raises(InvalidTransition, match="only an approved run"):
        settlement.payment_run_export(run=run, by=people["ap_clerk"])


def test_mark_paid_with_the_bank_date_then_void_a_returned_transfer_and_pay_it_again(
    people, two_vendors
):
    run = approved_run(people)
    settlement.payment_run_export(run=run, by=people["ap_clerk"])
    with pytest.raises(DomainError, match="in the future"):
        settlement.payment_run_mark_paid(
            run=run, by=people["ap_clerk"], paid_on=dt.date.today() + dt.timedelta(days=3)
        )

    settlement.payment_run_mark_paid(run=run, by=people["ap_clerk"], paid_on=dt.date(2026, 11, 6))

    od1 = Invoice.objects.get(number="OD-1")
    assert od1.status == Invoice.Status.PAID and od1.paid_at.date() == dt.date(2026, 11, 6)
    settlement.transfer_bank_confirm(
        run=run,
        vendor=two_vendors["office"],
        currency="EUR",
        outcome=BankConfirmation.Outcome.RETURNED,
        reference="AC04 closed account",
        by=people["ap_clerk"],
    )
    office_lines = list(run.payments.filter(vendor=two_vendors["office"]).order_by("pk"))
    with pytest.raises(DomainError, match="Say why"):
        settlement.payment_void(payment=office_lines[0], by=people["ap_manager"], reason="")

    voided = [
        settlement.payment_void(payment=line, by=people["ap_manager"], reason="Returned: AC04")
        for line in office_lines
    ]

    assert len(voided) == 3  # OD-1, OD-2 and the credit note, one by one
    od1.refresh_from_db()
    assert od1.status == Invoice.Status.APPROVED and od1.paid_at is None
    assert Invoice.objects.get(number="PC-77").status == Invoice.Status.PAID
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.PAID and run.net_amount == Decimal("490.00")
    assert (
        AuditEvent.objects.filter(
            object_type="payables.paymentrun", object_id=run.pk, action="payment_voided"
        ).count()
        == 3
    )
    assert AuditEvent.objects.filter(
        object_type="payables.invoice", object_id=od1.pk, to_status="approved"
    ).exists()

    again = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=dt.date(2026, 11, 12), horizon_date=dt.date(2026, 11, 19)
    )

    assert set(again.payments.values_list("invoice__number", flat=True)) == {
        "OD-1",
        "OD-2",
        "OD-CN",
    }
    assert list(
        Payment.objects.filter(invoice=od1).order_by("id").values_list("status", flat=True)
    ) == ["void", "scheduled"]


def test_void_only_after_the_run_went_to_the_bank(people, two_vendors):
    run = approved_run(people)

    with pytest.raises(InvalidTransition, match="Remove the invoice from the run instead"):
        settlement.payment_void(
            payment=run.payments.first(), by=people["ap_manager"], reason="Bank said no"
        )


def test_remittance_advice_is_emailed_to_the_vendor(people, two_vendors, mailoutbox):
    run = approved_run(people)
    settlement.payment_run_export(run=run, by=people["ap_clerk"])

    remittance.remittance_send(run=run, vendor=two_vendors["office"], by=people["ap_clerk"])

    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["billing@example.com"]
    assert run.number in message.subject and "Acme Nederland B.V." in message.subject
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "OD-1" in html and "OD-2" in html and "1,200.00 EUR" in html
    assert "credit note" in message.body and "1,200.00 EUR" in message.body
    assert AuditEvent.objects.filter(action="remittance_sent", object_id=run.pk).exists()
    two_vendors["paper"].email = ""
    two_vendors["paper"].save(update_fields=["email"])
    with pytest.raises(DomainError, match="no email address"):
        remittance.remittance_send(run=run, vendor=two_vendors["paper"], by=people["ap_clerk"])
