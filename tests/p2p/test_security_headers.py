"""Pages run only the app's own script files, under a Content-Security-Policy, and have an icon."""

import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)


def policy_of(response) -> dict[str, list[str]]:
    directives = [part.strip().split() for part in response["Content-Security-Policy"].split(";")]
    return {name: sources for name, *sources in directives if name}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("ap_clerk", "/payables/invoices/"),
        ("ap_clerk", "/payables/exceptions/"),
        ("requester", "/procurement/requests/new/"),
        ("finance_leader", "/metrics/"),
    ],
)
def test_pages_allow_only_own_scripts(client, people, role, path):
    client.force_login(people[role])

    policy = policy_of(client.get(path))

    assert policy["script-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


@pytest.mark.django_db
def test_login_page_and_api_docs_carry_the_policy(client, people):
    assert "script-src 'self'" in client.get("/login/")["Content-Security-Policy"]
    client.force_login(people["ap_clerk"])
    docs = client.get("/api/docs/")
    assert "script-src 'self'" in docs["Content-Security-Policy"]
    assert not INLINE_SCRIPT.search(docs.content.decode())


def test_no_template_has_inline_script_or_event_handler():
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        if "/email/" in template.as_posix() or template.name.endswith("_email.html"):
            continue  # read in mail clients, never under our policy
        text = template.read_text()
        offenders += [
            f"{template.relative_to(TEMPLATES)}: {m.group(0)[:60]}"
            for m in INLINE_SCRIPT.finditer(text)
        ]
        offenders += [
            f"{template.relative_to(TEMPLATES)}: {m.group(0)[:60]}"
            for m in EVENT_HANDLER.finditer(text)
        ]
    assert offenders == []


@pytest.mark.django_db
def test_every_page_links_the_favicon_and_favicon_ico_finds_it(client, people):
    assert finders.find("favicon.svg")
    assert 'rel="icon"' in client.get("/login/").content.decode()

    response = client.get("/favicon.ico")

    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
