"""On a 390 px phone the pages never scroll sideways: wide tables scroll inside their card."""

import datetime as dt

import pytest
from django.utils import timezone

from payables.services import payments
from tests import factories
from tests.payables.payment_data import approved, company
from tests.procurement.conftest import raise_request

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

PHONE = {"width": 390, "height": 844}
PAGE_WIDTH = "() => document.documentElement.scrollWidth"


def test_run_and_approval_pages_fit_a_phone(browser, people, setup_org):
    company()
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    today = timezone.localdate()
    approved(vendor, "KVD-2026-00466", invoice_date=today - dt.timedelta(days=25), amount="1788.00")
    run = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=today, horizon_date=today + dt.timedelta(days=14)
    )
    raise_request(people, setup_org, amount="298.00", quantity="6")
    pages = {
        "carla": ["/payables/runs/", f"/payables/runs/{run.pk}/", "/payables/exceptions/"],
        "alex": ["/procurement/approvals/"],
    }

    too_wide, shown = [], []
    for username, paths in pages.items():
        page = browser.login(username)
        page.set_viewport_size(PHONE)
        for path in paths:
            page.goto(path)
            shown.append(page.content())
            width = page.evaluate(PAGE_WIDTH)
            if width > PHONE["width"]:
                too_wide.append(f"{username} {path}: {width} px")
        page.context.close()

    # The wide tables are really there: the run's invoice and the request waiting for alex.
    assert "1,788.00 EUR" in shown[1] and "Meeting chairs" in shown[3]
    assert too_wide == []
