"""Every dashboard number opens the list behind it, and the list has exactly that many rows."""

import re
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from metrics import selectors
from metrics.selectors import Scope
from tests import factories
from tests.metrics.builders import at, make_invoice
from tests.metrics.conftest import MON, SUN, WED

pytestmark = pytest.mark.django_db

DASHBOARD = reverse("metrics:dashboard")
INVOICES = reverse("metrics:drill_invoices")
EXCEPTIONS = reverse("metrics:drill_exceptions")
THE_WEEK = {"start": MON.isoformat(), "end": SUN.isoformat()}


def leading_number(text: str) -> int:
    return int(re.match(r"[\d,]+", text.split(": ")[-1]).group().replace(",", ""))


def drill_count(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["count"]


def test_every_count_on_the_tiles_equals_its_list(client, people, week):
    client.force_login(people["ap_manager"])
    response = client.get(DASHBOARD, {**THE_WEEK, "view": "overview"})
    checked = 0
    for tile in response.context["tiles"]:
        for text, url in tile.lines:
            money = re.search(r"\b[A-Z]{3}\b", text)
            if not url or money:
                continue
            if text.startswith("capture →"):  # "capture → paid: 4 days, 3 invoices"
                expected = int(re.search(r"(\d+) invoice", text).group(1))
            elif re.match(r"^(\d|[A-Z][\w /]+: \d)", text):
                expected = leading_number(text)
            else:
                continue
            assert drill_count(client, url) == expected, (tile.kpi.key, text)
            checked += 1
    assert checked == 11


def test_money_on_the_tiles_equals_its_list(client, people, week):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD, THE_WEEK)
    compliance = next(t for t in response.context["tiles"] if t.kpi.key == "po_compliance")
    on_po = client.get(compliance.lines[0][1]).context["summary"]
    assert [(row["currency"], row["spend"]) for row in on_po] == [("EUR", Decimal("2507.00"))]
    discount = next(t for t in response.context["tiles"] if t.kpi.key == "discount_capture")
    missed = client.get(discount.lines[1][1]).context["summary"]
    assert [(row["available"] - row["taken"]) for row in missed] == [Decimal("16.94")]


@pytest.mark.parametrize(
    ("event", "part", "expected"),
    [
        ("captured", "all", 8),
        ("captured", "matched", 6),
        ("captured", "clean", 4),
        ("captured", "off_po", 1),
        ("first_match", "all", 8),
        ("first_match", "first_pass", 4),
        ("approved", "touchless", 4),
        ("approved", "touched", 2),
        ("paid", "late", 1),
        ("discount", "all", 3),
        ("discount", "missed", 2),
    ],
)
def test_invoice_lists_equal_the_facts(client, people, week, event, part, expected):
    client.force_login(people["finance_leader"])
    response = client.get(INVOICES, {**THE_WEEK, "event": event, "part": part})
    assert response.context["count"] == expected
    assert len(response.context["page"].object_list) == expected


def test_exception_lists_equal_the_facts(client, people, week):
    client.force_login(people["ap_clerk"])
    totals = selectors.daily_kpis(Scope(), MON, SUN).between(MON, SUN)
    opened = drill_count(client, f"{EXCEPTIONS}?event=opened&start={MON}&end={SUN}")
    resolved = drill_count(client, f"{EXCEPTIONS}?event=resolved&start={MON}&end={SUN}")
    assert (opened, resolved) == (totals.exceptions_opened, totals.exceptions_resolved) == (4, 3)
    open_at_end = drill_count(client, f"{EXCEPTIONS}?event=open&start={SUN}&end={SUN}")
    assert open_at_end == selectors.open_snapshots(Scope(), [SUN])[SUN].total == 2
    aged = drill_count(client, f"{EXCEPTIONS}?event=open&start={SUN}&end={SUN}&age=d15_30")
    assert aged == 1  # I9, opened 20 Feb
    for row in client.get(DASHBOARD, {**THE_WEEK, "view": "ap"}).context["pareto"]["rows"]:
        assert drill_count(client, row["url"]) == row["opened"]


def test_pareto_and_aging_counts_equal_their_lists(client, people, week):
    client.force_login(people["ap_manager"])
    response = client.get(DASHBOARD, {**THE_WEEK, "view": "overview"})
    for row in response.context["pareto"]["rows"]:
        assert drill_count(client, row["url"]) == row["opened"], row["label"]
    for row in response.context["aging"]["rows"]:
        for cell in row["cells"]:
            assert drill_count(client, cell["url"]) == cell["count"]


def test_drill_links_keep_the_filters(client, people, week):
    client.force_login(people["finance_leader"])
    response = client.get(DASHBOARD, {**THE_WEEK, "vendor": week["vendor_a"].pk})
    url = response.context["tiles"][0].lines[0][1]
    assert parse_qs(urlparse(url).query)["vendor"] == [str(week["vendor_a"].pk)]
    listed = client.get(url)
    assert {row.vendor_id for row in listed.context["page"].object_list} == {week["vendor_a"].pk}
    assert listed.context["count"] == 2  # I1 and I8 passed first time


def test_invoice_rows_link_to_the_invoice(client, people, week):
    client.force_login(people["buyer"])
    response = client.get(INVOICES, {**THE_WEEK, "event": "paid", "part": "late"})
    page = response.content.decode()
    assert reverse("payables:invoice_detail", args=[week["invoices"]["i3"].pk]) in page
    assert "BTS-7" in page


def test_exception_rows_link_where_the_reader_may_go(client, people, week):
    i2_exception = week["invoices"]["i2"].exceptions.get()
    params = {**THE_WEEK, "event": "opened", "type": "price_variance"}
    client.force_login(people["ap_clerk"])
    [row] = client.get(EXCEPTIONS, params).context["page"].object_list
    assert row.link == reverse("payables:exception_detail", args=[i2_exception.pk])
    client.force_login(people["finance_leader"])  # reads invoices, not the AP queue
    [row] = client.get(EXCEPTIONS, params).context["page"].object_list
    assert row.link == reverse("payables:invoice_detail", args=[week["invoices"]["i2"].pk])


@pytest.mark.parametrize("role", ["requester", "approver"])
def test_lists_are_for_those_who_read_invoices(client, people, week, role):
    client.force_login(people[role])
    assert client.get(INVOICES, {**THE_WEEK, "event": "captured"}).status_code == 403
    assert client.get(EXCEPTIONS, {**THE_WEEK, "event": "opened"}).status_code == 403


@pytest.mark.parametrize(
    "params",
    [
        {"event": "captured"},  # no period
        {**THE_WEEK, "event": "shipped"},
        {**THE_WEEK, "event": "captured", "part": "lucky"},
        {"start": SUN.isoformat(), "end": MON.isoformat(), "event": "paid"},
        {**THE_WEEK, "event": "paid", "vendor": "999999"},
    ],
)
def test_a_broken_link_says_what_is_wrong(client, people, params):
    client.force_login(people["finance_leader"])
    response = client.get(INVOICES, params)
    assert response.status_code == 400
    assert "This list cannot be shown" in response.content.decode()


def test_list_queries_do_not_grow_with_rows(client, people, week):
    client.force_login(people["finance_leader"])
    params = {**THE_WEEK, "event": "captured"}
    client.get(INVOICES, params)
    with CaptureQueriesContext(connection) as small:
        client.get(INVOICES, params)
    vendor = factories.make_vendor("Extra Vendor")
    for _n in range(12):
        make_invoice(vendor, po=week["po1"], captured=at(WED, 9), total="10.00")
    from metrics.rollup import rebuild_facts

    rebuild_facts(MON, SUN)
    with CaptureQueriesContext(connection) as large:
        response = client.get(INVOICES, params)
    assert response.context["count"] == 20
    assert len(large) == len(small)
