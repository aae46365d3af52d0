"""The weekly sync report as a PDF, drawn with ReportLab from the same tables as the CSV exports."""

from io import BytesIO
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from metrics.report import CSV_TABLES, WeeklyReport, csv_rows

_INK = colors.HexColor("#1f2937")
_MUTED = colors.HexColor("#6b7280")
_RULE = colors.HexColor("#d1d5db")
_HEAD = colors.HexColor("#f3f4f6")
# The page's sections in order; examples and actions are shown in their own way.
_SECTIONS = (
    ("root_causes", "1. Exceptions by root cause"),
    ("examples", "Examples"),
    ("vendors", "2. Worst vendors"),
    ("pos", "3. Worst POs"),
    ("repeat_vendors", "4. Repeat offenders: vendors"),
    ("repeat_pos", "4. Repeat offenders: POs"),
    ("discounts", "5. Discounts missed and why"),
)


def render_weekly_pdf(report: WeeklyReport) -> bytes:
    """Every table of the week's report, landscape A4, with the actions agreed at the end."""
    week = report.week
    styles = getSampleStyleSheet()
    body = ParagraphStyle("body", parent=styles["BodyText"], fontSize=8, leading=10, textColor=_INK)
    small = ParagraphStyle("small", parent=body, fontSize=7.5, leading=9.5, textColor=_MUTED)
    heading = ParagraphStyle("heading", parent=styles["Heading2"], fontSize=12, textColor=_INK)
    title = ParagraphStyle("title", parent=styles["Title"], fontSize=16, leading=20, alignment=0)

    def para(text: object, style: ParagraphStyle = body) -> Paragraph:
        return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)

    buffer = BytesIO()
    pdf = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=12 * mm,
        title=f"AP–procurement weekly sync {week.label}",
    )
    story = [
        para(f"AP–procurement weekly sync — week {week.label}", title),
        para(
            f"{week.monday:%d %b} – {week.sunday:%d %b %Y}"
            + (f" (so far, up to {week.end:%d %b})" if week.is_running else "")
            + f" · {report.opened_this_week} exceptions opened ({report.opened_last_week} the "
            f"week before) · {len(report.repeat_vendors)} repeat vendors · "
            f"{len(report.missed_discounts)} discounts missed",
            small,
        ),
        Spacer(1, 4 * mm),
    ]
    for table, label in _SECTIONS:
        header, rows = csv_rows(report, table)
        story.append(para(label, heading))
        if not rows:
            story.append(para(f"None this week ({CSV_TABLES[table].lower()}).", small))
            continue
        grid = Table(
            [[para(h.replace("_", " "), small) for h in header]]
            + [[para(value) for value in row] for row in rows],
            repeatRows=1,
        )
        grid.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), _HEAD),
                    ("LINEBELOW", (0, 0), (-1, -1), 0.25, _RULE),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ]
            )
        )
        story.append(grid)
    story.append(para("6. Actions agreed", heading))
    story.append(
        para(report.note.actions if report.note and report.note.actions else "None recorded yet.")
    )
    if report.previous_note and report.previous_note.actions:
        story += [
            Spacer(1, 3 * mm),
            para("Agreed last week", small),
            para(report.previous_note.actions),
        ]
    pdf.build(story)
    return buffer.getvalue()
