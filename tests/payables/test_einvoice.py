"""Reading e-invoices: every public example, exact values for a handful, hostile files refused."""

import csv
import datetime as dt
import io
import os
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfWriter

from payables.einvoice import EInvoiceError, parse_document
from payables.einvoice.common import (
    DTD_REFUSED,
    MAX_DOCUMENT_BYTES,
    DiscountTerms,
    clean_order_reference,
    discount_from_terms,
    due_date_from_terms,
)

EINVOICE_DATA = Path(
    os.environ.get("EINVOICE_DATA", settings.BASE_DIR / "tests" / "fixtures" / "einvoice")
)
HOSTILE = Path(__file__).resolve().parent.parent / "fixtures" / "hostile"
EXAMPLES = sorted(
    path.relative_to(EINVOICE_DATA).as_posix()
    for path in EINVOICE_DATA.rglob("*")
    if path.suffix.lower() == ".xml"
)
FEATURES = (
    {
        row["file"]: row
        for row in csv.DictReader((EINVOICE_DATA / "FEATURES.csv").open(encoding="utf-8"))
    }
    if EINVOICE_DATA.exists()
    else {}
)
PLACEHOLDERS = {"", "na", "n/a", "-"}

pytestmark = pytest.mark.skipif(
    not EXAMPLES, reason=f"e-invoice examples not found in {EINVOICE_DATA}"
)


def example(name: str) -> bytes:
    return (EINVOICE_DATA / name).read_bytes()


def parse_example(name: str):
    return parse_document(example(name), Path(name).name)


def test_every_example_is_listed_in_features():
    assert len(EXAMPLES) == 46
    assert set(EXAMPLES) == set(FEATURES)


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_parses_as_features_describe(name):
    features = FEATURES[name]
    parsed = parse_example(name)
    assert parsed.syntax == features["syntax"].lower()
    expected_type = "credit_note" if features["type"] == "381" else "invoice"
    assert parsed.document_type == expected_type
    assert parsed.type_code == features["type"]
    assert parsed.currency == features["doc_ccy"]
    if features["tax_ccy"]:
        assert parsed.tax_currency == features["tax_ccy"]
    has_po = features["po_ref"].strip().lower() not in PLACEHOLDERS
    assert bool(parsed.order_reference) == has_po
    if has_po:
        assert parsed.order_reference == features["po_ref"]
    assert parsed.payable_amount == Decimal(features["payable"])
    assert len(parsed.lines) == int(features["lines"])
    if features["due_date"]:
        assert parsed.due_date == dt.date.fromisoformat(features["due_date"])
    if features["prepaid"]:
        assert parsed.prepaid_amount == Decimal(features["prepaid"])
    if features["rounding"]:
        assert parsed.rounding_amount == Decimal(features["rounding"])
    # The document's own arithmetic holds on what we read (EN 16931 BR-CO-13/15/16).
    assert parsed.tax_exclusive_amount == (
        parsed.line_net_total - parsed.allowance_total + parsed.charge_total
    )
    assert parsed.tax_inclusive_amount == parsed.tax_exclusive_amount + parsed.tax_total
    assert parsed.payable_amount == (
        parsed.tax_inclusive_amount - parsed.prepaid_amount + parsed.rounding_amount
    )
    assert parsed.number and parsed.seller_name and parsed.seller_tax_id


def test_peppol_base_example_exact_values():
    parsed = parse_example("peppol/examples/base-example.xml")
    assert parsed.syntax == "ubl"
    assert parsed.number == "Snippet1"
    assert parsed.issue_date == dt.date(2017, 11, 13)
    assert parsed.due_date == dt.date(2017, 12, 1)
    assert parsed.currency == "EUR"
    assert parsed.seller_name == "SupplierOfficialName Ltd"
    assert parsed.seller_trading_name == "SupplierTradingName Ltd."
    assert parsed.seller_tax_id == "GB1232434"
    assert parsed.seller_endpoint_id == "9482348239847239874"
    assert parsed.buyer_name == "Buyer Official Name"
    assert parsed.order_reference == ""
    assert parsed.payment_terms_text == "Payment within 10 days, 2% discount"
    assert parsed.discount == DiscountTerms(percent=Decimal("2"), days=10)
    first, second = parsed.lines
    assert (first.line_id, first.description, first.quantity, first.unit_code) == (
        "1",
        "item name",
        7,
        "DAY",
    )
    assert (first.unit_price, first.net_amount, first.tax_rate) == (400, 2800, Decimal("25.0"))
    assert first.order_line_reference == "123"
    assert (second.quantity, second.unit_price, second.net_amount) == (-3, 500, -1500)
    (charge,) = parsed.allowances_charges
    assert (charge.is_charge, charge.amount, charge.reason) == (True, 25, "Insurance")
    assert parsed.line_net_total == Decimal("1300")
    assert parsed.charge_total == Decimal("25")
    assert parsed.tax_exclusive_amount == Decimal("1325")
    assert parsed.tax_total == Decimal("331.25")
    assert parsed.tax_inclusive_amount == Decimal("1656.25")
    assert parsed.payable_amount == Decimal("1656.25")


def test_cii_example5_takes_tax_in_document_currency_and_prepayment():
    parsed = parse_example("en16931/cii/examples/CII_example5.xml")
    assert parsed.syntax == "cii"
    assert (parsed.number, parsed.issue_date, parsed.due_date) == (
        "TOSL110",
        dt.date(2013, 4, 10),
        dt.date(2013, 5, 10),
    )
    assert (parsed.currency, parsed.tax_currency) == ("DKK", "EUR")
    assert parsed.seller_name == "SellerCompany"
    assert parsed.seller_tax_id == "NL16356706"
    assert parsed.buyer_name == "Buyercompany ltd"
    assert parsed.order_reference == "PO4711"
    assert parsed.payment_terms_text == "50% prepaid, 50% within one month"
    assert [line.order_line_reference for line in parsed.lines] == ["1", "2", ""]
    assert [line.description for line in parsed.lines] == [
        "Printing paper",
        "Parker Pen",
        "American Cookies",
    ]
    assert [(line.quantity, line.unit_price, line.net_amount) for line in parsed.lines] == [
        (1000, 1, 1000),
        (100, 5, 500),
        (500, 5, 2500),
    ]
    assert [line.tax_rate for line in parsed.lines] == [25, 25, 12]
    assert (parsed.allowance_total, parsed.charge_total) == (150, 150)
    assert parsed.tax_total == Decimal("675.00")  # not the 628.62 EUR stated for the tax authority
    assert parsed.tax_inclusive_amount == Decimal("4675")
    assert parsed.prepaid_amount == Decimal("2337.5")
    assert parsed.payable_amount == Decimal("2337.5")


def test_ubl_tax_total_in_a_second_currency_is_ignored():
    parsed = parse_example("en16931/ubl/examples/ubl-tc434-example10.xml")
    assert (parsed.currency, parsed.tax_currency) == ("EUR", "SEK")
    assert parsed.tax_total == Decimal("20.73")  # the file also states 2000.73 SEK


def test_ubl_credit_note_exact_values():
    parsed = parse_example("en16931/ubl/examples/ubl-tc434-creditnote1.xml")
    assert parsed.document_type == "credit_note"
    assert parsed.type_code == "381"
    assert parsed.number == "018304 / 28865"
    assert parsed.issue_date == dt.date(2019, 9, 23)
    assert parsed.due_date is None
    assert parsed.seller_name == "My Supplier Company"
    assert parsed.seller_tax_id == "BE0000000196"
    (line,) = parsed.lines
    assert (line.quantity, line.unit_price, line.net_amount) == (
        1,
        Decimal("100.11"),
        Decimal("100.11"),
    )
    assert line.description == "Exonération du versement du PP"
    assert parsed.payable_amount == Decimal("100.11")


def test_cii_without_currency_ids_and_due_date_from_terms():
    parsed = parse_example("en16931/cii/examples/CII_example7.xml")
    assert parsed.number == "INVOICE_test_7"
    assert parsed.issue_date == dt.date(2013, 5, 13)
    # No explicit due date: "Payment within 30 days" from the issue date.
    assert parsed.due_date == dt.date(2013, 6, 12)
    assert parsed.currency == "SEK"
    assert parsed.seller_name == "The Sellercompany Incorporated"
    assert parsed.seller_tax_id == "5532331183"  # no VAT id: the seller's other identifier
    assert parsed.order_reference == "Order_9988_x"
    assert [line.description for line in parsed.lines] == ["Road tax", "Road Register fee"]
    assert parsed.line_net_total == Decimal("3200")
    assert parsed.tax_total == 0
    assert parsed.payable_amount == Decimal("3200")


def test_huf_invoice_and_price_per_base_quantity():
    parsed = parse_example("en16931/cii/examples/huf_example_cii.xml")
    assert (parsed.number, parsed.currency) == ("21/001003559/996", "HUF")
    assert (parsed.issue_date, parsed.due_date) == (dt.date(2021, 10, 5), dt.date(2021, 11, 1))
    assert parsed.seller_name == "DKV Euro Service GmbH + Co. KG"
    assert parsed.seller_tax_id == "HU30048650"
    first = parsed.lines[0]
    # 36109.00 per 100 litres.
    assert (first.quantity, first.unit_code, first.unit_price) == (64, "LTR", Decimal("361.09"))
    assert parsed.tax_total == Decimal("18679.00")
    assert parsed.payable_amount == Decimal("87859.00")


def test_ubl_base_quantity_gives_the_unit_price():
    parsed = parse_example("peppol/examples/Allowance-example.xml")
    assert parsed.lines[1].unit_price == Decimal("100")  # 200 per 2 units
    assert parsed.lines[1].net_amount == Decimal("1000")
    assert [(a.is_charge, a.amount, a.reason) for a in parsed.allowances_charges] == [
        (True, 200, "Cleaning"),
        (False, 200, "Discount"),
    ]
    assert (parsed.prepaid_amount, parsed.payable_amount) == (1000, Decimal("6125.00"))


def test_rounding_amount_is_part_of_the_payable():
    parsed = parse_example("peppol/national-examples/NO/Norwegian-example-1.xml")
    assert parsed.seller_name == "The Sellercompany ASA"
    assert parsed.seller_tax_id == "NO123456785MVA"
    assert parsed.tax_inclusive_amount == Decimal("1801.78")
    assert parsed.prepaid_amount == Decimal("1000")
    assert parsed.rounding_amount == Decimal("0.22")
    assert parsed.payable_amount == Decimal("802.00")


def test_negative_invoice_keeps_its_sign_when_parsed():
    parsed = parse_example("en16931/ubl/examples/BIS3_Invoice_negativ.XML")
    assert parsed.document_type == "invoice"
    assert parsed.order_reference == "" and parsed.order_reference_text == "n/a"
    assert parsed.tax_total == Decimal("-156435.89")
    assert parsed.payable_amount == Decimal("-782179.43")


def test_placeholder_order_reference_is_no_reference():
    parsed = parse_example("peppol/examples/sales-order-example.xml")
    assert parsed.order_reference == ""
    assert parsed.order_reference_text == "NA"


def test_greek_examples_that_fail_the_xsd_are_still_read():
    parsed = parse_example("peppol/national-examples/GR/GR-base-example-correct.xml")
    assert parsed.number == "061828591|01/10/2020|0|1.1|0|1"
    assert parsed.seller_tax_id == "EL0618285912"
    assert parsed.payable_amount == Decimal("1656.25")


def test_large_example_with_embedded_attachment_is_read():
    parsed = parse_example(
        "en16931/ubl/examples/FT G2G_TD01 con Allegato, Bonifico e Split Payment.xml"
    )
    assert parsed.number == "1316/85"
    assert parsed.seller_tax_id == "IT01598570354"
    assert parsed.prepaid_amount == Decimal("274.12")
    assert parsed.payable_amount == Decimal("1246.00")


def test_duplicate_examples_parse_identically():
    first = parse_example("en16931/cii/examples/CII_example2.xml")
    second = parse_example("en16931/cii/examples/CII_business_example_01.xml")
    assert first == second


# --- Factur-X / ZUGFeRD -----------------------------------------------------------------------


def facturx_pdf(xml: bytes, attachment_name: str = "factur-x.xml") -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.add_attachment(attachment_name, xml)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "attachment_name", ["factur-x.xml", "ZUGFeRD-invoice.xml", "xrechnung.xml"]
)
def test_facturx_pdf_yields_its_embedded_cii(attachment_name):
    xml = example("en16931/cii/examples/CII_example1.xml")
    parsed = parse_document(facturx_pdf(xml, attachment_name), "invoice.pdf")
    assert parsed.syntax == "facturx"
    plain = parse_document(xml, "CII_example1.xml")
    assert (parsed.number, parsed.payable_amount, len(parsed.lines)) == (
        plain.number,
        plain.payable_amount,
        len(plain.lines),
    )
    assert parsed.number == "12115118" and parsed.payable_amount == Decimal("250.33")


def test_pdf_without_invoice_xml_is_refused():
    with pytest.raises(EInvoiceError, match="carries no Factur-X/ZUGFeRD invoice.*notes.txt"):
        parse_document(facturx_pdf(b"just notes", "notes.txt"), "scan.pdf")


def test_broken_pdf_is_refused():
    with pytest.raises(EInvoiceError, match="The PDF could not be read"):
        parse_document(b"%PDF-1.7\n this is not really a pdf", "broken.pdf")


def test_facturx_pdf_carrying_hostile_xml_is_refused():
    pdf = facturx_pdf((HOSTILE / "xxe.xml").read_bytes())
    with pytest.raises(EInvoiceError) as caught:
        parse_document(pdf, "invoice.pdf")
    assert caught.value.message == DTD_REFUSED


# --- hostile and wrong files ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("xxe.xml", DTD_REFUSED),
        ("billion_laughs.xml", DTD_REFUSED),
        ("external_dtd.xml", DTD_REFUSED),
        ("parameter_entity.xml", DTD_REFUSED),
        (
            "not_xml.xml",
            "The file is not an e-invoice: expected UBL or CII XML, or a Factur-X/ZUGFeRD PDF.",
        ),
        (
            "order.xml",
            "Not a UBL or CII invoice: the file is a UBL Order, not an Invoice or CreditNote.",
        ),
        (
            "truncated.xml",
            "The file is not well-formed XML (line 6, column 0); ask the vendor to send it again.",
        ),
    ],
)
def test_hostile_or_wrong_file_is_refused_with_a_clear_reason(fixture, message):
    with pytest.raises(EInvoiceError) as caught:
        parse_document((HOSTILE / fixture).read_bytes(), fixture)
    assert caught.value.message == message


def test_xxe_never_reads_the_local_file():
    with pytest.raises(EInvoiceError) as caught:
        parse_document((HOSTILE / "xxe.xml").read_bytes(), "xxe.xml")
    assert "root:" not in caught.value.message


def oversize_invoice() -> bytes:
    """A real example padded past the limit with whitespace: well-formed, just too big."""
    xml = example("peppol/examples/base-example.xml")
    padding = b" " * (MAX_DOCUMENT_BYTES + 1 - len(xml))
    return xml.replace(b"</Invoice>", padding + b"</Invoice>")


def test_oversize_file_is_refused_before_parsing():
    data = oversize_invoice()
    assert len(data) > MAX_DOCUMENT_BYTES
    with pytest.raises(
        EInvoiceError, match=r"^The file is 20\.0 MB; e-invoices above 20 MB are refused\.$"
    ):
        parse_document(data, "huge.xml")


def test_empty_file_is_refused():
    with pytest.raises(EInvoiceError, match="The file is empty."):
        parse_document(b"  \n", "empty.xml")


def test_csv_is_not_an_e_invoice():
    with pytest.raises(EInvoiceError, match="import it as a CSV upload"):
        parse_document(b"vendor_tax_id,invoice_number\nNL1,1\n", "lines.csv")


def test_zugferd_1_is_named_and_refused():
    data = b'<rsm:CrossIndustryDocument xmlns:rsm="urn:ferd:CrossIndustryDocument:invoice:1p0"/>'
    with pytest.raises(EInvoiceError, match="ZUGFeRD 1.0"):
        parse_document(data, "old.xml")


def test_amount_in_a_foreign_currency_is_refused():
    data = example("peppol/examples/base-example.xml").replace(
        b'<cbc:PayableAmount currencyID="EUR">', b'<cbc:PayableAmount currencyID="USD">'
    )
    with pytest.raises(EInvoiceError, match="Payable amount is in USD but the invoice is in EUR"):
        parse_document(data, "x.xml")


def test_missing_number_and_lines_are_named():
    base = example("peppol/examples/base-example.xml")
    with pytest.raises(EInvoiceError, match=r"The invoice has no number \(cbc:ID\)"):
        parse_document(base.replace(b"<cbc:ID>Snippet1</cbc:ID>", b""), "x.xml")
    start, end = (
        base.index(b"<cac:InvoiceLine>"),
        base.rindex(b"</cac:InvoiceLine>") + len(b"</cac:InvoiceLine>"),
    )
    with pytest.raises(EInvoiceError, match="Invoice Snippet1 has no lines"):
        parse_document(base[:start] + base[end:], "x.xml")


def test_non_numeric_amount_is_named():
    data = example("peppol/examples/base-example.xml").replace(
        b">1656.25</cbc:PayableAmount>", b">12,50</cbc:PayableAmount>"
    )
    with pytest.raises(EInvoiceError, match="Payable amount '12,50' is not a number"):
        parse_document(data, "x.xml")


def test_absurd_amount_is_refused_before_it_reaches_the_database():
    data = example("peppol/examples/base-example.xml").replace(
        b">1656.25</cbc:PayableAmount>", b">1E+30</cbc:PayableAmount>"
    )
    with pytest.raises(EInvoiceError, match="Payable amount '1E\\+30' is too large to be real"):
        parse_document(data, "x.xml")


# --- payment terms and references -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Payment within 30 days", dt.date(2026, 2, 4)),
        ("30 dagar netto. Dröjsmålsränta:12 %", dt.date(2026, 2, 4)),
        ("Net 45", dt.date(2026, 2, 19)),
        ("Fällig nach Belegdatum + 10 Tage", dt.date(2026, 1, 15)),
        ("Zahlbar innerhalb von 14 Tagen", dt.date(2026, 1, 19)),
        ("01.11.2021 00:00:00", dt.date(2021, 11, 1)),
        ("2 % discount if paid within 2 days Penalty percentage 10% from due date", None),
        ("D.LGS. 231/2002 S.M.I", None),
        ("", None),
    ],
)
def test_due_date_from_payment_terms_text(text, expected):
    assert due_date_from_terms(text, dt.date(2026, 1, 5)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 % discount if paid within 2 days", DiscountTerms(Decimal("2"), 2)),
        ("Payment within 10 days, 2% discount", DiscountTerms(Decimal("2"), 10)),
        ("#SKONTO#TAGE=14#PROZENT=2.50#", DiscountTerms(Decimal("2.50"), 14)),
        ("Payment within 30 days", None),
    ],
)
def test_discount_terms_when_machine_readable(text, expected):
    assert discount_from_terms(text) == expected


@pytest.mark.parametrize("text", ["NA", "n/a", "N/A", "-", " ", "none"])
def test_placeholder_references_mean_no_po(text):
    assert clean_order_reference(text) == ""


def test_real_reference_is_kept():
    assert clean_order_reference(" PO-2026-0042 ") == "PO-2026-0042"
