"""Idempotency keys whose request died, and keys past their retention."""

import datetime as dt

import pytest
from django.utils import timezone

from p2p.celery import app
from payables.models.idempotency import IdempotencyKey
from payables.models.payments import PaymentRun
from payables.services import payments
from payables.tasks import purge_idempotency_keys
from tests.payables.test_payment_api import PROPOSAL, client_for, invoices  # noqa: F401

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("invoices")]


def _killed_mid_request(*args, **kwargs):
    # What a gunicorn worker past its timeout does: SIGABRT, then sys.exit() in the worker.
    raise SystemExit(1)


def test_a_key_whose_request_died_is_run_by_a_retry_once_the_timeout_passed(
    people, monkeypatch, settings
):
    settings.IDEMPOTENCY_PENDING_TIMEOUT = 300
    carla = client_for(people["ap_clerk"])
    headers = {"HTTP_IDEMPOTENCY_KEY": "run-2026-11-05"}
    with monkeypatch.context() as patched:
        patched.setattr(payments, "payment_run_propose", _killed_mid_request)
        with pytest.raises(SystemExit):
            carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)
    assert IdempotencyKey.objects.get().response_status is None

    soon = carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)
    assert soon.status_code == 409
    assert "runs it again 300 seconds after it started" in soon.json()["detail"]

    IdempotencyKey.objects.update(created_at=timezone.now() - dt.timedelta(seconds=301))
    retry = carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)
    again = carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)

    assert retry.status_code == again.status_code == 201, retry.json()
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == retry.json()
    assert PaymentRun.objects.count() == 1
    assert IdempotencyKey.objects.get().response_status == 201


def test_a_slow_request_inside_the_timeout_is_not_run_twice(people, settings):
    settings.IDEMPOTENCY_PENDING_TIMEOUT = 300
    carla = client_for(people["ap_clerk"])
    carla.post("/api/payment-runs/", PROPOSAL, format="json", HTTP_IDEMPOTENCY_KEY="slow")
    IdempotencyKey.objects.update(
        response_status=None,
        response_body=None,
        created_at=timezone.now() - dt.timedelta(seconds=290),
    )

    retry = carla.post("/api/payment-runs/", PROPOSAL, format="json", HTTP_IDEMPOTENCY_KEY="slow")

    assert retry.status_code == 409
    assert PaymentRun.objects.count() == 1


def test_keys_past_their_retention_are_purged(people, settings):
    settings.IDEMPOTENCY_KEY_RETENTION = 24 * 3600
    carla = client_for(people["ap_clerk"])
    carla.post("/api/payment-runs/", PROPOSAL, format="json", HTTP_IDEMPOTENCY_KEY="yesterday")
    carla.post("/api/payment-runs/", PROPOSAL, format="json", HTTP_IDEMPOTENCY_KEY="today")
    IdempotencyKey.objects.filter(key="yesterday").update(
        created_at=timezone.now() - dt.timedelta(hours=25)
    )
    IdempotencyKey.objects.filter(key="today").update(
        created_at=timezone.now() - dt.timedelta(hours=23)
    )

    assert purge_idempotency_keys.delay().get() == 1

    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["today"]


def test_beat_purges_idempotency_keys_hourly():
    entry = app.conf.beat_schedule["idempotency-keys-purge"]
    assert entry["task"] == purge_idempotency_keys.name
    assert entry["schedule"] == 3600.0
