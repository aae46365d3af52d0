"""Factur-X / ZUGFeRD: a PDF for people with the CII invoice XML attached for machines."""

import io

from pypdf import PdfReader
from pypdf.errors import PyPdfError

from payables.einvoice.common import EInvoiceError, check_size

# The attachment names the Factur-X 1.0 / ZUGFeRD 1.0–2.x / XRechnung specifications fix.
INVOICE_ATTACHMENTS = ("factur-x.xml", "zugferd-invoice.xml", "xrechnung.xml")


def is_pdf(data: bytes) -> bool:
    # The header may be preceded by a little garbage; PDF readers tolerate up to 1 kB.
    return b"%PDF-" in data[:1024]


def extract_invoice_xml(data: bytes) -> bytes:
    """The embedded CII XML of a Factur-X / ZUGFeRD PDF; EInvoiceError when there is none."""
    check_size(data)
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            raise EInvoiceError(
                "The PDF is password-protected; ask the vendor for an unprotected copy."
            )
        attachments = {name.lower(): contents for name, contents in reader.attachments.items()}
    except PyPdfError as exc:
        raise EInvoiceError(f"The PDF could not be read ({exc}).") from None
    for name in INVOICE_ATTACHMENTS:
        for contents in attachments.get(name, []):
            check_size(contents)
            return contents
    found = ", ".join(sorted(attachments)) or "none"
    raise EInvoiceError(
        "The PDF carries no Factur-X/ZUGFeRD invoice (no factur-x.xml, zugferd-invoice.xml or "
        f"xrechnung.xml attached; attachments: {found}). Only e-invoice PDFs can be imported."
    )
