"""Sessions end when idle (sooner for the roles that pay money) or hours after sign-in, and
approving a payment run asks for the password again."""

import datetime as dt
import time

import pytest
from django.urls import reverse

from p2p.accounts import LAST_SEEN, PASSWORD_CONFIRMED_AT, SIGNED_IN_AT
from payables.models.payments import PaymentRun
from tests import factories
from tests.payables.payment_data import approved, company

pytestmark = pytest.mark.django_db
MINUTE = 60


def age_session(client, **seconds_ago: float) -> None:
    """Move the session's clocks back, as if that much time had passed."""
    session = client.session
    keys = {"signed_in": SIGNED_IN_AT, "last_seen": LAST_SEEN, "confirmed": PASSWORD_CONFIRMED_AT}
    for name, ago in seconds_ago.items():
        session[keys[name]] = time.time() - ago
    session.save()


def test_finance_role_is_signed_out_after_thirty_idle_minutes(client, people):
    client.force_login(people["ap_clerk"])
    assert client.get("/payables/invoices/").status_code == 200
    age_session(client, last_seen=31 * MINUTE)

    response = client.get("/payables/invoices/", follow=True)

    assert response.redirect_chain[-1][0] == "/login/?next=/payables/invoices/"
    assert "signed out after 30 minutes without activity" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_activity_within_the_idle_limit_keeps_the_session(client, people):
    client.force_login(people["ap_clerk"])
    client.get("/payables/invoices/")
    age_session(client, last_seen=29 * MINUTE)

    assert client.get("/payables/invoices/").status_code == 200
    assert time.time() - client.session[LAST_SEEN] < MINUTE


def test_requester_keeps_the_general_idle_limit(client, people, settings):
    settings.SESSION_IDLE_MINUTES = 240
    client.force_login(people["requester"])
    client.get("/procurement/requests/")
    age_session(client, last_seen=31 * MINUTE)
    assert client.get("/procurement/requests/").status_code == 200

    age_session(client, last_seen=241 * MINUTE)
    assert client.get("/procurement/requests/").status_code == 302


def test_session_ends_hours_after_sign_in_even_when_busy(client, people, settings):
    settings.SESSION_MAX_HOURS = 10
    client.force_login(people["requester"])
    age_session(client, signed_in=10 * 3600 + MINUTE, last_seen=MINUTE)

    response = client.get("/procurement/requests/", follow=True)

    assert "signed out 10 hours after signing in" in response.content.decode()


def test_session_cookie_lives_no_longer_than_the_absolute_limit(settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_MAX_HOURS * 3600 <= 12 * 3600


@pytest.fixture
def proposed_run(client, people):
    company()
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15), amount="1788.00")
    client.force_login(people["ap_clerk"])
    client.post(
        reverse("payables:run_list"),
        {"pay_date": "2026-11-05", "horizon_date": "2026-11-19", "currency": ""},
    )
    return PaymentRun.objects.get()


def test_approving_a_run_asks_for_the_password_again(client, people, proposed_run):
    detail = reverse("payables:run_detail", args=[proposed_run.pk])
    client.force_login(people["finance_leader"])
    age_session(client, signed_in=20 * MINUTE)

    response = client.post(
        reverse("payables:run_approve", args=[proposed_run.pk]), HTTP_REFERER=detail
    )

    assert response.status_code == 302
    assert response["Location"] == f"/account/confirm-password/?next={detail.replace('/', '%2F')}"
    proposed_run.refresh_from_db()
    assert proposed_run.status == PaymentRun.Status.PROPOSED

    wrong = client.post("/account/confirm-password/", {"password": "guess", "next": detail})
    assert "That password is not right." in wrong.content.decode()
    assert f'<a href="{detail}">Back without confirming</a>' in wrong.content.decode()
    confirmed = client.post(
        "/account/confirm-password/", {"password": factories.PASSWORD, "next": detail}
    )
    assert confirmed["Location"] == detail

    client.post(reverse("payables:run_approve", args=[proposed_run.pk]))
    proposed_run.refresh_from_db()
    assert proposed_run.status == PaymentRun.Status.APPROVED


def test_password_confirmation_lapses_after_five_minutes(client, people, proposed_run):
    client.force_login(people["finance_leader"])
    age_session(client, signed_in=3600, confirmed=6 * MINUTE)

    client.post(reverse("payables:run_approve", args=[proposed_run.pk]))

    proposed_run.refresh_from_db()
    assert proposed_run.status == PaymentRun.Status.PROPOSED


def test_confirm_page_never_sends_the_user_off_site(client, people):
    client.force_login(people["finance_leader"])

    response = client.post(
        "/account/confirm-password/",
        {"password": factories.PASSWORD, "next": "https://evil.example/"},
    )

    assert response["Location"] == "/"


def test_the_api_in_the_same_browser_session_asks_for_the_password_too(
    client, people, proposed_run
):
    # The page's confirmation must not be skippable by posting to the API with the same
    # session cookie from an unattended, signed-in browser.
    client.force_login(people["finance_leader"])
    age_session(client, signed_in=20 * MINUTE)
    approve = f"/api/payment-runs/{proposed_run.pk}/approve/"

    refused = client.post(approve, {}, content_type="application/json")
    wrong = client.post(approve, {"password": "guess-2026"}, content_type="application/json")

    assert refused.status_code == 400
    assert "password" in refused.json()
    assert wrong.status_code == 403
    proposed_run.refresh_from_db()
    assert proposed_run.status == PaymentRun.Status.PROPOSED

    right = client.post(approve, {"password": factories.PASSWORD}, content_type="application/json")
    assert right.json()["status"] == "approved"
