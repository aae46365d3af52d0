"""The payment pages: cash calendar, run steps in the browser's forms, settings, remittance."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payables.models.invoices import Invoice
from payables.models.payments import CompanySettings, Payment, PaymentRun
from payables.selectors import payments as payment_selectors
from payables.services import payments
from tests import factories
from tests.payables.payment_data import approved, company

pytestmark = pytest.mark.django_db

TODAY = dt.date(2026, 11, 16)  # a Monday


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


# --- cash calendar -------------------------------------------------------------------------


def cell(calendar, currency: str, label_or_index):
    rows = {c["currency"]: c for c in calendar}[currency]["rows"]
    return rows[label_or_index]


def test_calendar_buckets_due_dates_and_discount_deadlines_at_their_edges(people):
    office = factories.make_vendor("Office Depot B.V.")
    discounter = factories.make_vendor("Korting B.V.", terms=factories.two_ten_net30())
    due_on = {
        "yesterday": TODAY - dt.timedelta(days=1),
        "today": TODAY,
        "day 6": TODAY + dt.timedelta(days=6),
        "day 7": TODAY + dt.timedelta(days=7),
        "day 41": TODAY + dt.timedelta(days=41),
        "day 42": TODAY + dt.timedelta(days=42),
    }
    for name, due in due_on.items():
        # Net 30: invoice dated 30 days before the due date.
        approved(office, name, invoice_date=due - dt.timedelta(days=30))
    approved(
        office, "credit", invoice_date=TODAY - dt.timedelta(days=30), credit_note=True, amount="100"
    )
    # 2/10 net 30: discount dates today (still open), yesterday (lapsed) and in 10 days.
    approved(discounter, "disc today", invoice_date=TODAY - dt.timedelta(days=10))
    approved(discounter, "disc gone", invoice_date=TODAY - dt.timedelta(days=11))
    approved(discounter, "disc later", invoice_date=TODAY)
    approved(office, "usd", invoice_date=TODAY - dt.timedelta(days=30), currency="USD", amount="5")
    in_run = approved(office, "in run", invoice_date=TODAY - dt.timedelta(days=28))
    Invoice.objects.filter(pk=in_run.pk).update(status=Invoice.Status.SCHEDULED)

    calendar = payment_selectors.cash_calendar(TODAY, weeks=6)

    assert [c["currency"] for c in calendar] == ["EUR", "USD"]
    rows = {c["currency"]: c for c in calendar}["EUR"]["rows"]
    assert len(rows) == 1 + 7 + 5  # overdue, seven days, then weeks 2–6
    overdue, today = rows[0], rows[1]
    assert overdue["label"] == "Overdue" and overdue["due"] == Decimal("1000.00")
    # Due today: the net-30 invoice less the credit note due today.
    assert (today["due_count"], today["due"]) == (2, Decimal("900.00"))
    assert rows[7]["due"] == Decimal("1000.00")  # day 6 is the last daily row
    assert rows[8]["due"] == Decimal("1000.00")  # day 7 opens the first weekly row
    assert rows[3]["in_run"] == Decimal("1000.00")  # due in two days, already in a run
    assert rows[-1]["due"] == Decimal("1000.00")  # day 41 is in week 6; day 42 is not shown
    total = {c["currency"]: c for c in calendar}["EUR"]["total"]
    # Overdue, today (2), day 6, day 7, day 41, the one in a run and the three discounted
    # invoices (due in 19, 20 and 30 days); day 42 is past the sixth week.
    assert total["due_count"] == 10
    # Discounts: today's still counts (it lapses tonight), yesterday's is gone.
    assert today["discount_count"] == 1 and today["worth"] == Decimal("20.00")
    assert rows[8]["discount"] == Decimal("20.00")  # disc later lapses on day 10
    assert total["discount_count"] == 2  # disc today + disc later (day 10)


def test_end_of_month_terms_count_from_the_month_end():
    terms = factories.net30()
    terms.end_of_month = True
    assert terms.due_date(dt.date(2027, 1, 31)) == dt.date(2027, 3, 2)
    assert terms.due_date(dt.date(2028, 1, 15)) == dt.date(2028, 3, 1)  # leap year


def test_cash_calendar_page_lists_discount_deadlines_and_is_closed_to_buyers(client, people):
    discounter = factories.make_vendor("Korting B.V.", terms=factories.two_ten_net30())
    approved(discounter, "KB-1", invoice_date=TODAY - dt.timedelta(days=5))
    client.force_login(people["ap_clerk"])

    with mock.patch("payables.views.payments.timezone.localdate", return_value=TODAY):
        response = client.get(reverse("payables:cash_calendar"), {"weeks": "4"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "KB-1" in page and "take it" in page and "37.2 %" in page
    assert response.context["weeks"] == 4
    client.force_login(people["buyer"])
    assert client.get(reverse("payables:cash_calendar")).status_code == 403


def test_calendar_and_run_pages_run_a_constant_number_of_queries(client, people):
    company()
    client.force_login(people["ap_manager"])

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    def add(n: int, start: int) -> PaymentRun:
        for i in range(start, start + n):
            vendor = factories.make_vendor(f"Vendor {i} B.V.", terms=factories.two_ten_net30())
            approved(vendor, f"V-{i}", invoice_date=dt.date(2026, 10, 15))
            approved(vendor, f"W-{i}", invoice_date=dt.date(2026, 10, 15), currency="USD")
        return payments.payment_run_propose(
            by=people["ap_clerk"], pay_date=dt.date(2026, 11, 5), horizon_date=dt.date(2026, 11, 19)
        )

    small = add(1, 0)
    urls = lambda run: (  # noqa: E731
        reverse("payables:run_list"),
        reverse("payables:run_detail", args=[run.pk]),
        reverse("payables:cash_calendar"),
    )
    few = [queries(url) for url in urls(small)]
    big = add(6, 1)
    many = [queries(url) for url in urls(big)]

    assert big.payments.count() == 12
    assert many == few


# --- the run through its pages ---------------------------------------------------------------


@pytest.fixture
def run(client, people):
    company()
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15))
    approved(office, "OD-2", invoice_date=dt.date(2026, 10, 15), amount="400.00")
    approved(office, "OD-LATER", invoice_date=dt.date(2026, 11, 10))
    client.force_login(people["ap_clerk"])
    response = client.post(
        reverse("payables:run_list"),
        {"pay_date": "2026-11-05", "horizon_date": "2026-11-19", "currency": ""},
    )
    assert response.status_code == 302
    return PaymentRun.objects.get()


def test_clerk_takes_an_invoice_out_and_puts_another_in_through_the_page(client, people, run):
    od2, later = Invoice.objects.get(number="OD-2"), Invoice.objects.get(number="OD-LATER")

    response = client.post(
        reverse("payables:run_remove_invoice", args=[run.pk, od2.pk]), {"reason": ""}, follow=True
    )
    assert "Give a reason for taking the invoice out of the run." in messages_of(response)
    client.post(
        reverse("payables:run_remove_invoice", args=[run.pk, od2.pk]), {"reason": "Disputed"}
    )
    response = client.post(
        reverse("payables:run_add_invoice", args=[run.pk]),
        {"invoice": later.pk, "reason": "Vendor asked"},
        follow=True,
    )

    assert f"Invoice OD-LATER added to {run.number}." in messages_of(response)
    page = response.content.decode()
    assert "Removed or voided" in page and "Disputed" in page and "Added by hand" in page
    assert "A total above 100,000.00 EUR needs a finance leader." in page
    assert "Net: <span>400.00 EUR</span>" in page  # the activity trail
    run.refresh_from_db()
    assert run.net_amount == Decimal("2000.00")


def test_run_goes_to_the_bank_is_paid_and_a_returned_payment_is_voided(client, people, run):
    client.force_login(people["finance_leader"])
    client.post(reverse("payables:run_approve", args=[run.pk]))
    client.force_login(people["ap_clerk"])

    response = client.post(reverse("payables:run_export", args=[run.pk]), follow=True)

    assert any("checked against the ISO 20022 schema" in m for m in messages_of(response))
    xml_export = run.exports.get(format="pain001")
    download = client.get(reverse("payables:run_export_download", args=[run.pk, xml_export.pk]))
    assert download.content.decode() == xml_export.content
    assert download["Content-Disposition"] == f'attachment; filename="{xml_export.filename}"'
    response = client.post(
        reverse("payables:run_mark_paid", args=[run.pk]), {"paid_on": "2026-11-06"}, follow=True
    )
    assert f"{run.number} marked paid." in messages_of(response)
    payment = run.payments.first()
    response = client.post(
        reverse("payables:run_bank_confirm", args=[run.pk]),
        {
            "vendor": payment.vendor_id,
            "currency": "EUR",
            "outcome": "returned",
            "reference": "AC04 account closed",
        },
        follow=True,
    )
    assert any("returned by the beneficiary" in m for m in messages_of(response))
    client.force_login(people["ap_manager"])
    for line in run.payments.filter(vendor_id=payment.vendor_id):
        response = client.post(
            reverse("payables:run_void", args=[run.pk, line.pk]),
            {"reason": "Account closed, new IBAN requested"},
            follow=True,
        )
        assert any("voided" in m for m in messages_of(response))
    assert set(run.payments.values_list("status", flat=True)) == {Payment.Status.VOID}
    assert Invoice.objects.get(number="OD-1").status == Invoice.Status.APPROVED


def test_remittance_advice_page_prints_and_emails(client, people, run, mailoutbox):
    client.force_login(people["finance_leader"])
    client.post(reverse("payables:run_approve", args=[run.pk]))
    client.post(reverse("payables:run_export", args=[run.pk]))
    vendor = run.payments.first().vendor

    page = client.get(reverse("payables:run_remittance", args=[run.pk, vendor.pk]))
    response = client.post(reverse("payables:run_remittance_send", args=[run.pk]), follow=True)

    assert page.status_code == 200
    assert "OD-1" in page.content.decode() and "1,400.00 EUR" in page.content.decode()
    assert any("Remittance advice emailed to Office Depot B.V." in m for m in messages_of(response))
    assert len(mailoutbox) == 1


def test_finance_leader_edits_payment_settings_and_others_only_read_them(client, people):
    client.force_login(people["finance_leader"])
    data = {
        "company_name": "Acme Nederland B.V.",
        "iban": "NL91 ABNA 0417 1643 00",
        "bic": "ABNANL2A",
        "cost_of_capital_pct": "9.5",
        "run_approval_threshold": "50000",
    }

    bad = client.post(reverse("payables:company_settings"), {**data, "iban": "NL00BAD"})
    assert bad.status_code == 400 and CompanySettings.load().iban == ""
    assert "The IBAN NL00BAD is not valid" in " ".join(messages_of(bad))
    response = client.post(reverse("payables:company_settings"), data, follow=True)

    assert "Payment settings saved." in messages_of(response)
    assert CompanySettings.load().cost_of_capital_pct == Decimal("9.5")
    client.force_login(people["ap_manager"])
    assert client.get(reverse("payables:company_settings")).status_code == 200
    assert client.post(reverse("payables:company_settings"), data).status_code == 403


def test_payment_settings_history_reads_old_to_new_and_skips_a_number_retyped(client, people):
    client.force_login(people["finance_leader"])
    data = {
        "company_name": "Acme Nederland B.V.",
        "iban": "NL91 ABNA 0417 1643 00",
        "bic": "",
        "cost_of_capital_pct": "8",  # what is stored already, as 8.000
        "run_approval_threshold": "100000",
    }
    client.post(reverse("payables:company_settings"), data)

    page = client.get(reverse("payables:company_settings")).content.decode()

    assert "IBAN: <span>— → NL91ABNA0417164300</span>" in page
    assert "Cost of capital" not in page.split("Changes", 1)[1]
    assert "[&#x27;" not in page


def test_finance_leader_sets_variance_thresholds_per_currency_on_the_settings_page(client, people):
    client.force_login(people["finance_leader"])
    page = client.get(reverse("payables:company_settings"))
    assert "EUR 500.00" in page.content.decode()  # the old single threshold, now in euros
    data = {
        "company_name": "Acme Nederland B.V.",
        "iban": "",
        "bic": "",
        "cost_of_capital_pct": "8",
        "run_approval_threshold": "100000",
    }

    bad = client.post(
        reverse("payables:company_settings"), {**data, "variance_thresholds": "EUR 500\nJPY"}
    )
    assert bad.status_code == 400
    assert "Line 2 “JPY”: write a currency and an amount" in bad.content.decode()
    wrong_code = client.post(
        reverse("payables:company_settings"), {**data, "variance_thresholds": "EURO 500"}
    )
    assert "is not a currency code" in " ".join(messages_of(wrong_code))
    assert CompanySettings.load().variance_thresholds == {"EUR": "500.00"}

    client.post(
        reverse("payables:company_settings"),
        {**data, "variance_thresholds": "EUR 500.00\r\njpy 75000\r\n"},
    )
    row = CompanySettings.load()
    assert row.variance_thresholds == {"EUR": "500.00", "JPY": "75000.00"}
    assert row.variance_threshold("JPY") == Decimal("75000.00")
    assert row.variance_threshold("USD") is None


def test_clerk_puts_an_invoice_on_hold_and_releases_it(client, people):
    invoice = approved(factories.make_vendor(), "OD-1", invoice_date=dt.date(2026, 10, 15))
    client.force_login(people["ap_clerk"])
    url = reverse("payables:invoice_hold", args=[invoice.pk])

    client.post(url, {"reason": "Goods damaged", "next": reverse("payables:cash_calendar")})
    assert invoice.payment_holds.get(released_at__isnull=True).reason == "Goods damaged"
    client.post(url, {"release": "1", "reason": "Replacement arrived"})

    assert not invoice.payment_holds.filter(released_at__isnull=True).exists()
    client.force_login(people["buyer"])
    assert client.post(url, {"reason": "x"}).status_code == 403
