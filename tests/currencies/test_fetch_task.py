"""The scheduled ECB fetch: off until ECB_RATES_URL is set; reads a URL without the internet."""

import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from currencies import tasks
from currencies.models import ExchangeRate
from p2p.exceptions import DomainError
from tests.currencies.conftest import DAILY, FIXTURES

pytestmark = pytest.mark.django_db


def test_fetch_is_off_by_default_and_says_so(settings, caplog):
    settings.ECB_RATES_URL = ""

    with caplog.at_level("INFO", logger="currencies.services"):
        answer = tasks.fetch_ecb_rates.delay().get()

    assert answer == "ECB_RATES_URL is not set: no rates fetched."
    assert "ECB_RATES_URL is empty" in caplog.text
    assert not ExchangeRate.objects.exists()


def test_the_setting_defaults_to_empty():
    from p2p import settings as project_settings

    assert project_settings.ECB_RATES_URL == ""


def test_fetch_imports_a_file_url(settings):
    settings.ECB_RATES_URL = DAILY.as_uri()

    answer = tasks.fetch_ecb_rates()

    assert answer == "1 day (2026-11-03): 30 new, 0 unchanged, 0 changed"
    assert ExchangeRate.objects.count() == 30


@pytest.fixture
def rates_server():
    """A tiny HTTP server on localhost serving the fixture files."""
    handler = partial(SimpleHTTPRequestHandler, directory=str(FIXTURES))
    handler.log_message = lambda *args: None
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_fetch_over_http_twice_changes_nothing_the_second_time(settings, rates_server):
    settings.ECB_RATES_URL = f"{rates_server}/eurofxref-hist-extract.xml"

    first, second = tasks.fetch_ecb_rates(), tasks.fetch_ecb_rates()

    assert first.endswith("15 new, 0 unchanged, 0 changed")
    assert second.endswith("0 new, 15 unchanged, 0 changed")


def test_fetch_reports_an_unreachable_url(settings, rates_server):
    settings.ECB_RATES_URL = f"{rates_server}/missing.xml"

    with pytest.raises(DomainError, match="Could not fetch the ECB rates from .*missing.xml"):
        tasks.fetch_ecb_rates()


def test_fetch_refuses_other_schemes(settings):
    settings.ECB_RATES_URL = "ftp://example.com/eurofxref-daily.xml"

    with pytest.raises(DomainError, match="ECB_RATES_URL must start with"):
        tasks.fetch_ecb_rates()
