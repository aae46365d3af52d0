"""Two-factor enrolment clicked through in chromium: QR code drawn by the server, code typed."""

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice
from playwright.sync_api import expect

from tests.p2p.test_two_factor import code_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_manager_enrols_an_authenticator_app_in_the_browser(browser, people, settings):
    settings.MFA_REQUIRED_ROLES = ("ap_manager", "finance_leader")
    errors: list[str] = []

    martin = browser.login("martin")
    martin.on("console", lambda message: message.type == "error" and errors.append(message.text))
    expect(martin.get_by_role("heading", name="Two-factor sign-in")).to_be_visible()
    martin.get_by_role("button", name="Set up two-factor sign-in").click()
    expect(martin.locator("[data-qr] svg")).to_be_visible()
    pending = TOTPDevice.objects.get(user=people["ap_manager"], confirmed=False)
    martin.fill("input[name=code]", code_for(pending))
    martin.get_by_role("button", name="Turn on").click()

    expect(martin.locator(".messages")).to_contain_text("Two-factor sign-in is on")
    assert TOTPDevice.objects.get(user=people["ap_manager"]).confirmed
    assert errors == []
