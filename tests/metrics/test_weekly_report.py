"""The weekly AP–procurement sync report: content, CSV exports, actions, email and roles."""

import csv
import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from metrics import report
from metrics.models import WeeklySyncNote
from metrics.rollup import rebuild_facts
from p2p.models import AuditAction, AuditEvent
from payables.models.payments import PaymentRun, PaymentRunExclusion
from tests.metrics.builders import at, make_exception, make_invoice
from tests.metrics.conftest import MON, THU, TUE, WED

pytestmark = pytest.mark.django_db

REPORT = reverse("metrics:weekly_report")
ACTIONS = reverse("metrics:weekly_actions")
EMAIL = reverse("metrics:weekly_report_email")
LAST_WED = WED - dt.timedelta(weeks=1)


@pytest.fixture
def sync_week(week, people):
    """The known week, plus last week's over-billing on PO-1, a discount lost in an open
    exception (I10) and one lost to a payment hold (I11)."""
    vendor_a, po1 = week["vendor_a"], week["po1"]
    earlier = make_invoice(
        vendor_a, po=po1, captured=at(LAST_WED, 9), total="400.00", status="approved",
        first_matched=at(LAST_WED, 9, 5), first_pass=False, approved=at(LAST_WED, 16),
        number="KVD-090",
    )  # fmt: skip
    make_exception(
        earlier, "qty_over_billed", opened=at(LAST_WED, 9, 5), resolved=at(LAST_WED, 16),
        root_cause="over_billing", amount="40.00",
    )  # fmt: skip
    i10 = make_invoice(
        vendor_a, po=po1, captured=at(MON, 14), total="150.00", status="exception",
        first_matched=at(MON, 14, 5), first_pass=False, discount_date=WED, discount="3.00",
        number="KVD-104",
    )  # fmt: skip
    make_exception(i10, "price_variance", opened=at(MON, 14, 5), amount="12.00")
    i11 = make_invoice(
        vendor_a, po=po1, captured=at(MON, 15), total="250.00", status="approved",
        first_matched=at(MON, 15, 5), first_pass=True, approved=at(MON, 15, 5), touchless=True,
        discount_date=THU, discount="5.00", number="KVD-105",
    )  # fmt: skip
    run = PaymentRun.objects.create(
        number="RUN-HOLD-1", pay_date=TUE, horizon_date=THU, currency="EUR",
        status=PaymentRun.Status.PAID, prepared_by=people["ap_clerk"],
    )  # fmt: skip
    PaymentRunExclusion.objects.create(run=run, invoice=i11, reason="on_hold")
    rebuild_facts(dt.date(2026, 2, 1), dt.date(2026, 3, 31))
    return {**week, "i10": i10, "i11": i11}


def build() -> report.WeeklyReport:
    return report.build(report.Week(MON))


def test_exceptions_by_root_cause_this_week_and_last(sync_week):
    weekly = build()
    assert (weekly.opened_this_week, weekly.opened_last_week) == (5, 1)
    rows = {row["root_cause"]: row for row in weekly.root_causes}
    assert {cause: (row["this_week"], row["last_week"]) for cause, row in rows.items()} == {
        "stale_po_price": (1, 0),
        "no_po": (1, 0),
        "missing_receipt": (1, 0),
        "duplicate_submission": (1, 0),
        "vendor_pricing_error": (1, 0),  # I10, still open: the suggested cause
        "over_billing": (0, 1),
    }
    assert rows["duplicate_submission"]["amounts"] == [("EUR", Decimal("1210.00"))]
    assert [x.invoice.number for x in rows["stale_po_price"]["examples"]] == ["KVD-102"]
    assert rows["missing_receipt"]["owners"] == "Requester / receiver 1"


def test_worst_vendors_and_pos_with_repeat_offenders(sync_week):
    weekly = build()
    assert [(r["name"], r["opened"], r["last_week"]) for r in weekly.worst_vendors] == [
        ("Kantoorhuis Van Dijk B.V.", 4, 1),
        ("Bürotechnik Schneider GmbH", 1, 0),
    ]
    po1 = sync_week["po1"].number
    assert [(r["number"], r["this_week"], r["last_week"]) for r in weekly.worst_pos] == [
        (po1, 4, 1)
    ]
    assert weekly.worst_pos[0]["buyer"] == "Bob"
    assert [r["name"] for r in weekly.repeat_vendors] == ["Kantoorhuis Van Dijk B.V."]
    assert [r["number"] for r in weekly.repeat_pos] == [po1]


def test_discounts_missed_and_why(sync_week):
    weekly = build()
    reasons = {
        m.kpi.invoice.number: (m.reason, m.detail, m.missed) for m in weekly.missed_discounts
    }
    assert reasons == {
        "KVD-102": ("not_proposed", "Approved 04 Mar, paid 06 Mar; discount date 05 Mar", Decimal("12.10")),
        "KVD-103": ("not_proposed", "Approved 06 Mar, not paid; discount date 06 Mar", Decimal("4.84")),
        "KVD-104": ("exception", "Open on 04 Mar: price variance (Buyer)", Decimal("3.00")),
        "KVD-105": ("excluded", "RUN-HOLD-1: On payment hold", Decimal("5.00")),
    }  # fmt: skip
    summary = {row["reason"]: (row["count"], row["amounts"]) for row in weekly.missed_by_reason}
    assert summary["not_proposed"] == (2, [("EUR", Decimal("16.94"))])


def test_the_page_shows_every_section(client, people, sync_week):
    client.force_login(people["ap_manager"])
    response = client.get(REPORT, {"week": WED.isoformat()})  # any day of the week will do
    assert response.status_code == 200
    page = response.content.decode()
    for heading in (
        "1. This week's exceptions by root cause",
        "2. Worst vendors",
        "3. Worst POs",
        "4. Repeat offenders",
        "5. Discounts missed and why",
        "6. Actions agreed",
    ):
        assert heading in page
    assert "Week 2026-W10" in page
    assert "Open on 04 Mar: price variance (Buyer)" in page
    assert 'name="actions"' in page  # AP managers record the actions


def csv_of(client, table: str) -> list[list[str]]:
    response = client.get(REPORT, {"week": MON.isoformat(), "csv": table})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert f"weekly-sync-2026-W10-{table}.csv" in response["Content-Disposition"]
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_every_table_exports_as_csv(client, people, sync_week):
    client.force_login(people["buyer"])
    expected_rows = {
        "root_causes": 6,
        "examples": 5,
        "vendors": 2,
        "pos": 1,
        "repeat_vendors": 1,
        "repeat_pos": 1,
        "discounts": 4,
        "actions": 0,
    }
    assert set(expected_rows) == set(report.CSV_TABLES)
    for table, rows in expected_rows.items():
        header, *body = csv_of(client, table)
        assert header == report.csv_rows(build(), table)[0]
        assert len(body) == rows, table
    discounts = csv_of(client, "discounts")
    assert ["KVD-104", "Kantoorhuis Van Dijk B.V.", sync_week["po1"].number, "2026-03-04",
            "3.00", "0.00", "3.00", "EUR", "In exception on the discount date",
            "Open on 04 Mar: price variance (Buyer)"] in discounts  # fmt: skip


def test_the_report_downloads_as_pdf(client, people, sync_week):
    client.force_login(people["finance_leader"])
    response = client.get(REPORT, {"week": MON.isoformat(), "format": "pdf"})
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert 'filename="weekly-sync-2026-W10.pdf"' in response["Content-Disposition"]
    assert response.content.startswith(b"%PDF")
    reader = PdfReader(io.BytesIO(response.content))
    text = " ".join(page.extract_text() for page in reader.pages)
    for expected in ("weekly sync", "Worst vendors", "Kantoorhuis Van Dijk B.V.", "KVD-104"):
        assert expected in text


def test_csv_neutralises_spreadsheet_formulas(client, people, sync_week):
    vendor = sync_week["vendor_b"]
    vendor.name = '=HYPERLINK("http://evil.example","x")'
    vendor.save(update_fields=["name"])
    client.force_login(people["ap_clerk"])
    names = [row[0] for row in csv_of(client, "vendors")[1:]]
    assert '\'=HYPERLINK("http://evil.example","x")' in names


def test_an_unknown_csv_table_is_refused(client, people, sync_week):
    client.force_login(people["ap_clerk"])
    assert client.get(REPORT, {"week": MON.isoformat(), "csv": "salaries"}).status_code == 400


def test_actions_are_saved_per_week_with_their_history(client, people, sync_week):
    bob = people["buyer"]
    client.force_login(bob)
    response = client.post(
        ACTIONS, {"week": MON.isoformat(), "actions": "Bob: update PO-1 prices by Friday"}
    )
    assert response.status_code == 302
    client.force_login(people["ap_manager"])
    response = client.post(
        ACTIONS,
        {
            "week": MON.isoformat(),
            "actions": "Bob: update PO-1 prices by Friday\nCarla: chase credit",
        },
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Actions for the week of 02 Mar 2026 saved." in response.content.decode()
    note = WeeklySyncNote.objects.get(week=MON)
    assert note.actions.endswith("Carla: chase credit")
    assert note.updated_by == people["ap_manager"]
    history = AuditEvent.objects.filter(
        object_type="metrics.weeklysyncnote", object_id=note.pk, action=AuditAction.ACTIONS_SAVED
    ).order_by("id")
    assert [event.actor_name for event in history] == ["bob", "martin"]
    assert history[1].changes["previous"] == "Bob: update PO-1 prices by Friday"
    assert build().note == note and len(build().history) == 2
    # Next week's report shows them for follow-up.
    page = client.get(REPORT, {"week": (MON + dt.timedelta(weeks=1)).isoformat()})
    assert "Agreed last week — follow up" in page.content.decode()


def test_actions_refuse_a_week_that_has_not_started(client, people):
    client.force_login(people["finance_leader"])
    next_monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    response = client.post(
        ACTIONS, {"week": next_monday.isoformat(), "actions": "Plan ahead"}, follow=True
    )
    assert "That week has not started yet." in response.content.decode()
    assert not WeeklySyncNote.objects.exists()


@pytest.mark.parametrize("role", ["ap_clerk", "requester"])
def test_only_the_meeting_leads_record_actions(client, people, role):
    client.force_login(people[role])
    response = client.post(ACTIONS, {"week": MON.isoformat(), "actions": "Do things"})
    assert response.status_code == 403
    assert not WeeklySyncNote.objects.exists()


def test_the_report_is_emailed_as_html(client, people, sync_week):
    client.force_login(people["ap_manager"])
    response = client.post(
        EMAIL, {"week": MON.isoformat(), "recipients": "bob@example.com, fiona@example.com"}
    )
    assert response.status_code == 302
    [message] = mail.outbox
    assert message.to == ["bob@example.com", "fiona@example.com"]
    assert message.subject == "AP–procurement weekly sync, week of 02 Mar 2026"
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert "Kantoorhuis Van Dijk B.V." in html and "Discounts missed and why" in html
    assert "KVD-104" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == ("weekly-sync-2026-W10.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    note = WeeklySyncNote.objects.get(week=MON)
    assert AuditEvent.objects.for_object(note).filter(action=AuditAction.REPORT_EMAILED).exists()


def test_a_bad_address_is_refused_before_sending(client, people, sync_week):
    client.force_login(people["ap_manager"])
    response = client.post(
        EMAIL, {"week": MON.isoformat(), "recipients": "bob@example.com, not-an-address"},
        follow=True,
    )  # fmt: skip
    assert "&#x27;not-an-address&#x27; is not an email address." in response.content.decode()
    assert not mail.outbox


@pytest.mark.parametrize(
    ("role", "status"), [("requester", 403), ("approver", 403), ("ap_clerk", 200)]
)
def test_who_reads_the_report(client, people, role, status):
    client.force_login(people[role])
    response = client.get(REPORT)
    assert response.status_code == status
    if status == 200:
        assert 'name="actions"' not in response.content.decode()  # clerks read, leads record


def test_every_count_in_the_report_opens_its_exceptions(client, people, sync_week):
    client.force_login(people["ap_manager"])
    context = client.get(REPORT, {"week": MON.isoformat()}).context
    weekly = context["report"]
    rows = [(row["url"], row["this_week"]) for row in weekly.root_causes if row["this_week"]] + [
        (row["url"], row["opened"]) for row in weekly.worst_vendors
    ]
    assert len(rows) == 7
    for url, count in rows:
        assert client.get(url).context["count"] == count, url
