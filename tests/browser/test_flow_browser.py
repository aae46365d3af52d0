"""The purchase flow clicked through in chromium, with htmx and Chart.js served by the app.

Matching runs eagerly inside the live server's thread once the capture commits, exactly as
a worker would run it a moment later in production.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from playwright.sync_api import expect

from metrics.rollup import rebuild_facts
from payables.models.invoices import Invoice
from payables.services.matching import run_matching
from procurement.models import PurchaseOrder, PurchaseRequest
from procurement.services.requests import LineInput, request_create, request_submit
from tests import factories
from tests.flow import invoice, issued_po, receive

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_request_to_approved_invoice_in_the_browser(browser, people, setup_org):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")

    # Rita raises a two-line request; the second row comes from htmx, served by the app.
    rita = browser.login("rita")
    rita.goto("/procurement/requests/new/")
    assert rita.evaluate("typeof htmx") == "object"
    rita.fill("input[name=title]", "Office supplies Q4")
    rita.select_option("select[name=cost_center]", str(setup_org["cost_center"].pk))
    rita.select_option("select[name=gl_account]", str(setup_org["gl_account"].pk))
    rita.fill("input[name=lines-0-description]", "A4 copy paper, box of 5 reams")
    rita.fill("input[name=lines-0-quantity]", "40")
    rita.fill("input[name=lines-0-unit_price]", "23.50")
    rita.get_by_role("button", name="+ Add line").click()
    rita.fill("input[name=lines-1-description]", "HP 305A toner, black")
    rita.fill("input[name=lines-1-quantity]", "4")
    rita.fill("input[name=lines-1-unit_price]", "89.90")
    expect(rita.locator("[data-request-total]")).to_have_text("1,299.60 EUR")
    rita.get_by_role("button", name="Save and submit").click()
    expect(rita.locator(".messages")).to_contain_text("sent for approval")
    pr = PurchaseRequest.objects.get()
    assert (pr.status, pr.lines.count()) == (PurchaseRequest.Status.PENDING_APPROVAL, 2)

    # Alex approves from the inbox; htmx swaps the row in place.
    alex = browser.login("alex")
    alex.goto("/procurement/approvals/")
    row = alex.locator("tr", has_text=pr.number)
    row.get_by_role("button", name="Approve").click()
    expect(row.locator(".badge")).to_have_text("Approved")
    pr.refresh_from_db()
    assert pr.status == PurchaseRequest.Status.APPROVED

    # Bob orders it from the vendor and issues the PO.
    bob = browser.login("bob")
    bob.goto(f"/procurement/requests/{pr.pk}/")
    bob.get_by_role("link", name="Create PO").click()
    bob.select_option("select[name=vendor]", str(vendor.pk))
    bob.get_by_role("button", name="Create draft PO").click()
    bob.get_by_role("button", name="Issue PO").click()
    expect(bob.locator(".messages")).to_contain_text("issued to Kantoorhuis Van Dijk B.V.")
    po = PurchaseOrder.objects.get()
    assert po.status == PurchaseOrder.Status.ISSUED

    # Rita records what arrived.
    rita.goto(f"/procurement/orders/{po.pk}/")
    rita.get_by_role("link", name="Record receipt").click()
    rita.fill("input[name=receipt-0-received_qty]", "40")
    rita.fill("input[name=receipt-1-received_qty]", "4")
    rita.get_by_role("button", name="Post receipt").click()
    expect(rita.locator(".messages")).to_contain_text(f"recorded on {po.number}")

    # Carla picks the PO; its lines fill in from it; the match approves the invoice.
    carla = browser.login("carla")
    carla.goto("/payables/invoices/new/")
    carla.select_option("#po-select", str(po.pk))
    expect(carla.locator("input[name=lines-0-quantity]")).to_have_value("40")
    expect(carla.locator("input[name=lines-1-unit_price]")).to_have_value("89.9")
    expect(carla.locator("[data-total]")).to_have_text("1,572.52 EUR")  # 1,299.60 + 21 % tax
    carla.fill("input[name=number]", "KVD-2026-0417")
    carla.get_by_role("button", name="Capture invoice").click()
    expect(carla.locator("h1 .badge")).to_have_text("Approved")
    expect(carla.locator(".tiles")).to_contain_text("touchless")
    assert Invoice.objects.get(number="KVD-2026-0417").status == Invoice.Status.APPROVED

    assert browser.foreign_requests() == []


def test_finance_leader_sees_the_kpi_chart_drawn_locally(browser, people, setup_org):
    today = timezone.localdate()
    po = issued_po(people, setup_org)  # 40 boxes of copy paper at 23.50
    receive(po, people, {1: "40"})
    first = invoice(po, people, "KVD-101", {1: ("10", "23.50")}, invoice_date=today)
    variance = invoice(po, people, "KVD-102", {1: ("10", "24.95")}, invoice_date=today)
    run_matching([first.pk, variance.pk])
    rebuild_facts(today - dt.timedelta(days=29), today)

    fiona = browser.login("fiona")
    fiona.goto("/metrics/dashboard/")
    expect(fiona.locator(".tiles")).to_contain_text("50.0 %")  # one of two first-pass
    assert fiona.evaluate("typeof Chart") == "function"
    # Chart.js drew into the page's canvases: charts are bound to them and they have a size.
    canvases, sizes = fiona.evaluate(
        """() => {
            const canvases = [...document.querySelectorAll("canvas")];
            const drawn = canvases.filter((canvas) => Chart.getChart(canvas) !== undefined);
            return [canvases.length, drawn.map((canvas) => [canvas.width, canvas.height])];
        }"""
    )
    assert canvases >= 1 and len(sizes) >= 1, f"{len(sizes)} of {canvases} canvases drawn"
    assert all(width > 100 and height > 50 for width, height in sizes), sizes
    assert any(url.endswith("/static/vendor/chartjs/chart.umd.min.js") for url in browser.requested)

    assert browser.foreign_requests() == []


def test_a_quote_is_removed_with_a_reason_and_finance_still_reads_it(
    browser, people, setup_org, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    request = request_create(
        by=people["requester"],
        title="Meeting chairs",
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        lines=[LineInput("Meeting chair, grey", Decimal("12"), Decimal("149.00"))],
        attachments=[SimpleUploadedFile("quote-1788.pdf", b"%PDF-1.4\n%%EOF\n", "application/pdf")],
    )
    request_submit(request=request, by=people["requester"])

    rita = browser.login("rita")
    rita.goto(f"/procurement/requests/{request.pk}/")
    rita.get_by_label("Remove quote-1788.pdf").click()
    rita.get_by_label("Reason for removing quote-1788.pdf").fill("Quote expired")
    rita.get_by_role("button", name="Remove", exact=True).click()
    expect(rita.locator(".messages")).to_contain_text("quote-1788.pdf removed.")
    expect(rita.get_by_role("link", name="quote-1788.pdf")).to_have_count(0)

    fiona = browser.login("fiona")
    fiona.goto(f"/procurement/requests/{request.pk}/")
    expect(fiona.get_by_text("removed by Rita")).to_contain_text("“Quote expired”")
    expect(fiona.get_by_role("link", name="quote-1788.pdf")).to_have_count(1)
    assert browser.foreign_requests() == []
