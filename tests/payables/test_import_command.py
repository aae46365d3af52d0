"""Importing e-invoices: vendor and PO resolution, credit notes, duplicates, the command line."""

import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from p2p.exceptions import DomainError
from p2p.models import AuditEvent
from payables.einvoice import parse_document
from payables.einvoice.common import DTD_REFUSED
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.services.importing import import_document, import_files
from procurement.models import PurchaseOrder
from tests import factories
from tests.flow import issued_po, receive
from tests.payables.test_einvoice import (
    EINVOICE_DATA,
    EXAMPLES,
    FEATURES,
    HOSTILE,
    oversize_invoice,
)
from vendors.models import Vendor

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not EXAMPLES, reason=f"e-invoice examples not found in {EINVOICE_DATA}"),
]

BASE_EXAMPLE = "peppol/examples/base-example.xml"
JSON_KEYS = [
    "file",
    "ok",
    "error",
    "document_type",
    "number",
    "issue_date",
    "due_date",
    "currency",
    "seller_name",
    "seller_tax_id",
    "order_reference",
    "line_count",
    "line_net_total",
    "tax_total",
    "payable_amount",
]


def example(name: str) -> bytes:
    return (EINVOICE_DATA / name).read_bytes()


def vendor_with(name: str, tax_id: str, **fields) -> Vendor:
    """A vendor as AP set it up, with the tax id the vendor's documents carry."""
    vendor = factories.make_vendor(name)
    Vendor.objects.filter(pk=vendor.pk).update(tax_id=tax_id, **fields)
    vendor.refresh_from_db()
    return vendor


def ubl_invoice(
    number: str,
    order_reference: str,
    lines,
    *,
    tax_rate: str = "21",
    seller: str = "Office Depot B.V.",
    vat: str = "NL004495445B01",
    issue_date: str = "2026-11-02",
) -> bytes:
    """A small Peppol BIS 3 invoice: lines are (description, qty, price, order line or '')."""
    net = sum((Decimal(q) * Decimal(p) for _, q, p, _ in lines), Decimal("0"))
    tax = (net * Decimal(tax_rate) / 100).quantize(Decimal("0.01"))
    line_xml = "".join(
        f"""<cac:InvoiceLine><cbc:ID>{n}</cbc:ID>
        <cbc:InvoicedQuantity unitCode="EA">{q}</cbc:InvoicedQuantity>
        <cbc:LineExtensionAmount currencyID="EUR">{(Decimal(q) * Decimal(p)).quantize(Decimal("0.01"))}</cbc:LineExtensionAmount>
        {f"<cac:OrderLineReference><cbc:LineID>{ref}</cbc:LineID></cac:OrderLineReference>" if ref else ""}
        <cac:Item><cbc:Name>{d}</cbc:Name><cac:ClassifiedTaxCategory><cbc:ID>S</cbc:ID>
        <cbc:Percent>{tax_rate}</cbc:Percent><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>
        </cac:ClassifiedTaxCategory></cac:Item>
        <cac:Price><cbc:PriceAmount currencyID="EUR">{p}</cbc:PriceAmount></cac:Price></cac:InvoiceLine>"""
        for n, (d, q, p, ref) in enumerate(lines, start=1)
    )
    order = (
        f"<cac:OrderReference><cbc:ID>{order_reference}</cbc:ID></cac:OrderReference>"
        if order_reference
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
 xmlns:cac="urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
 xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">
 <cbc:CustomizationID>urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0</cbc:CustomizationID>
 <cbc:ID>{number}</cbc:ID><cbc:IssueDate>{issue_date}</cbc:IssueDate>
 <cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode><cbc:DocumentCurrencyCode>EUR</cbc:DocumentCurrencyCode>
 {order}
 <cac:AccountingSupplierParty><cac:Party>
  <cac:PartyTaxScheme><cbc:CompanyID>{vat}</cbc:CompanyID><cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>
  <cac:PartyLegalEntity><cbc:RegistrationName>{seller}</cbc:RegistrationName></cac:PartyLegalEntity>
 </cac:Party></cac:AccountingSupplierParty>
 <cac:TaxTotal><cbc:TaxAmount currencyID="EUR">{tax}</cbc:TaxAmount></cac:TaxTotal>
 <cac:LegalMonetaryTotal>
  <cbc:LineExtensionAmount currencyID="EUR">{net}</cbc:LineExtensionAmount>
  <cbc:TaxExclusiveAmount currencyID="EUR">{net}</cbc:TaxExclusiveAmount>
  <cbc:TaxInclusiveAmount currencyID="EUR">{net + tax}</cbc:TaxInclusiveAmount>
  <cbc:PayableAmount currencyID="EUR">{net + tax}</cbc:PayableAmount>
 </cac:LegalMonetaryTotal>
 {line_xml}
</Invoice>""".encode()


# --- one document ------------------------------------------------------------------------------


def test_base_example_is_captured_with_the_documents_values(people):
    vendor = vendor_with("SupplierOfficialName Ltd", "GB1232434")
    invoice = import_document(
        data=example(BASE_EXAMPLE), filename="base-example.xml", by=people["ap_clerk"]
    )
    assert invoice.vendor == vendor
    assert (invoice.number, invoice.document_type, invoice.source) == ("Snippet1", "invoice", "ubl")
    assert (invoice.invoice_date, invoice.due_date) == (dt.date(2017, 11, 13), dt.date(2017, 12, 1))
    assert invoice.currency == "EUR"
    assert invoice.net_amount == Decimal("1325.00")
    assert invoice.tax_amount == Decimal("331.25")
    assert invoice.total_amount == Decimal("1656.25")
    assert invoice.payable_amount == Decimal("1656.25")
    assert invoice.prepaid_amount == 0
    # "Payment within 10 days, 2% discount" is machine-readable enough to use.
    assert invoice.discount_date == dt.date(2017, 11, 23)
    assert invoice.discount_amount == Decimal("33.13")
    assert (invoice.seller_name, invoice.seller_tax_id) == ("SupplierOfficialName Ltd", "GB1232434")
    assert invoice.payment_terms_text == "Payment within 10 days, 2% discount"
    assert invoice.source_file == "base-example.xml"
    assert invoice.purchase_order is None and invoice.po_reference == ""
    assert invoice.captured_by == people["ap_clerk"]
    lines = [
        (
            line.line_no,
            line.description,
            line.quantity,
            line.unit_price,
            line.amount,
            line.unit_code,
            line.order_line_reference,
            line.tax_rate,
        )
        for line in invoice.lines.all()
    ]
    assert lines == [
        (1, "item name", 7, 400, Decimal("2800.00"), "DAY", "123", 25),
        (2, "item name 2", -3, 500, Decimal("-1500.00"), "DAY", "123", 25),
        (3, "Charge: Insurance", 1, 25, Decimal("25.00"), "", "", 25),
    ]
    assert AuditEvent.objects.filter(
        object_type="payables.invoice", object_id=invoice.pk, action="created"
    ).exists()


def test_vendor_found_by_tax_id_whatever_the_spacing_and_case(people):
    vendor = vendor_with("Supplier (as AP knows it)", "gb 123-2434")
    assert import_document(data=example(BASE_EXAMPLE), filename="a.xml", by=None).vendor == vendor


def test_vendor_found_by_endpoint_id(people):
    vendor = vendor_with("Supplier by Peppol id", "9482348239847239874")
    assert import_document(data=example(BASE_EXAMPLE), filename="a.xml", by=None).vendor == vendor


def test_vendor_found_by_exact_name_ignoring_case(people):
    vendor = vendor_with("supplierofficialname ltd", "")
    assert import_document(data=example(BASE_EXAMPLE), filename="a.xml", by=None).vendor == vendor


def test_unknown_vendor_is_named_and_nothing_is_written(people):
    factories.make_vendor("Somebody Else B.V.")
    with pytest.raises(DomainError) as caught:
        import_document(data=example(BASE_EXAMPLE), filename="a.xml", by=people["ap_clerk"])
    assert caught.value.message == (
        "Unknown vendor: SupplierOfficialName Ltd (VAT GB1232434) — add the vendor first."
    )
    assert not Invoice.objects.exists()


def test_ubl_invoice_on_a_po_matches_touchless(
    people, setup_org, django_capture_on_commit_callbacks
):
    vendor = vendor_with("Office Depot B.V.", "NL004495445B01")
    po = issued_po(people, setup_org, vendor=vendor)
    receive(po, people, {1: "40"})
    data = ubl_invoice("OD-2026-118", po.number.lower(), [("A4 copy paper", "40", "23.50", "1")])
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        invoice = import_document(data=data, filename="od-118.xml", by=people["ap_clerk"])
    assert len(callbacks) == 1
    invoice.refresh_from_db()
    assert invoice.purchase_order == po
    assert invoice.lines.get().po_line == po.lines.get(line_no=1)
    assert invoice.status == Invoice.Status.APPROVED and invoice.touchless


def test_lines_map_by_position_when_the_po_has_as_many_lines(people, setup_org):
    vendor = vendor_with("Office Depot B.V.", "NL004495445B01")
    po = issued_po(
        people, setup_org, vendor=vendor, lines=(("Paper", "40", "23.50"), ("Toner", "2", "89.00"))
    )
    data = ubl_invoice(
        "OD-2026-119", po.number, [("Paper", "40", "23.50", ""), ("Toner", "2", "89.00", "")]
    )
    invoice = import_document(data=data, filename="x.xml", by=None)
    assert [line.po_line.line_no for line in invoice.lines.all()] == [1, 2]


def test_lines_map_by_order_line_reference_and_unknown_ones_stay_unmapped(people, setup_org):
    vendor = vendor_with("Office Depot B.V.", "NL004495445B01")
    po = issued_po(
        people, setup_org, vendor=vendor, lines=(("Paper", "40", "23.50"), ("Toner", "2", "89.00"))
    )
    data = ubl_invoice(
        "OD-2026-120", po.number, [("Toner", "2", "89.00", "2"), ("Stapler", "1", "9.00", "7")]
    )
    invoice = import_document(data=data, filename="x.xml", by=None)
    assert [line.po_line_id for line in invoice.lines.all()] == [po.lines.get(line_no=2).pk, None]
    assert [line.order_line_reference for line in invoice.lines.all()] == ["2", "7"]


def test_placeholder_reference_is_never_matched_to_a_po(people):
    vendor = vendor_with("SupplierOfficialName Ltd", "GB1232434")
    PurchaseOrder.objects.create(
        number="NA", vendor=vendor, buyer=people["buyer"], payment_terms=factories.net30()
    )
    invoice = import_document(
        data=example("peppol/examples/sales-order-example.xml"), filename="x.xml", by=None
    )
    assert invoice.purchase_order is None
    assert invoice.po_reference == "NA"


def test_unknown_po_reference_is_captured_without_po_and_raises_no_po(
    people, setup_org, django_capture_on_commit_callbacks
):
    vendor_with("Office Depot B.V.", "NL004495445B01")
    data = ubl_invoice("OD-2026-121", "PO-999999", [("Paper", "40", "23.50", "1")])
    with django_capture_on_commit_callbacks(execute=True):
        invoice = import_document(data=data, filename="x.xml", by=None)
    invoice.refresh_from_db()
    assert invoice.purchase_order is None and invoice.po_reference == "PO-999999"
    assert invoice.status == Invoice.Status.EXCEPTION
    header = invoice.exceptions.get(invoice_line=None)
    assert header.type == InvoiceException.Type.NO_PO
    assert "PO-999999" in header.detail


def test_credit_note_is_stored_with_positive_amounts(people):
    vendor = vendor_with("My Supplier Company", "BE0000000196")
    invoice = import_document(
        data=example("en16931/ubl/examples/ubl-tc434-creditnote1.xml"), filename="cn.xml", by=None
    )
    assert invoice.document_type == Invoice.DocumentType.CREDIT_NOTE
    assert (invoice.number, invoice.total_amount, invoice.payable_amount) == (
        "018304 / 28865",
        Decimal("100.11"),
        Decimal("100.11"),
    )
    # No due date on the document: the vendor's terms (Net 30) decide.
    assert invoice.due_date == dt.date(2019, 10, 23)
    assert invoice.vendor == vendor


def test_negative_invoice_is_stored_as_a_credit_note(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    invoice = import_document(
        data=example("peppol/examples/base-negative-inv-correction.xml"),
        filename="neg.xml",
        by=None,
    )
    assert invoice.document_type == Invoice.DocumentType.CREDIT_NOTE
    assert invoice.number == "Correction1"
    assert (
        invoice.net_amount,
        invoice.tax_amount,
        invoice.total_amount,
        invoice.payable_amount,
    ) == (
        Decimal("1325.00"),
        Decimal("331.25"),
        Decimal("1656.25"),
        Decimal("1656.25"),
    )
    assert [(line.quantity, line.amount) for line in invoice.lines.all()] == [
        (7, Decimal("2800.00")),
        (-3, Decimal("-1500.00")),
        (1, Decimal("25.00")),
    ]


def test_a_credit_note_and_an_invoice_with_the_same_number_are_both_kept(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    invoice = import_document(data=example(BASE_EXAMPLE), filename="inv.xml", by=None)
    credit = import_document(
        data=example("peppol/examples/base-creditnote-correction.xml"), filename="cn.xml", by=None
    )
    assert (invoice.number, credit.number) == ("Snippet1", "Snippet1")
    assert credit.document_type == "credit_note"


def test_prepaid_and_rounding_make_the_payable(people):
    vendor_with("The Sellercompany ASA", "NO123456785MVA", currency="NOK")
    invoice = import_document(
        data=example("peppol/national-examples/NO/Norwegian-example-1.xml"),
        filename="no.xml",
        by=None,
    )
    assert invoice.currency == "NOK"
    assert invoice.net_amount == Decimal("1436.50")
    assert invoice.total_amount == Decimal("1801.78")
    assert invoice.prepaid_amount == Decimal("1000.00")
    assert invoice.payable_amount == Decimal("802.00")
    assert invoice.po_reference == "123"
    # Five item lines plus the document's allowance and charge, so net = Σ lines.
    assert invoice.lines.count() == 7
    assert sum(line.amount for line in invoice.lines.all()) == invoice.net_amount


def test_tax_in_document_currency_and_tax_currency_kept(people):
    vendor_with("SellerCompany", "NL16356706", currency="DKK")
    invoice = import_document(
        data=example("en16931/cii/examples/CII_example5.xml"), filename="cii5.xml", by=None
    )
    assert invoice.source == Invoice.Source.CII
    assert (invoice.currency, invoice.tax_currency) == ("DKK", "EUR")
    assert invoice.tax_amount == Decimal("675.00")
    assert (invoice.total_amount, invoice.prepaid_amount, invoice.payable_amount) == (
        Decimal("4675.00"),
        Decimal("2337.50"),
        Decimal("2337.50"),
    )
    assert invoice.po_reference == "PO4711" and invoice.purchase_order is None


def test_facturx_pdf_is_captured_as_facturx(people):
    from tests.payables.test_einvoice import facturx_pdf

    vendor_with("De Koksmaat", "NL8200.98.395.B.01")
    pdf = facturx_pdf(example("en16931/cii/examples/CII_example1.xml"))
    invoice = import_document(data=pdf, filename="koksmaat.pdf", by=None)
    assert invoice.source == Invoice.Source.FACTURX
    assert (invoice.number, invoice.payable_amount) == ("12115118", Decimal("250.33"))


def test_overlong_invoice_number_is_refused(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    data = example(BASE_EXAMPLE).replace(
        b"<cbc:ID>Snippet1</cbc:ID>", b"<cbc:ID>" + b"9" * 70 + b"</cbc:ID>", 1
    )
    with pytest.raises(DomainError, match="too long to be real"):
        import_document(data=data, filename="x.xml", by=None)


# --- duplicates --------------------------------------------------------------------------------


def test_byte_identical_file_in_a_batch_is_refused(people):
    vendor_with("Salescompany ltd.", "NO123456789MVA", currency="NOK")
    first = "en16931/cii/examples/CII_business_example_01.xml"
    second = "en16931/cii/examples/CII_example2.xml"
    report = import_files([(first, example(first)), (second, example(second))], by=None)
    assert [result.ok for result in report.results] == [True, False]
    assert report.results[1].error == (
        f"Duplicate: the same file as {first} (identical content, invoice TOSL108); refused."
    )
    assert Invoice.objects.count() == 1


def test_same_vendor_and_number_in_another_file_is_refused(people):
    vendor_with("De Koksmaat", "NL8200.98.395.B.01")
    import_document(
        data=example("en16931/ubl/examples/guide-example1.xml"), filename="a.xml", by=None
    )
    with pytest.raises(
        DomainError, match=r"De Koksmaat invoice 12115118 was already captured as 12115118"
    ):
        import_document(
            data=example("en16931/cii/examples/CII_example1.xml"), filename="b.xml", by=None
        )
    assert Invoice.objects.count() == 1


# --- hostile files and batches -----------------------------------------------------------------


@pytest.mark.parametrize(
    "fixture",
    [
        "xxe.xml",
        "billion_laughs.xml",
        "external_dtd.xml",
        "parameter_entity.xml",
        "not_xml.xml",
        "order.xml",
        "truncated.xml",
    ],
)
def test_hostile_file_writes_nothing(people, fixture):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    events = AuditEvent.objects.count()
    with pytest.raises(DomainError):
        import_document(
            data=(HOSTILE / fixture).read_bytes(), filename=fixture, by=people["ap_clerk"]
        )
    assert not Invoice.objects.exists()
    assert AuditEvent.objects.count() == events


def test_oversize_file_writes_nothing(people):
    with pytest.raises(DomainError, match="above 20 MB are refused"):
        import_document(data=oversize_invoice(), filename="huge.xml", by=None)
    assert not Invoice.objects.exists()


def test_each_file_is_its_own_transaction(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    report = import_files(
        [
            ("base-example.xml", example(BASE_EXAMPLE)),
            ("xxe.xml", (HOSTILE / "xxe.xml").read_bytes()),
            ("koksmaat.xml", example("en16931/ubl/examples/guide-example1.xml")),
        ],
        by=people["ap_clerk"],
    )
    assert [(r.file, r.ok, r.error) for r in report.results] == [
        ("base-example.xml", True, None),
        ("xxe.xml", False, DTD_REFUSED),
        (
            "koksmaat.xml",
            False,
            "Unknown vendor: De Koksmaat (VAT NL8200.98.395.B.01) — add the vendor first.",
        ),
    ]
    assert list(Invoice.objects.values_list("number", flat=True)) == ["Snippet1"]


def test_progress_is_reported_after_every_file(people):
    calls = []
    files = [(name, example(name)) for name in EXAMPLES[:3]]
    import_files(
        files, by=None, dry_run=True, progress=lambda done, total: calls.append((done, total))
    )
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_a_batch_hands_the_engine_one_match_task(people, django_capture_on_commit_callbacks):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    vendor_with("De Koksmaat", "NL8200.98.395.B.01")
    files = [
        (name, example(name)) for name in (BASE_EXAMPLE, "en16931/ubl/examples/guide-example1.xml")
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        report = import_files(files, by=None)
    assert len(report.imported) == 2
    assert len(callbacks) == 1


def test_every_valid_example_imports_or_is_refused_as_a_duplicate(people):
    parsed = {name: parse_document(example(name), name) for name in EXAMPLES}
    for document in parsed.values():
        if not Vendor.objects.filter(tax_id=document.seller_tax_id).exists():
            vendor_with(document.seller_name, document.seller_tax_id, currency=document.currency)
    report = import_files([(name, example(name)) for name in EXAMPLES], by=None)
    by_file = {result.file: result for result in report.results}
    assert set(by_file) == set(EXAMPLES)
    expected_keys = set()
    for name, result in by_file.items():
        document = parsed[name]
        stored_type = document.document_type
        if document.tax_inclusive_amount < 0:
            stored_type = "credit_note" if stored_type == "invoice" else "invoice"
        key = (document.seller_tax_id, document.number, stored_type)
        if key in expected_keys:
            assert not result.ok, name
            assert "already captured" in result.error or "identical content" in result.error, name
            continue
        expected_keys.add(key)
        assert result.ok, f"{name}: {result.error}"
        invoice = result.invoice
        features = FEATURES[name]
        assert invoice.document_type == stored_type
        assert invoice.payable_amount == abs(Decimal(features["payable"])), name
        assert invoice.currency == features["doc_ccy"]
        assert invoice.number == document.number
        assert invoice.lines.filter(description__regex=r"^(Allowance|Charge)").count() == len(
            document.allowances_charges
        )
        assert invoice.lines.count() == int(features["lines"]) + len(document.allowances_charges)
        assert sum(line.amount for line in invoice.lines.all()) == invoice.net_amount
    assert not by_file["en16931/cii/examples/CII_example2.xml"].ok
    assert Invoice.objects.count() == len(expected_keys)


# --- the command line --------------------------------------------------------------------------


def run_command(*args: str) -> tuple[list[str], CommandError | None]:
    out = io.StringIO()
    try:
        call_command("import_invoices", *args, stdout=out, stderr=io.StringIO())
        error = None
    except CommandError as exc:
        error = exc
    return out.getvalue().splitlines(), error


def test_dry_run_json_prints_one_object_per_file_and_writes_nothing(people):
    events = AuditEvent.objects.count()
    paths = [str(EINVOICE_DATA / name) for name in EXAMPLES]
    lines, error = run_command(*paths, "--dry-run", "--json")
    objects = [json.loads(line) for line in lines]
    assert len(objects) == len(EXAMPLES)
    assert all(list(obj) == JSON_KEYS for obj in objects)
    rejected = [Path(obj["file"]).name for obj in objects if not obj["ok"]]
    assert rejected == ["CII_example2.xml"]
    assert error is not None and error.returncode == 1
    for obj, name in zip(objects, EXAMPLES, strict=True):
        assert obj["file"] == str(EINVOICE_DATA / name)
        assert Decimal(obj["payable_amount"]) == Decimal(FEATURES[name]["payable"])
        assert obj["line_count"] == int(FEATURES[name]["lines"])
    assert not Invoice.objects.exists()
    assert AuditEvent.objects.count() == events


def test_dry_run_json_object_for_one_file(people):
    path = str(EINVOICE_DATA / BASE_EXAMPLE)
    lines, error = run_command(path, "--dry-run", "--json")
    assert error is None
    assert json.loads(lines[0]) == {
        "file": path,
        "ok": True,
        "error": None,
        "document_type": "invoice",
        "number": "Snippet1",
        "issue_date": "2017-11-13",
        "due_date": "2017-12-01",
        "currency": "EUR",
        "seller_name": "SupplierOfficialName Ltd",
        "seller_tax_id": "GB1232434",
        "order_reference": None,
        "line_count": 2,
        "line_net_total": "1300.00",
        "tax_total": "331.25",
        "payable_amount": "1656.25",
    }


def test_dry_run_json_reports_a_credit_note_and_a_po_reference(people):
    lines, _ = run_command(
        str(EINVOICE_DATA / "en16931/ubl/examples/ubl-tc434-creditnote1.xml"),
        str(EINVOICE_DATA / "en16931/cii/examples/CII_example5.xml"),
        "--dry-run",
        "--json",
    )
    credit, cii = (json.loads(line) for line in lines)
    assert (credit["document_type"], credit["due_date"]) == ("credit_note", None)
    assert (cii["order_reference"], cii["tax_total"], cii["payable_amount"]) == (
        "PO4711",
        "675.00",
        "2337.50",
    )


def test_command_imports_for_the_named_clerk(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    lines, error = run_command(str(EINVOICE_DATA / BASE_EXAMPLE), "--user", "carla")
    assert error is None
    invoice = Invoice.objects.get()
    assert invoice.captured_by == people["ap_clerk"]
    assert lines == [
        f"OK {EINVOICE_DATA / BASE_EXAMPLE}: imported invoice Snippet1 from SupplierOfficialName Ltd, "
        f"1656.25 EUR payable as #{invoice.pk}",
        "1 imported, 0 rejected.",
    ]


def test_command_rejects_hostile_files_imports_the_rest_and_exits_1(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    lines, error = run_command(
        str(EINVOICE_DATA / BASE_EXAMPLE), str(HOSTILE / "billion_laughs.xml")
    )
    assert error is not None and error.returncode == 1
    assert lines[1] == f"REJECTED {HOSTILE / 'billion_laughs.xml'}: {DTD_REFUSED}"
    assert lines[-1] == "1 imported, 1 rejected."
    assert Invoice.objects.count() == 1


def test_command_refuses_an_oversize_file_without_reading_it(people, tmp_path):
    huge = tmp_path / "huge.xml"
    huge.write_bytes(oversize_invoice())
    lines, error = run_command(str(huge), "--dry-run", "--json")
    assert error is not None
    result = json.loads(lines[0])
    assert (result["ok"], result["error"]) == (
        False,
        "The file is 20.0 MB; files above 20 MB are refused.",
    )


def test_command_reads_a_directory(people):
    lines, error = run_command(str(HOSTILE), "--dry-run", "--json")
    assert error is not None
    assert sorted(Path(json.loads(line)["file"]).name for line in lines) == sorted(
        path.name for path in HOSTILE.glob("*.xml")
    )


def test_command_refuses_an_unknown_user(people):
    _, error = run_command(str(EINVOICE_DATA / BASE_EXAMPLE), "--user", "nobody")
    assert error is not None and "No user named nobody" in str(error)


def test_command_refuses_a_user_who_is_not_in_ap(people):
    vendor_with("SupplierOfficialName Ltd", "GB1232434")
    lines, error = run_command(str(EINVOICE_DATA / BASE_EXAMPLE), "--user", "rita")
    assert str(error) == "rita may not capture invoices (needs ap_clerk or ap_manager)."
    assert lines == []
    assert not Invoice.objects.exists()


def test_import_refuses_a_user_who_is_not_in_ap(people):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        import_files([("a.xml", example(BASE_EXAMPLE))], by=people["requester"], dry_run=True)
