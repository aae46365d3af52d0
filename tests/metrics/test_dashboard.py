"""The dashboard on the known week: tiles, definitions, audiences, filters and query count."""

import re
from decimal import Decimal
from html import unescape

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics import kpis
from metrics.models import KpiTarget
from metrics.rollup import rebuild_facts
from tests import factories
from tests.metrics.builders import at, make_exception, make_invoice
from tests.metrics.conftest import MON, SUN, WED

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("metrics:dashboard")
THE_WEEK = {"start": MON.isoformat(), "end": SUN.isoformat()}


def text_of(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def tiles_text(response) -> str:
    page = text_of(response)
    return page[
        page.index("First-pass match rate") : page.index("Disputes on")
        if "Disputes on" in page
        else None
    ]


def tile(response, key: str):
    return next(t for t in response.context["tiles"] if t.kpi.key == key)


def test_headline_tiles_of_the_known_week(client, people, week):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD, THE_WEEK)
    assert response.status_code == 200
    first_pass = tile(response, "first_pass")
    assert first_pass.value == "50.0 %"
    assert [text for text, _ in first_pass.lines] == ["4 of 8 invoices passed", "4 did not"]
    touchless = tile(response, "touchless")
    assert (touchless.value, touchless.lines[0][0]) == ("66.7 %", "4 of 6 approvals touchless")
    on_time = tile(response, "on_time")
    assert [text for text, _ in on_time.lines] == ["2 of 3 invoices paid on time", "1 paid late"]
    discount = tile(response, "discount_capture")
    assert discount.value == "24.20 EUR"
    assert [text for text, _ in discount.lines] == [
        "58.8 % of 41.14 EUR taken",
        "16.94 EUR missed",
    ]
    cycle = tile(response, "cycle_time")
    assert cycle.value == "1.5 days"
    assert cycle.lines[1][0] == "capture → paid: 4 days, 3 invoices"
    open_exceptions = tile(response, "open_exceptions")
    assert open_exceptions.value == "2"
    assert [text for text, _ in open_exceptions.lines] == [
        "Buyer: 1",
        "Requester / receiver: 0",
        "Accounts payable: 1",
    ]
    compliance = tile(response, "po_compliance")
    assert compliance.value == "96.2 %"  # EUR, the currency with the most spend
    assert compliance.lines[0][0] == "2,507.00 EUR on a PO (96.2 %)"
    assert compliance.lines[2][0] == "300.00 USD on a PO (100.0 %)"
    # Trend against the week before: nothing was matched then.
    assert first_pass.trend.text == "no data in the previous 7 days"
    assert open_exceptions.trend.text == "▲ 1 vs previous 7 days (1)"


def test_every_kpi_is_shown_with_its_definition(client, people, week):
    client.force_login(people["finance_leader"])
    page = text_of(client.get(DASHBOARD, THE_WEEK))
    for kpi in kpis.ALL:
        assert kpi.label in page
        assert kpi.definition in page, kpi.key
    rows = {row.kpi.key: row for row in client.get(DASHBOARD, THE_WEEK).context["kpi_rows"]}
    assert rows["match_rate"].value == "75.0 %"
    assert rows["vendor_accuracy"].value == "50.0 %"
    assert rows["resolution_time"].value == "buyer 51 h · AP 2 h"
    assert rows["discount_capture"].value == "58.8 %"  # only EUR had a discount in the week
    assert rows["po_compliance"].value == "96.2 % EUR · 100.0 % USD"


def test_buyer_ap_and_finance_see_the_same_numbers(client, people, week):
    seen = []
    for role in ("buyer", "ap_clerk", "finance_leader", "requester"):
        client.force_login(people[role])
        response = client.get(DASHBOARD, {**THE_WEEK, "view": "overview"})
        assert response.status_code == 200
        seen.append(
            [(t.kpi.key, t.value, [text for text, _ in t.lines]) for t in response.context["tiles"]]
        )
    assert seen[0] == seen[1] == seen[2] == seen[3]


@pytest.mark.parametrize(
    ("role", "default", "allowed"),
    [
        ("finance_leader", "overview", {"overview", "buyers", "ap"}),
        ("buyer", "buyers", {"overview", "buyers"}),
        ("ap_clerk", "ap", {"overview", "ap"}),
        ("ap_manager", "ap", {"overview", "ap"}),
        ("requester", "overview", {"overview"}),
        ("approver", "overview", {"overview"}),
    ],
)
def test_each_audience_gets_its_view(client, people, week, role, default, allowed):
    client.force_login(people[role])
    response = client.get(DASHBOARD, THE_WEEK)
    assert response.context["audience"] == default
    assert {tab["key"] for tab in response.context["audiences"]} == allowed
    for view in ("overview", "buyers", "ap"):
        status = client.get(DASHBOARD, {**THE_WEEK, "view": view}).status_code
        assert status == (200 if view in allowed else 403), view


def test_a_buyer_starts_with_their_own_pos_and_can_widen(client, people, week):
    client.force_login(people["buyer"])  # Bob: PO-1
    mine = client.get(DASHBOARD, THE_WEEK)
    assert mine.context["scope"].buyer_id == people["buyer"].pk
    assert tile(mine, "first_pass").value == "40.0 %"  # I1 I8 of I1 I2 I5 I7 I8
    rows = {row["name"]: row for row in mine.context["buyer_rows"]}
    assert rows["Bob"]["is_me"] and not rows["Bea"]["is_me"]
    everyone = client.get(DASHBOARD, {**THE_WEEK, "buyer": ""})
    assert everyone.context["scope"].buyer_id is None
    assert tile(everyone, "first_pass").value == "50.0 %"


def test_ap_sees_queue_health_with_links_into_its_queue(client, people, week):
    client.force_login(people["ap_clerk"])
    response = client.get(DASHBOARD, THE_WEEK)
    queue = {row["label"]: row for row in response.context["queue_rows"]}
    assert queue["Accounts payable"]["total"] == 1  # I4's missing PO
    assert queue["Buyer"]["total"] == 1  # I9, 17 days old
    assert queue["Buyer"]["cells"][3]["count"] == 1  # the 15–30 days bucket
    assert queue["Accounts payable"]["queue_url"] == (
        reverse("payables:exception_list") + "?status=open&owner=ap"
    )
    throughput = response.context["throughput"]["rows"][-1]
    assert (throughput["opened"], throughput["resolved"]) == (4, 3)


def test_filters_apply_to_every_tile_and_chart(client, people, week):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD, {**THE_WEEK, "vendor": week["vendor_b"].pk})
    assert response.context["scope"].vendor_id == week["vendor_b"].pk
    # Vendor B: I3 (first pass), I4 (no PO), I6 (credit note, first pass).
    assert tile(response, "first_pass").lines[0][0] == "2 of 3 invoices passed"
    assert tile(response, "open_exceptions").value == "2"  # I4 and I9 are both B's
    assert [row["label"] for row in response.context["pareto"]["rows"]] == ["No PO"]
    assert {row["name"] for row in response.context["worst_vendors"]} == {
        "Bürotechnik Schneider GmbH"
    }
    # Every drill-down link carries the vendor.
    assert all(
        f"vendor={week['vendor_b'].pk}" in url
        for t in response.context["tiles"]
        for _text, url in t.lines
        if url
    )
    marketing = client.get(DASHBOARD, {**THE_WEEK, "department": "Marketing"})
    assert marketing.context["scope"].cost_center_ids == (week["marketing"].pk,)
    assert tile(marketing, "first_pass").lines[0][0] == "2 of 2 invoices passed"


def test_a_bad_filter_falls_back_to_the_company_with_a_message(client, people, week):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD, {"start": SUN.isoformat(), "end": MON.isoformat()})
    assert response.status_code == 200
    assert "The start date must be on or before the end date." in text_of(response)
    assert response.context["period"].days == 30


def test_targets_show_on_the_tiles(client, people, week):
    fiona = people["finance_leader"]
    KpiTarget.objects.create(kpi="first_pass", target=Decimal("45"), set_by=fiona, set_at=at(MON))
    KpiTarget.objects.create(kpi="cycle_time", target=Decimal("1"), set_by=fiona, set_at=at(MON))
    client.force_login(fiona)
    response = client.get(DASHBOARD, THE_WEEK)
    assert tile(response, "first_pass").target.text == "Target 45 %: met"
    assert tile(response, "first_pass").target.css == "tile-ok"
    assert tile(response, "cycle_time").target.text == "Target 1 days: 0.5 days off"
    assert tile(response, "cycle_time").target.css == "tile-danger"
    assert tile(response, "on_time").target.text == "No target set"
    charts = {chart["key"]: chart for chart in response.context["trends"]["charts"]}
    assert charts["first_pass"]["target"] == 45.0


def test_trend_charts_have_thirteen_weeks_with_links(client, people, week):
    client.force_login(people["finance_leader"])
    trends = client.get(DASHBOARD, THE_WEEK).context["trends"]
    assert len(trends["labels"]) == 13
    charts = {chart["key"]: chart for chart in trends["charts"]}
    assert set(charts) == {kpi.key for kpi in kpis.HEADLINE}
    assert charts["first_pass"]["values"][-1] == 50.0
    assert charts["cycle_time"]["values"][-1] == 1.5
    assert charts["open_exceptions"]["values"][-2:] == [1, 2]
    assert all(len(chart["urls"]) == 13 for chart in charts.values())


def test_requesters_see_numbers_without_drill_links(client, people, week):
    client.force_login(people["requester"])
    response = client.get(DASHBOARD, THE_WEEK)
    assert all(not url for t in response.context["tiles"] for _text, url in t.lines)
    assert "/metrics/dashboard/invoices/" not in response.content.decode()


def test_a_user_without_a_role_is_refused(client, db):
    client.force_login(factories.make_user("nobody"))
    assert client.get(DASHBOARD).status_code == 403


def test_an_empty_dashboard_shows_dashes_and_empty_states(client, people):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD)
    assert tile(response, "first_pass").value == "—"
    assert tile(response, "open_exceptions").value == "0"
    assert "No exceptions opened in this period." in text_of(response)


def count_queries(client, params) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(DASHBOARD, params).status_code == 200
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("view", ["overview", "buyers", "ap"])
def test_dashboard_queries_do_not_grow_with_invoices(client, people, week, view):
    client.force_login(people["finance_leader"])
    params = {**THE_WEEK, "view": view}
    client.get(DASHBOARD, params)  # warm the session and role caches
    small = count_queries(client, params)
    vendors = [factories.make_vendor(f"Extra Vendor {n}") for n in range(12)]
    for n in range(24):
        invoice = make_invoice(
            vendors[n % 12], po=week["po1"] if n % 2 else None, captured=at(WED, 9),
            total="120.00", status="exception", first_matched=at(WED, 9, 5), first_pass=False,
        )  # fmt: skip
        make_exception(invoice, "no_po" if n % 2 == 0 else "price_variance", opened=at(WED, 9, 5))
    rebuild_facts(MON, SUN)
    large = count_queries(client, params)
    assert len(large) == len(small)
    assert (
        client.get(DASHBOARD, params).context["tiles"][0].lines[0][0] == "4 of 32 invoices passed"
    )
    # The dashboard reads facts only, never the invoices or exceptions themselves.
    assert not any("payables_" in sql for sql in large)
