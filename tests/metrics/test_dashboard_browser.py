"""The dashboard in chromium: every chart drawn from local assets, a number opened, a target set."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browser  # noqa: F401  (the chromium fixture)
from tests.metrics.conftest import MON, SUN

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_finance_reads_the_charts_drills_in_and_sets_a_target(browser, people, week):  # noqa: F811
    fiona = browser.login("fiona")
    errors: list[str] = []
    fiona.on("pageerror", lambda error: errors.append(str(error)))
    fiona.goto(f"/metrics/dashboard/?start={MON}&end={SUN}")
    specs = fiona.evaluate(
        "JSON.parse(document.getElementById('kpi-charts').textContent).map(s => s.id)"
    )
    assert len(specs) == 11  # 7 trends, Pareto, aging, discounts, vendors
    drawn = fiona.evaluate("ids => ids.filter(id => Chart.getChart(id) !== undefined)", specs)
    assert drawn == specs

    fiona.get_by_role("link", name="4 of 8 invoices passed").click()
    expect(fiona.locator("h1")).to_contain_text("4 invoices · first matched · passed")
    expect(fiona.locator("table.data tbody tr")).to_have_count(4)

    fiona.goto("/metrics/targets/")
    fiona.fill("#target-input-first_pass", "45")
    fiona.locator("#target-first_pass button[type=submit]").click()
    expect(fiona.locator("#target-rows")).to_contain_text("Target for First-pass match rate saved.")
    fiona.goto(f"/metrics/dashboard/?start={MON}&end={SUN}")
    expect(fiona.locator('[data-kpi="first_pass"]')).to_contain_text("Target 45 %: met")

    assert errors == []
    assert browser.foreign_requests() == []
