"""Building blocks for tests that walk the purchase flow through the services."""

import datetime as dt
from decimal import Decimal

from payables.services.invoices import InvoiceLineInput, invoice_capture
from procurement.services.approvals import approval_decide
from procurement.services.orders import po_create_from_request, po_issue
from procurement.services.receipts import ReceiptLineInput, receipt_post
from procurement.services.requests import LineInput, request_create, request_submit
from tests import factories


def issued_po(
    people,
    setup_org,
    *,
    lines=(("A4 copy paper, box of 5 reams", "40", "23.50"),),
    category="goods",
    vendor=None,
    currency="EUR",
):
    """A request approved and ordered on an issued PO."""
    vendor = vendor or factories.make_vendor()
    request = request_create(
        by=people["requester"],
        title="Office supplies Q4",
        category=category,
        currency=currency,
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        lines=[LineInput(d, Decimal(q), Decimal(p)) for d, q, p in lines],
    )
    request_submit(request=request, by=people["requester"])
    step = request.approvals.get(status="pending")
    approval_decide(step=step, by=people["approver"], decision="approve")
    request.refresh_from_db()
    po = po_create_from_request(request=request, vendor=vendor, by=people["buyer"])
    return po_issue(po=po, by=people["buyer"])


def receive(po, people, quantities):
    """Post a receipt of the given quantities per PO line number."""
    by_no = {line.line_no: line for line in po.lines.all()}
    return receipt_post(
        po=po,
        by=people["requester"],
        lines=[ReceiptLineInput(by_no[no].pk, Decimal(q)) for no, q in quantities.items()],
    )


def invoice(
    po,
    people,
    number,
    quantities_prices,
    *,
    tax_rate=Decimal("21"),
    invoice_date=dt.date(2026, 11, 2),
):
    """Capture an invoice against the PO: {line_no: (qty, unit_price)}."""
    by_no = {line.line_no: line for line in po.lines.all()}
    lines = [
        InvoiceLineInput(by_no[no].description, Decimal(q), Decimal(p), po_line_id=by_no[no].pk)
        for no, (q, p) in quantities_prices.items()
    ]
    net = sum((Decimal(q) * Decimal(p) for q, p in quantities_prices.values()), Decimal("0"))
    tax = (net * tax_rate / 100).quantize(Decimal("0.01"))
    return invoice_capture(
        by=people["ap_clerk"],
        vendor=po.vendor,
        number=number,
        invoice_date=invoice_date,
        currency=po.currency,
        lines=lines,
        tax_amount=tax,
        purchase_order=po,
    )
