"""A real browser against the live server: Debian's chromium driven by Playwright.

Playwright never downloads a browser here; CI installs the `chromium` package. A missing
/usr/bin/chromium fails the browser tests loudly instead of skipping them, so a green run
always means the pages were really clicked through.
"""

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests import factories

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
# Generous for a page load on a busy 2-core CI box, small enough to fail a test fast.
TIMEOUT_MS = 10_000


@dataclass
class Browser:
    """One chromium per test; one context (own cookies) per user, every request recorded."""

    playwright_browser: object
    base_url: str
    requested: list[str] = field(default_factory=list)

    def login(self, username: str):
        """A page in a fresh context, signed in through the login form."""
        context = self.playwright_browser.new_context(
            base_url=self.base_url, viewport={"width": 1440, "height": 900}
        )
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        page.on("request", lambda request: self.requested.append(request.url))
        page.goto("/login/")
        page.fill("input[name=username]", username)
        page.fill("input[name=password]", factories.PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login/" not in url)
        return page

    def foreign_requests(self) -> list[str]:
        """Requests to anything but the live server (a CDN, fonts, telemetry)."""
        ours = urlsplit(self.base_url).netloc
        return [
            url
            for url in self.requested
            if urlsplit(url).scheme not in ("data", "blob", "about")
            and urlsplit(url).netloc != ours
        ]


@pytest.fixture
def browser(live_server) -> Iterator[Browser]:
    """Chromium for one test, started after the live server and closed before it stops."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"Browser tests need Debian's chromium at {CHROMIUM}: apt-get install chromium "
            "(.ci/run installs it).",
            pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the test's own ORM calls
    # (fixtures, assertions) are still plain synchronous code, so Django may allow them.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield Browser(chromium, live_server.url)
        finally:
            chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
