"""E-invoice reading: UBL 2.1 / Peppol BIS 3, UN/CEFACT CII and Factur-X PDFs, one entry point.

`parse_document(data, filename)` serves the command line, the browser upload and the API.
It never touches the database; `payables.services.importing` turns a ParsedInvoice into an Invoice.
"""

from xml.etree.ElementTree import Element

from payables.einvoice.cii import is_cii_invoice, parse_cii
from payables.einvoice.common import (
    CREDIT_NOTE,
    INVOICE,
    MAX_DOCUMENT_BYTES,
    AllowanceCharge,
    DiscountTerms,
    EInvoiceError,
    ParsedInvoice,
    ParsedLine,
    check_size,
    read_xml,
)
from payables.einvoice.facturx import extract_invoice_xml, is_pdf
from payables.einvoice.ubl import is_ubl_invoice, parse_ubl

__all__ = [
    "CREDIT_NOTE",
    "INVOICE",
    "MAX_DOCUMENT_BYTES",
    "AllowanceCharge",
    "DiscountTerms",
    "EInvoiceError",
    "ParsedInvoice",
    "ParsedLine",
    "parse_document",
    "parse_xml",
]

_UBL_PREFIX = "urn:oasis:names:specification:ubl:schema:xsd:"
_ZUGFERD_1 = "urn:ferd:CrossIndustryDocument:invoice:1p0"


def parse_document(data: bytes, filename: str = "") -> ParsedInvoice:
    """Read one e-invoice file (XML or Factur-X PDF); EInvoiceError says why when it cannot."""
    check_size(data)
    if not data.strip():
        raise EInvoiceError("The file is empty.")
    if is_pdf(data):
        parsed = parse_xml(extract_invoice_xml(data))
        if parsed.syntax == "cii":
            parsed.syntax = "facturx"
        return parsed
    if not _looks_like_xml(data):
        if filename.lower().endswith(".csv"):
            raise EInvoiceError("A CSV file holds many invoices; import it as a CSV upload.")
        raise EInvoiceError(
            "The file is not an e-invoice: expected UBL or CII XML, or a Factur-X/ZUGFeRD PDF."
        )
    return parse_xml(data)


def parse_xml(data: bytes) -> ParsedInvoice:
    """Read UBL or CII invoice XML, refusing DTDs, entities and other kinds of document."""
    root = read_xml(data)
    if is_ubl_invoice(root):
        return parse_ubl(root)
    if is_cii_invoice(root):
        return parse_cii(root)
    raise EInvoiceError(f"Not a UBL or CII invoice: the file is {_describe(root)}.")


def _looks_like_xml(data: bytes) -> bool:
    head = data[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True  # UTF-16 with a byte-order mark; the XML parser decodes it.
    return head.startswith(b"<")


def _describe(root: Element) -> str:
    namespace, _, name = (
        root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    )
    if namespace.startswith(_UBL_PREFIX):
        return f"a UBL {name}, not an Invoice or CreditNote"
    if namespace == _ZUGFERD_1:
        return "a ZUGFeRD 1.0 invoice, which predates EN 16931; ask for ZUGFeRD 2 / Factur-X"
    if "uncefact" in namespace:
        return f"a UN/CEFACT {name}, not a CrossIndustryInvoice"
    return f"an XML document of another kind (<{name}>)"
