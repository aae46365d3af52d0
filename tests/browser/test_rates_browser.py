"""Finance uploads the ECB file in a real browser and reads the rates, at desk and phone width."""

import pytest

from tests import factories
from tests.currencies.conftest import DAILY

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


def test_upload_the_ecb_file_and_read_the_rates(browser):
    factories.make_user("fiona", "finance_leader")
    page = browser.login("fiona")

    page.goto("/currencies/rates/")
    page.click("text=Import ECB file")
    page.set_input_files("input[name=file]", str(DAILY))
    page.click("button:has-text('Import')")

    result = page.locator("#import-result")
    assert "30" in result.inner_text()
    assert "1 day (2026-11-03): 30 new, 0 unchanged, 0 changed" in page.content()

    page.click("text=See these rates")
    page.fill("input[name=currency]", "usd")
    page.click("button:has-text('Filter')")
    table = page.locator("table.data").inner_text()
    assert "1 EUR = 1.0823 USD" in table and "JPY" not in table

    page.set_viewport_size(PHONE)
    for path in ("/currencies/rates/", "/currencies/rates/import/", "/currencies/rates/manual/"):
        page.goto(path)
        assert page.evaluate(PAGE_WIDTH) <= PHONE["width"], path
    assert browser.foreign_requests() == []
