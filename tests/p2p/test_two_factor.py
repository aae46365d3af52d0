"""Two-factor sign-in with an authenticator app: optional for everyone, required for the roles
that approve payments where MFA_REQUIRED_ROLES says so (production by default)."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice
from rest_framework.test import APIClient

from tests import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def payment_roles_need_mfa(settings):
    settings.MFA_REQUIRED_ROLES = ("ap_manager", "finance_leader")


def code_for(device: TOTPDevice) -> str:
    """What the user's phone shows right now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    return str(totp.token()).zfill(device.digits)


def signed_in(username: str) -> Client:
    client = Client()
    response = client.post("/login/", {"username": username, "password": factories.PASSWORD})
    assert response.status_code == 302
    return client


def test_manager_must_enrol_before_any_page(people):
    martin = signed_in("martin")

    response = martin.get("/payables/runs/")

    assert response.status_code == 302
    assert response["Location"] == "/account/two-factor/?next=%2Fpayables%2Fruns%2F"
    assert martin.get("/account/two-factor/").status_code == 200


def test_enrolment_shows_a_qr_code_and_turns_on_with_a_code(people):
    martin = signed_in("martin")

    page = martin.post("/account/two-factor/", {"action": "start", "next": "/payables/runs/"})

    html = page.content.decode()
    assert "<svg" in html and "data-secret" in html
    pending = TOTPDevice.objects.get(user=people["ap_manager"], confirmed=False)
    response = martin.post(
        "/account/two-factor/",
        {"action": "confirm", "code": code_for(pending), "next": "/payables/runs/"},
    )
    assert response["Location"] == "/payables/runs/"
    assert TOTPDevice.objects.get(user=people["ap_manager"]).confirmed
    assert martin.get("/payables/runs/").status_code == 200


def test_a_mistyped_code_keeps_the_scanned_secret(people):
    martin = signed_in("martin")
    martin.post("/account/two-factor/", {"action": "start"})
    pending = TOTPDevice.objects.get(user=people["ap_manager"])

    response = martin.post("/account/two-factor/", {"action": "confirm", "code": "000000"})

    assert "That code is not right" in response.content.decode()
    assert TOTPDevice.objects.get(user=people["ap_manager"]).pk == pending.pk
    assert martin.get("/payables/runs/").status_code == 302


def test_enrolled_user_enters_the_code_after_the_password(people):
    device = TOTPDevice.objects.create(user=people["ap_clerk"], name="phone", confirmed=True)
    carla = signed_in("carla")

    assert carla.get("/payables/invoices/")["Location"].startswith("/account/two-factor/verify/")
    wrong = carla.post("/account/two-factor/verify/", {"code": "123456"})
    assert "That code is not right" in wrong.content.decode()
    # django-otp makes the next try wait after a wrong code; let that second pass.
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - dt.timedelta(seconds=10)
    )
    right = carla.post(
        "/account/two-factor/verify/", {"code": code_for(device), "next": "/payables/invoices/"}
    )
    assert right["Location"] == "/payables/invoices/"
    assert carla.get("/payables/invoices/").status_code == 200


def test_optional_for_a_clerk(people):
    assert signed_in("carla").get("/payables/invoices/").status_code == 200


def test_required_role_cannot_turn_it_off(people):
    device = TOTPDevice.objects.create(user=people["finance_leader"], name="phone", confirmed=True)
    fiona = signed_in("fiona")
    fiona.post("/account/two-factor/verify/", {"code": code_for(device)})

    response = fiona.post("/account/two-factor/", {"action": "remove"}, follow=True)

    assert "cannot be turned off" in response.content.decode()
    assert TOTPDevice.objects.filter(user=people["finance_leader"]).exists()


def test_browser_session_cannot_use_the_api_before_the_code(people):
    TOTPDevice.objects.create(user=people["ap_manager"], name="phone", confirmed=True)
    martin = signed_in("martin")

    response = martin.get("/api/payment-runs/")

    assert response.status_code == 403
    assert response.json()["detail"] == "Enter your two-factor code in the browser first."


def test_token_for_an_enrolled_user_needs_the_code(people):
    device = TOTPDevice.objects.create(user=people["ap_manager"], name="phone", confirmed=True)
    api = APIClient()
    credentials = {"username": "martin", "password": factories.PASSWORD}

    refused = api.post("/api/auth/token/", credentials, format="json")
    issued = api.post("/api/auth/token/", {**credentials, "otp": code_for(device)}, format="json")

    assert refused.status_code == 403
    assert "authenticator app" in refused.json()["detail"]
    assert issued.status_code == 200 and issued.json()["token"]


def test_token_refused_to_a_required_role_without_enrolment(people):
    response = APIClient().post(
        "/api/auth/token/", {"username": "fiona", "password": factories.PASSWORD}, format="json"
    )
    assert response.status_code == 403
    assert "set it up in the browser first" in response.json()["detail"]


def test_production_requires_it_for_ap_manager_and_finance_leader():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k8#x2!vQz9-production-like-secret-key-for-the-mfa-check-4Hq7",
        "ALLOWED_HOSTS": "p2p.example.com",
        "DJANGO_SETTINGS_MODULE": "p2p.settings",
    }
    env.pop("MFA_REQUIRED_ROLES", None)
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; print(settings.MFA_REQUIRED_ROLES)",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.strip() == "('ap_manager', 'finance_leader')", result.stderr


def test_password_alone_cannot_swap_in_a_new_authenticator_app(people):
    # Someone who knows only the password must not enrol their own phone in place of the
    # user's: that would be two-factor sign-in with one factor.
    device = TOTPDevice.objects.create(user=people["ap_clerk"], name="phone", confirmed=True)
    carla = signed_in("carla")

    started = carla.post("/account/two-factor/", {"action": "start"})
    attacker_phone = TOTPDevice.objects.create(
        user=people["ap_clerk"], name="Authenticator app", confirmed=False
    )
    confirmed = carla.post(
        "/account/two-factor/", {"action": "confirm", "code": code_for(attacker_phone)}
    )

    assert started["Location"].startswith("/account/two-factor/verify/")
    assert confirmed["Location"].startswith("/account/two-factor/verify/")
    assert list(TOTPDevice.objects.filter(user=people["ap_clerk"], confirmed=True)) == [device]
    assert carla.get("/payables/invoices/")["Location"].startswith("/account/two-factor/verify/")


def test_password_alone_cannot_turn_it_off(people):
    TOTPDevice.objects.create(user=people["ap_clerk"], name="phone", confirmed=True)
    carla = signed_in("carla")

    response = carla.post("/account/two-factor/", {"action": "remove"})

    assert response["Location"].startswith("/account/two-factor/verify/")
    assert TOTPDevice.objects.filter(user=people["ap_clerk"], confirmed=True).exists()
    assert carla.get("/payables/invoices/")["Location"].startswith("/account/two-factor/verify/")
