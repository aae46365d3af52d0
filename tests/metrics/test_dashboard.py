"""The KPI rollup on a known scenario and the dashboard that reads only its facts."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from metrics import selectors
from metrics.models import DailyKpiFact
from metrics.rollup import rebuild_facts
from payables import services as payables
from payables.matching import match_invoices
from tests import factories
from tests.flow import invoice, issued_po, receive

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("metrics:dashboard")


def today() -> dt.date:
    return timezone.localdate()


def rollup() -> int:
    return rebuild_facts(today() - dt.timedelta(days=40), today() + dt.timedelta(days=1))


@pytest.fixture
def scenario(people, setup_org):
    """Three invoices first-matched (two pass, one price variance), two paid with discount,
    and one invoice without a PO still waiting for its match."""
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.", terms=factories.two_ten_net30())
    po = issued_po(people, setup_org, vendor=vendor)  # 40 boxes of copy paper at 23.50
    receive(po, people, {1: "40"})
    dated = today() - dt.timedelta(days=2)
    first = invoice(po, people, "KVD-101", {1: ("10", "23.50")}, invoice_date=dated)
    variance = invoice(po, people, "KVD-102", {1: ("10", "24.95")}, invoice_date=dated)
    third = invoice(po, people, "KVD-103", {1: ("15", "23.50")}, invoice_date=dated)
    match_invoices([first.pk, variance.pk, third.pk])
    no_po = payables.invoice_capture(
        by=people["ap_clerk"], vendor=vendor, number="KVD-104", invoice_date=dated,
        currency="EUR", lines=[payables.InvoiceLineInput("Coffee beans", Decimal("2"), Decimal("50"))],
    )  # fmt: skip
    run = payables.payment_run_propose(
        by=people["ap_clerk"], pay_date=today(), horizon_date=today() + dt.timedelta(days=30)
    )
    payables.payment_run_approve(run=run, by=people["finance_leader"])
    payables.payment_run_mark_paid(run=run, by=people["ap_clerk"], paid_on=today())
    rollup()
    return {"vendor": vendor, "po": po, "no_po": no_po}


def this_month() -> selectors.PeriodComparison:
    return selectors.period_comparison(start=today() - dt.timedelta(days=29), end=today())


def test_rollup_gives_exact_kpis_for_a_known_scenario(scenario):
    kpis = this_month().current
    assert kpis.invoices_captured == 4
    assert (kpis.first_match_attempts, kpis.first_pass_matches) == (3, 2)
    assert round(kpis.first_pass_rate * 100, 1) == Decimal("66.7")
    assert (kpis.invoices_approved, kpis.touchless_approvals) == (2, 2)
    assert kpis.touchless_rate == 1
    assert (kpis.invoices_paid, kpis.paid_on_time) == (2, 2)
    assert (kpis.exceptions_opened, kpis.exceptions_resolved) == (1, 0)
    [eur] = kpis.money
    # 2% of 284.35 (10 × 23.50 + 21% VAT) and of 426.52 (15 × 23.50 + VAT), both paid in time.
    assert eur.discount_available == eur.discount_taken == Decimal("14.22")
    assert kpis.discount_capture == 1
    # 284.35 + 301.90 + 426.52 on the PO; the 100.00 of coffee beans without one.
    assert eur.spend_on_po == Decimal("1012.77")
    assert eur.spend_total == Decimal("1112.77")
    assert round(kpis.po_compliance * 100, 1) == Decimal("91.0")


def test_rollup_twice_leaves_the_same_fact_rows(scenario):
    def fact_rows() -> list[dict]:
        fields = [f.name for f in DailyKpiFact._meta.fields if f.name not in ("id", "updated_at")]
        return list(
            DailyKpiFact.objects.order_by("day", "vendor_id", "cost_center_id", "buyer_id").values(
                *fields
            )
        )

    before = fact_rows()
    assert before
    rollup()
    rollup()
    assert fact_rows() == before


def tiles_html(response) -> str:
    html = response.content.decode()
    return html[html.index('<div class="tiles">') : html.index('<div class="card">')]


def test_buyer_ap_and_finance_see_the_same_numbers(client, people, scenario):
    seen = []
    for role in ("buyer", "ap_clerk", "finance_leader"):
        client.force_login(people[role])
        response = client.get(DASHBOARD)
        assert response.status_code == 200
        seen.append(tiles_html(response))
    assert seen[0] == seen[1] == seen[2]
    assert "66.7 %" in seen[0]
    assert "2 of 3 invoices" in seen[0]
    assert "14.22 EUR taken" in seen[0]


def test_requester_and_approver_can_read_the_dashboard(client, people, scenario):
    for role in ("requester", "approver"):
        client.force_login(people[role])
        assert client.get(DASHBOARD).status_code == 200


def test_a_user_without_a_role_is_refused(client, db):
    client.force_login(factories.make_user("nobody"))
    assert client.get(DASHBOARD).status_code == 403


def test_ratios_without_a_denominator_show_a_dash(client, people):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD)
    tiles = tiles_html(response)
    assert tiles.count('<span class="tile-value">— %</span>') == 0
    assert tiles.count('<span class="tile-value">—</span>') == 5
    assert "No exceptions in this period." in response.content.decode()


def test_dashboard_filters_by_vendor_and_period(client, people, scenario):
    other = factories.make_vendor("Bürotechnik Schneider GmbH")
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD, {"period": "7", "vendor": other.pk})
    assert response.context["comparison"].current.invoices_captured == 0
    response = client.get(DASHBOARD, {"period": "7", "vendor": scenario["vendor"].pk})
    assert response.context["comparison"].current.invoices_captured == 4
    assert response.context["comparison"].days == 7


def test_dashboard_queries_do_not_grow_with_invoices(client, people, setup_org, scenario):
    client.force_login(people["finance_leader"])
    client.get(DASHBOARD)  # warm the session and role caches
    with CaptureQueriesContext(connection) as small:
        client.get(DASHBOARD)
    for n in range(20):
        vendor = factories.make_vendor(f"Vendor {n}")
        payables.invoice_capture(
            by=people["ap_clerk"], vendor=vendor, number=f"INV-{n}", invoice_date=today(),
            currency="EUR", lines=[payables.InvoiceLineInput("Service", Decimal("1"), Decimal(100 + n))],
        )  # fmt: skip
    rollup()
    with CaptureQueriesContext(connection) as large:
        response = client.get(DASHBOARD)
    assert response.context["comparison"].current.invoices_captured == 24
    assert len(large) == len(small)
    assert not any("payables_invoice" in q["sql"] for q in large.captured_queries)
