"""The vendor scorecard: accuracy, exceptions, price variance, on-time payment and discounts,
computed by a fixed number of aggregate queries however many invoices there are."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payables.selectors import vendors as vendor_figures
from payables.services.matching import run_matching
from payables.services.payments import payment_run_approve, payment_run_propose
from payables.services.settlement import payment_run_mark_paid
from tests import factories
from tests.flow import invoice, issued_po, receive

pytestmark = pytest.mark.django_db


def billed(people, setup_org, vendor, number, price, invoice_date):
    po = issued_po(people, setup_org, vendor=vendor)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, number, {1: ("40", price)}, invoice_date=invoice_date)
    run_matching([inv.pk])
    inv.refresh_from_db()
    return inv


@pytest.fixture
def vendor_history(people, setup_org):
    vendor = factories.make_vendor("Drukkerij Hollandia B.V.", terms=factories.two_ten_net30())
    # Paid inside its discount window, on time; clean.
    paid = billed(people, setup_org, vendor, "DH-1", "23.50", dt.date(2026, 11, 2))
    # Billed 25.00 against a PO price of 23.50: a price-variance exception.
    billed(people, setup_org, vendor, "DH-2", "25.00", dt.date(2026, 11, 3))
    # Clean, but its discount window closed on 11 Oct without payment: a missed discount.
    billed(people, setup_org, vendor, "DH-3", "23.50", dt.date(2026, 10, 1))
    run = payment_run_propose(
        by=people["ap_clerk"],
        pay_date=dt.date(2026, 11, 10),
        horizon_date=dt.date(2026, 11, 10),
        currency="EUR",
    )
    payment_run_approve(run=run, by=people["ap_manager"])
    payment_run_mark_paid(run=run, by=people["ap_clerk"], paid_on=dt.date(2026, 11, 10))
    paid.refresh_from_db()
    assert paid.status == "paid"
    return vendor


def test_scorecard_figures(vendor_history):
    card = vendor_figures.vendor_scorecard(vendor_history, "12m")
    assert (card.invoices, card.clean_invoices) == (3, 2)
    assert card.accuracy == Decimal(2) / 3
    assert [(e.type, e.count, e.open) for e in card.exceptions] == [("price_variance", 1, 1)]
    assert (card.priced_lines, card.lines_above_po_price) == (3, 1)
    # (0 + (25.00 − 23.50) ÷ 23.50 + 0) ÷ 3 = 2.13 %
    assert card.average_price_variance.quantize(Decimal("0.0001")) == Decimal("0.0213")
    # DH-3 is due 31 Oct, inside the 10 Nov run's horizon, so it is paid late; DH-1 on time.
    assert (card.paid, card.paid_on_time) == (2, 1)
    # Offered on all three (their windows have closed); taken only on DH-1. DH-2 (24.20 on
    # 1,210.00) was stuck in exception past its window, DH-3 was paid after its window.
    assert [(d.currency, d.available, d.taken, d.missed) for d in card.discounts] == [
        ("EUR", Decimal("69.70"), Decimal("22.75"), Decimal("46.95"))
    ]


def test_scorecard_on_the_vendor_page_and_the_api(client, people, vendor_history):
    client.force_login(people["buyer"])
    page = client.get(reverse("vendors:vendor_detail", args=[vendor_history.pk]))
    html = page.content.decode()
    assert "Invoice accuracy" in html and "66.7 %" in html and "2.13 %" in html
    assert "22.75 EUR" in html and "Price variance" in html
    fragment = client.get(
        reverse("vendors:vendor_detail", args=[vendor_history.pk]),
        {"period": "90d"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="scorecard",
    )
    assert fragment.content.decode().lstrip().startswith('<div class="card" id="scorecard">')
    api = client.get(f"/api/vendors/{vendor_history.pk}/scorecard/", {"period": "all"}).json()
    assert api["invoices"] == 3 and api["accuracy"] == "0.6667"
    assert api["exceptions"] == [
        {"type": "price_variance", "label": "Price variance", "count": 1, "open": 1}
    ]
    assert api["discounts"] == [
        {"currency": "EUR", "available": "69.70", "taken": "22.75", "missed": "46.95"}
    ]


def test_scorecard_query_count_does_not_grow_with_invoices(people, setup_org):
    vendor = factories.make_vendor("Drukkerij Hollandia B.V.", terms=factories.two_ten_net30())
    billed(people, setup_org, vendor, "DH-1", "23.50", dt.date(2026, 11, 2))
    with CaptureQueriesContext(connection) as few:
        vendor_figures.vendor_scorecard(vendor)
    for n in range(2, 7):
        billed(people, setup_org, vendor, f"DH-{n}", "25.00", dt.date(2026, 11, 2))
    with CaptureQueriesContext(connection) as many:
        card = vendor_figures.vendor_scorecard(vendor)
    assert card.invoices == 6
    assert len(many) == len(few) == 4


def test_a_vendor_without_invoices_has_an_empty_scorecard(client, people):
    vendor = factories.make_vendor()
    card = vendor_figures.vendor_scorecard(vendor)
    assert (card.invoices, card.accuracy, card.on_time_rate, card.discounts) == (0, None, None, ())
    client.force_login(people["ap_clerk"])
    html = client.get(reverse("vendors:vendor_detail", args=[vendor.pk])).content.decode()
    assert "No invoices from this vendor in this period." in html


def test_vendor_page_queries_do_not_grow_with_its_documents(client, people, setup_org):
    vendor = factories.make_vendor("Drukkerij Hollandia B.V.", terms=factories.two_ten_net30())
    billed(people, setup_org, vendor, "DH-1", "23.50", dt.date(2026, 11, 2))
    client.force_login(people["ap_clerk"])
    page = reverse("vendors:vendor_detail", args=[vendor.pk])
    client.get(page)
    with CaptureQueriesContext(connection) as few:
        client.get(page)
    for n in range(2, 6):
        billed(people, setup_org, vendor, f"DH-{n}", "25.00", dt.date(2026, 11, 2))
    with CaptureQueriesContext(connection) as many:
        html = client.get(page).content.decode()
    assert html.count("DH-") >= 5  # every invoice is listed, open or with its exception
    assert len(many) == len(few)
