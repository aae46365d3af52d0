"""A sent run in chromium: the bank's answer recorded, one payment voided, a file replaced."""

import pytest
from playwright.sync_api import expect

from payables.models.invoices import Invoice
from payables.models.payments import PaymentExport
from tests.browser.conftest import browser  # noqa: F401  (the chromium fixture)
from tests.payables.payment_data import office_depot_run_sent

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_bank_answer_then_void_and_replace_from_the_run_page(
    browser,  # noqa: F811
    people,
):
    run = office_depot_run_sent(people)
    carla = browser.login("carla")
    carla.goto(f"/payables/runs/{run.pk}/")
    expect(carla.get_by_role("button", name="Cancel run")).to_have_count(0)

    carla.locator("summary", has_text="Bank confirmed not paid").click()
    carla.get_by_label(
        "What the bank confirmed about the payment to Office Depot B.V."
    ).select_option("not_executed")
    carla.get_by_label("The bank's reference for the payment to Office Depot B.V.").fill(
        "ABN-2026-11-0477"
    )
    carla.get_by_role("button", name="Record").click()
    expect(carla.get_by_role("status")).to_contain_text("was not executed by the bank")

    martin = browser.login("martin")
    martin.goto(f"/payables/runs/{run.pk}/")
    expect(martin.locator("body")).to_contain_text("Bank: Not executed by the bank")
    martin.locator("tr", has_text="OD-1").locator("summary", has_text="Void").click()
    martin.get_by_label("Reason for voiding the payment of OD-1").fill(
        "Not executed, pay next week"
    )
    martin.get_by_role("button", name="Void payment").click()
    expect(martin.get_by_role("status")).to_contain_text("Payment of OD-1 voided")

    original = run.exports.get(format=PaymentExport.Format.PAIN001)
    martin.locator("tr", has_text=original.filename).locator("summary", has_text="Replace").click()
    martin.get_by_label(f"Why {original.filename} is replaced").fill("Upload truncated")
    martin.get_by_role("button", name="Replace, same ids").first.click()
    expect(martin.get_by_role("status")).to_contain_text(f"same message id {original.message_id}")
    expect(martin.locator("body")).to_contain_text("Superseded")
    martin.screenshot(path="/tmp/pay_run_page.png", full_page=True)

    assert Invoice.objects.get(number="OD-1").status == Invoice.Status.APPROVED
    assert Invoice.objects.get(number="OD-2").status == Invoice.Status.SCHEDULED
    assert browser.foreign_requests() == []
