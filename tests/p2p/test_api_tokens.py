"""API tokens expire, are listed per user, and die with a revoke, a logout-all or a new password."""

import datetime as dt

import pytest
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from p2p.models import AuditEvent
from tests import factories


def obtain_token(username: str = "carla") -> str:
    response = APIClient().post(
        "/api/auth/token/", {"username": username, "password": factories.PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


REFUSED = "refused"


def invoices_with(token: str) -> int | str:
    """200, or REFUSED when the API turned the token down as invalid."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = client.get("/api/invoices/")
    if response.status_code in (401, 403) and response.json()["detail"] == "Invalid token.":
        return REFUSED
    return response.status_code


def test_token_carries_its_expiry_from_the_setting(people, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_TTL": dt.timedelta(hours=8)}
    before = timezone.now()

    response = APIClient().post(
        "/api/auth/token/", {"username": "carla", "password": factories.PASSWORD}, format="json"
    )

    token = AuthToken.objects.get(user=people["ap_clerk"])
    assert before + dt.timedelta(hours=8) <= token.expiry <= timezone.now() + dt.timedelta(hours=8)
    assert response.json()["expiry"]
    # Only a digest is stored: the database never holds a usable token.
    assert response.json()["token"] not in (token.digest, token.token_key)


def test_expired_token_is_refused(people):
    token = obtain_token()
    assert invoices_with(token) == 200

    AuthToken.objects.filter(user=people["ap_clerk"]).update(
        expiry=timezone.now() - dt.timedelta(seconds=1)
    )

    assert invoices_with(token) == REFUSED


def test_new_password_revokes_every_token(people):
    first, second = obtain_token(), obtain_token()
    carla = people["ap_clerk"]

    carla.set_password("Spring-Ledger-2027")
    carla.save()

    assert (invoices_with(first), invoices_with(second)) == (REFUSED, REFUSED)
    assert AuditEvent.objects.filter(action="api_tokens_revoked", object_id=carla.pk).exists()


def test_logout_all_revokes_every_token_of_the_caller(people):
    first, second = obtain_token(), obtain_token()
    martins = obtain_token("martin")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")

    assert client.post("/api/auth/logout-all/").status_code == 204

    assert (invoices_with(first), invoices_with(second)) == (REFUSED, REFUSED)
    assert invoices_with(martins) == 200


def test_logout_revokes_only_the_token_used(people):
    first, second = obtain_token(), obtain_token()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {first}")

    assert client.post("/api/auth/logout/").status_code == 204

    assert (invoices_with(first), invoices_with(second)) == (REFUSED, 200)


def test_tokens_page_lists_own_tokens_and_revokes_one(client, people):
    token = obtain_token()
    martins = obtain_token("martin")
    key = AuthToken.objects.get(user=people["ap_clerk"]).token_key
    client.force_login(people["ap_clerk"])

    page = client.get("/account/api-tokens/").content.decode()
    assert f"{key}…" in page
    assert AuthToken.objects.get(user=people["ap_manager"]).token_key not in page

    response = client.post(f"/account/api-tokens/{key}/revoke/", follow=True)
    assert f"Token {key}… revoked." in response.content.decode()
    assert invoices_with(token) == REFUSED
    assert invoices_with(martins) == 200


def test_nobody_revokes_another_users_token(client, people):
    martins = obtain_token("martin")
    key = AuthToken.objects.get(user=people["ap_manager"]).token_key
    client.force_login(people["ap_clerk"])

    response = client.post(f"/account/api-tokens/{key}/revoke/", follow=True)

    assert "That token no longer exists." in response.content.decode()
    assert invoices_with(martins) == 200


def test_new_token_from_the_page_is_shown_once_and_works(client, people):
    client.force_login(people["ap_clerk"])

    response = client.post("/account/api-tokens/new/")

    secret = response.context["new_token"]
    assert invoices_with(secret) == 200
    assert secret not in client.get("/account/api-tokens/").content.decode()


@pytest.mark.django_db
def test_tokens_page_requires_login(client):
    response = client.get("/account/api-tokens/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
