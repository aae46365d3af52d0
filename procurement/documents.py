"""The purchase order as a PDF for the vendor, drawn with ReportLab (pure Python, no system
libraries), from the same data as the printable HTML page."""

from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from p2p.money import format_money
from procurement.selectors import PurchaseOrderDocument

_INK = colors.HexColor("#1f2937")
_MUTED = colors.HexColor("#6b7280")
_RULE = colors.HexColor("#d1d5db")
_HEAD = colors.HexColor("#f3f4f6")


def _qty(value) -> str:
    text = f"{value:,f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def render_po_pdf(document: PurchaseOrderDocument) -> bytes:
    """The PO document as PDF bytes: header, vendor and ship-to, lines, total and terms."""
    po = document.po
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=9, leading=12, textColor=_INK)
    small = ParagraphStyle("small", parent=body, fontSize=8, leading=10, textColor=_MUTED)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT)
    title = ParagraphStyle("title", parent=styles["Title"], fontSize=18, leading=22, alignment=0)

    def para(text: str, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(text).replace("\n", "<br/>"), style)

    buffer = BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=18 * mm,
        rightMargin=18 * mm,
        topMargin=16 * mm,
        bottomMargin=16 * mm,
        title=f"Purchase order {po.number}",
        author=po.buyer.get_full_name() or po.buyer.get_username(),
    )
    story = [
        Paragraph(f"Purchase order {escape(po.number)}", title),
        para(
            f"Revision {po.revision}"
            + (f" · issued {po.issued_at:%d %b %Y}" if po.issued_at else " · draft, not issued")
            + (
                f" · requests {', '.join(document.request_numbers)}"
                if document.request_numbers
                else ""
            ),
            small,
        ),
        Spacer(1, 6 * mm),
    ]
    vendor = po.vendor
    parties = Table(
        [
            [para("Vendor", small), para("Ship to", small), para("Order", small)],
            [
                para("\n".join(filter(None, [vendor.name, vendor.remit_to, vendor.email]))),
                para(po.ship_to or "As agreed"),
                para(
                    f"Buyer: {po.buyer.get_full_name() or po.buyer.get_username()}\n"
                    f"{po.buyer.email}\nCurrency: {po.currency}\nPayment terms: {po.payment_terms}"
                ),
            ],
        ],
        colWidths=[58 * mm, 58 * mm, 58 * mm],
    )
    parties.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    story += [parties, Spacer(1, 6 * mm)]

    rows = [["#", "Item", "Description", "Quantity", "Unit", "Unit price", "Amount"]]
    for line in document.lines:
        rows.append(
            [
                str(line.line_no),
                para(line.item_code or "", small),
                para(line.description),
                para(_qty(line.quantity), right),
                line.uom,
                para(format_money(line.unit_price, po.currency), right),
                para(format_money(line.amount, po.currency), right),
            ]
        )
    rows.append(
        [
            "",
            "",
            para("Total", body),
            "",
            "",
            "",
            para(format_money(po.total_amount, po.currency), right),
        ]
    )
    table = Table(
        rows,
        colWidths=[8 * mm, 22 * mm, 58 * mm, 20 * mm, 12 * mm, 27 * mm, 27 * mm],
        repeatRows=1,
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTSIZE", (0, 0), (-1, -1), 9),
                ("BACKGROUND", (0, 0), (-1, 0), _HEAD),
                ("TEXTCOLOR", (0, 0), (-1, 0), _MUTED),
                ("ALIGN", (3, 0), (3, 0), "RIGHT"),
                ("ALIGN", (5, 0), (-1, 0), "RIGHT"),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LINEBELOW", (0, 0), (-1, -2), 0.5, _RULE),
                ("LINEABOVE", (0, -1), (-1, -1), 1, _INK),
                ("FONTNAME", (0, -1), (-1, -1), "Helvetica-Bold"),
            ]
        )
    )
    story += [
        table,
        Spacer(1, 8 * mm),
        para(
            "Please quote the purchase order number and line numbers on your invoice. "
            "Invoices are matched against this order and the goods received; quantities or "
            "prices above the order are not paid without a revised order.",
            small,
        ),
    ]
    pdf.build(story)
    return buffer.getvalue()
