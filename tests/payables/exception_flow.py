"""Exceptions made the way production makes them: POs, receipts, invoices and the real engine."""

import datetime as dt
from decimal import Decimal

from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.matching import run_matching
from tests import factories
from tests.flow import invoice, issued_po, receive

PO_PRICE = Decimal("23.50")


def price_variance(
    people, setup_org, *, number="INV-PV-1", price="24.95", qty="40", vendor=None, po=None
) -> InvoiceException:
    """A matched invoice priced above the PO: one price_variance owned by the PO's buyer."""
    if po is None:
        po = issued_po(people, setup_org, vendor=vendor)
        receive(po, people, {1: "40"})
    captured = invoice(po, people, number, {1: (qty, price)})
    run_matching([captured.pk])
    return captured.exceptions.get(type=InvoiceException.Type.PRICE_VARIANCE)


def big_po(people, setup_org, *, vendor=None, quantity="400"):
    """One PO with plenty received, so many invoices can bill it without quantity problems."""
    po = issued_po(
        people, setup_org, lines=(("A4 copy paper", quantity, str(PO_PRICE)),), vendor=vendor
    )
    receive(po, people, {1: quantity})
    return po


def many_price_variances(people, setup_org, count, *, po=None, start=0, price="30.00"):
    """`count` price variances on one PO; quantities differ so no two look like duplicates."""
    po = po or big_po(people, setup_org)
    ids = [
        invoice(po, people, f"INV-M-{n}", {1: (str(n + 1), price)}).pk
        for n in range(start, start + count)
    ]
    run_matching(ids)
    return list(
        InvoiceException.objects.filter(invoice_id__in=ids, type="price_variance").order_by("pk")
    )


def missing_receipt(people, setup_org, *, number="INV-MR-1", vendor=None) -> InvoiceException:
    """Billed 40, only 25 received: a missing_receipt routed to the requester."""
    po = issued_po(people, setup_org, vendor=vendor or factories.make_vendor("Papier B.V."))
    receive(po, people, {1: "25"})
    captured = invoice(po, people, number, {1: ("40", "23.50")})
    run_matching([captured.pk])
    return captured.exceptions.get(type=InvoiceException.Type.MISSING_RECEIPT)


def no_po_invoice(people, *, number="INV-NP-1", amount="180", vendor=None) -> InvoiceException:
    """An invoice that names no purchase order: a header-level no_po for AP."""
    captured = invoice_capture(
        by=people["ap_clerk"],
        vendor=vendor or factories.make_vendor("Catering B.V."),
        number=number,
        invoice_date=dt.date(2026, 11, 2),
        currency="EUR",
        lines=[InvoiceLineInput("Catering", Decimal("1"), Decimal(amount))],
    )
    run_matching([captured.pk])
    return captured.exceptions.get(type=InvoiceException.Type.NO_PO)


def unlinked_line(people, setup_org, *, number="INV-UL-1") -> InvoiceException:
    """An invoice on a PO whose line points at no PO line: a line-level no_po for AP."""
    po = issued_po(people, setup_org, vendor=factories.make_vendor("Kantoor B.V."))
    receive(po, people, {1: "40"})
    captured = invoice_capture(
        by=people["ap_clerk"],
        vendor=po.vendor,
        number=number,
        invoice_date=dt.date(2026, 11, 2),
        currency="EUR",
        lines=[InvoiceLineInput("Copy paper", Decimal("40"), PO_PRICE)],
        tax_amount=Decimal("197.40"),
        purchase_order=po,
    )
    run_matching([captured.pk])
    return captured.exceptions.get(type=InvoiceException.Type.NO_PO)


def credit_note(people, exception: InvoiceException, *, number="CN-1", amount="58.00") -> Invoice:
    """The vendor's credit note for the invoice's PO, captured by AP."""
    original = exception.invoice
    return invoice_capture(
        by=people["ap_clerk"],
        vendor=original.vendor,
        number=number,
        invoice_date=original.invoice_date,
        currency=original.currency,
        lines=[InvoiceLineInput("Price correction", Decimal("1"), Decimal(amount))],
        purchase_order=original.purchase_order,
        document_type=Invoice.DocumentType.CREDIT_NOTE,
        enqueue_match=False,
    )
