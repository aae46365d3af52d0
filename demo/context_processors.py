"""Development only: the login page lists the demo users that `make run` loads."""

from typing import Any

from django.http import HttpRequest

from demo.people import DEMO_PASSWORD, DEMO_USERS


def demo_login_context() -> dict[str, Any]:
    """What the login page lists in development: the demo users and their password."""
    return {
        "demo_logins": [{"username": u, "role": label} for u, _, _, _, label in DEMO_USERS],
        "demo_password": DEMO_PASSWORD,
    }


def demo_logins(request: HttpRequest) -> dict[str, Any]:
    """Template context processor, enabled in settings outside production."""
    return demo_login_context()
