"""Every main page, opened by each role in chromium, logs nothing to the console: no script or
style refused by the Content-Security-Policy, no missing favicon, no script error."""

import pytest

from p2p.roles import NAVIGATION, may
from tests import factories

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

EXTRA_PAGES = {
    "rita": ["/procurement/requests/new/", "/account/api-tokens/"],
    "carla": ["/payables/invoices/new/", "/payables/invoices/import/", "/api/docs/"],
    "fiona": ["/metrics/weekly/"],
}


def test_main_pages_log_no_console_errors_for_any_role(browser, people, setup_org):
    from django.contrib.auth.models import User
    from django.urls import reverse

    factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    problems: list[str] = []
    for username in ("rita", "alex", "bob", "carla", "martin", "fiona"):
        user = User.objects.get(username=username)
        page = browser.login(username)
        page.on(
            "console",
            lambda message, who=username, page=page: (
                message.type in ("error", "warning")
                and problems.append(f"{who} {page.url}: {message.text}")
            ),
        )
        page.on("pageerror", lambda error, who=username: problems.append(f"{who}: {error}"))
        page.on(
            "response",
            lambda response, who=username: (
                response.status >= 400
                and problems.append(f"{who}: {response.status} {response.url}")
            ),
        )
        paths = [reverse(name) for _, name, perm in NAVIGATION if may(user, perm)]
        for path in paths + EXTRA_PAGES.get(username, []):
            page.goto(path)
            page.wait_for_load_state("load")
        page.context.close()

    assert problems == []
    assert browser.foreign_requests() == []
