"""The queue worked from the keyboard in chromium: move, claim, open the context, resolve."""

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import browser  # noqa: F401  (the chromium fixture)
from tests.payables.exception_flow import price_variance

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_clerk_claims_and_resolves_from_the_keyboard_without_a_reload(
    browser,  # noqa: F811
    people,
    setup_org,
):
    exception = price_variance(people, setup_org)
    carla = browser.login("carla")
    carla.goto("/payables/exceptions/")
    # A marker on the window survives only if no full page load happens in between.
    carla.evaluate("window.__sameDocument = true")

    carla.keyboard.press("j")
    row = carla.locator(f"#ex-{exception.pk}")
    expect(row).to_have_class("queue-row kb-current")
    carla.keyboard.press("c")
    expect(row).to_contain_text("Claimed by you")
    carla.keyboard.press("i")
    drawer = carla.locator(f"#ctx-{exception.pk}")
    expect(drawer).to_contain_text("PO price")
    drawer.locator("summary", has_text="Accept the variance").click()
    drawer.get_by_role("button", name="Accept the variance and approve").click()

    expect(drawer).to_contain_text("Variance accepted")
    expect(carla.locator(f"#ex-{exception.pk}")).to_contain_text("Accept variance")
    assert carla.evaluate("window.__sameDocument") is True
    exception.refresh_from_db()
    assert (exception.status, exception.resolved_by.username) == ("resolved", "carla")
    assert browser.foreign_requests() == []
