"""Guessing passwords: every login surface locks the account and the address after a few tries."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

from tests import factories

WRONG = "Winter2026!"


def web_login(client: Client, username: str, password: str):
    return client.post("/login/", {"username": username, "password": password})


def admin_login(client: Client, username: str, password: str):
    return client.post("/admin/login/", {"username": username, "password": password})


def token_login(client: APIClient, username: str, password: str):
    return client.post("/api/auth/token/", {"username": username, "password": password})


@pytest.mark.parametrize(
    ("login", "make_client"),
    [(web_login, Client), (admin_login, Client), (token_login, APIClient)],
    ids=["web", "admin", "api-token"],
)
def test_right_password_refused_after_five_wrong_ones(people, login, make_client, settings):
    settings.AXES_FAILURE_LIMIT = 5
    people["ap_manager"].is_staff = True
    people["ap_manager"].save(update_fields=["is_staff"])
    client = make_client()
    for _ in range(4):
        assert login(client, "martin", WRONG).status_code in (200, 400)
    assert login(client, "martin", WRONG).status_code == 429

    response = login(client, "martin", factories.PASSWORD)

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert "token" not in response.content.decode()


def test_account_is_locked_whatever_address_the_guesses_come_from(people):
    for number in range(5):
        web_login(Client(REMOTE_ADDR=f"198.51.100.{number}"), "carla", WRONG)

    response = web_login(Client(REMOTE_ADDR="203.0.113.7"), "carla", factories.PASSWORD)

    assert response.status_code == 429
    assert "ask an administrator to unlock" in response.content.decode()


def test_address_is_locked_after_guesses_on_different_accounts(people):
    client = Client(REMOTE_ADDR="198.51.100.20")
    for username in ("rita", "alex", "bob", "carla", "fiona"):
        web_login(client, username, WRONG)

    assert web_login(client, "martin", factories.PASSWORD).status_code == 429
    # Someone else in the building still signs in.
    assert (
        web_login(Client(REMOTE_ADDR="198.51.100.21"), "martin", factories.PASSWORD).status_code
        == 302
    )


def test_admin_unlock_lets_the_user_sign_in_again(people):
    client = Client(REMOTE_ADDR="198.51.100.30")
    for _ in range(5):
        web_login(client, "carla", WRONG)
    assert web_login(client, "carla", factories.PASSWORD).status_code == 429

    # What "delete" on the access attempt in the admin does.
    AccessAttempt.objects.filter(username="carla").delete()

    response = web_login(client, "carla", factories.PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(people["ap_clerk"].pk)


def test_a_wrong_password_still_gets_the_usual_message(people):
    response = web_login(Client(), "carla", WRONG)
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()


def test_behind_a_proxy_the_forwarded_client_address_is_locked(people, settings):
    settings.PROXY_COUNT = 1
    proxy = "10.0.0.2"
    guesser = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.40")
    for username in ("rita", "alex", "bob", "carla", "fiona"):
        web_login(guesser, username, WRONG)

    colleague = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="198.51.100.41")
    # A forged first entry does not escape the lock: the proxy's own entry is the last one.
    forged = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.40")
    assert web_login(colleague, "martin", factories.PASSWORD).status_code == 302
    assert web_login(forged, "martin", factories.PASSWORD).status_code == 429


def test_signing_in_as_oneself_does_not_wipe_the_guesses_at_a_colleague(people):
    # Someone guessing at carla's password from their own desk signs in as themselves between
    # rounds: that success must clear their own failures, not every failure of the address.
    desk = "198.51.100.50"
    for _ in range(4):
        web_login(Client(REMOTE_ADDR=desk), "carla", WRONG)
    assert web_login(Client(REMOTE_ADDR=desk), "rita", factories.PASSWORD).status_code == 302
    web_login(Client(REMOTE_ADDR=desk), "carla", WRONG)

    response = web_login(Client(REMOTE_ADDR="203.0.113.8"), "carla", factories.PASSWORD)

    assert response.status_code == 429


def test_signing_in_clears_ones_own_earlier_typos(people):
    desk = Client(REMOTE_ADDR="198.51.100.51")
    for _ in range(4):
        web_login(desk, "carla", WRONG)
    assert web_login(desk, "carla", factories.PASSWORD).status_code == 302
    desk.logout()

    web_login(desk, "carla", WRONG)

    assert web_login(desk, "carla", factories.PASSWORD).status_code == 302
