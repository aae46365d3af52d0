"""Payment runs through the API: propose, approve, export, mark paid, void, and retries."""

import datetime as dt

import pytest
import xmlschema
from rest_framework.test import APIClient

from payables.bankfile import SCHEMA_PATH
from payables.models.idempotency import IdempotencyKey
from payables.models.invoices import Invoice
from payables.models.payments import Payment, PaymentRun
from tests import factories
from tests.payables.payment_data import approved, company

pytestmark = pytest.mark.django_db

PROPOSAL = {"pay_date": "2026-11-05", "horizon_date": "2026-11-19", "currency": ""}


# Approving a run asks for the approver's password again (make_user's password).
CONFIRM = {"password": factories.PASSWORD}


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def invoices(people):
    company()
    office = factories.make_vendor("Office Depot B.V.")
    usd = factories.make_vendor("Dollar Supplies Inc.")
    return {
        "eur": approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15)),
        "usd": approved(usd, "DS-1", invoice_date=dt.date(2026, 10, 15), currency="USD"),
    }


def test_run_proposed_approved_exported_paid_and_voided_through_the_api(people, invoices):
    carla, fiona = client_for(people["ap_clerk"]), client_for(people["finance_leader"])

    response = carla.post("/api/payment-runs/", PROPOSAL, format="json")
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["currency"] == "" and run["net_amount"] is None
    assert [(t["currency"], t["net"]) for t in run["totals"]] == [
        ("EUR", "1000.00"),
        ("USD", "1000.00"),
    ]
    url = f"/api/payment-runs/{run['id']}/"

    assert carla.post(f"{url}approve/", CONFIRM, format="json").status_code == 403
    assert fiona.post(f"{url}approve/", CONFIRM, format="json").json()["status"] == "approved"

    response = carla.post(f"{url}export/")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "sent"
    files = {(f["format"], f["currency"]): f for f in body["exports"]}
    assert set(files) == {("pain001", "EUR"), ("pain001", "USD"), ("csv", "")}
    download = carla.get(files[("pain001", "USD")]["download"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("application/xml")
    xmlschema.XMLSchema(str(SCHEMA_PATH)).validate(download.content.decode())

    response = carla.post(f"{url}mark-paid/", {"paid_on": "2026-11-06"}, format="json")
    assert response.json()["status"] == "paid"
    assert {p["paid_on"] for p in response.json()["payments"]} == {"2026-11-06"}

    response = carla.post(
        f"{url}bank-confirmation/",
        {
            "vendor": invoices["usd"].vendor_id,
            "currency": "USD",
            "outcome": "returned",
            "reference": "AC01 wrong account",
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert [c["reference"] for c in response.json()["bank_confirmations"]] == ["AC01 wrong account"]
    ds1 = next(p for p in response.json()["payments"] if p["invoice_number"] == "DS-1")
    martin = client_for(people["ap_manager"])
    response = martin.post(
        f"{url}void/", {"payment": ds1["id"], "reason": "AC01 wrong account"}, format="json"
    )
    assert response.status_code == 200, response.json()
    voided = [p for p in response.json()["payments"] if p["status"] == "void"]
    assert [(p["invoice_number"], p["void_reason"]) for p in voided] == [
        ("DS-1", "AC01 wrong account")
    ]
    assert Invoice.objects.get(number="DS-1").status == Invoice.Status.APPROVED


def test_bad_input_gets_a_clear_message_and_changes_nothing(people, invoices):
    carla = client_for(people["ap_clerk"])

    response = carla.post(
        "/api/payment-runs/", {**PROPOSAL, "horizon_date": "2026-11-01"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "The horizon must be on or after the pay date."}
    response = carla.post("/api/payment-runs/", {**PROPOSAL, "pay_date": "soon"}, format="json")
    assert response.status_code == 400 and "pay_date" in response.json()
    assert not PaymentRun.objects.exists()
    run = carla.post("/api/payment-runs/", PROPOSAL, format="json").json()
    response = carla.post(
        f"/api/payment-runs/{run['id']}/remove-invoice/",
        {"invoice": invoices["eur"].pk, "reason": ""},
        format="json",
    )
    assert response.status_code == 400
    assert Invoice.objects.get(number="OD-1").status == Invoice.Status.SCHEDULED
    assert client_for(people["buyer"]).get("/api/payment-runs/").status_code == 403


def test_a_retried_proposal_returns_the_first_response_and_proposes_once(people, invoices):
    carla = client_for(people["ap_clerk"])
    headers = {"HTTP_IDEMPOTENCY_KEY": "run-2026-11-05"}

    first = carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)
    retry = carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry["Idempotent-Replayed"] == "true"
    assert PaymentRun.objects.count() == 1
    stored = IdempotencyKey.objects.get()
    assert (stored.user, stored.endpoint, stored.response_status) == (
        people["ap_clerk"],
        "POST /api/payment-runs/",
        201,
    )


def test_the_same_key_with_a_different_body_is_refused(people, invoices):
    carla = client_for(people["ap_clerk"])
    headers = {"HTTP_IDEMPOTENCY_KEY": "k-1"}
    carla.post("/api/payment-runs/", PROPOSAL, format="json", **headers)

    response = carla.post(
        "/api/payment-runs/", {**PROPOSAL, "currency": "USD"}, format="json", **headers
    )

    assert response.status_code == 422
    assert "already used for a different request" in response.json()["detail"]
    assert PaymentRun.objects.count() == 1


def test_keys_belong_to_their_user_and_refusals_are_replayed_too(people, invoices):
    carla, martin = client_for(people["ap_clerk"]), client_for(people["ap_manager"])
    run = carla.post("/api/payment-runs/", PROPOSAL, format="json").json()
    approve = f"/api/payment-runs/{run['id']}/approve/"

    # Martin's key "x" and Carla's key "x" are different keys.
    carla.post("/api/payment-runs/", PROPOSAL, format="json", HTTP_IDEMPOTENCY_KEY="x")
    first = martin.post(approve, CONFIRM, format="json", HTTP_IDEMPOTENCY_KEY="x")
    again = martin.post(approve, CONFIRM, format="json", HTTP_IDEMPOTENCY_KEY="x")
    fresh = martin.post(approve, CONFIRM, format="json", HTTP_IDEMPOTENCY_KEY="y")

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    # A new key is a new attempt: the run is already approved, so it is refused.
    assert fresh.status_code == 409


def test_a_retry_while_the_first_is_still_running_is_told_to_wait(people, invoices):
    carla = client_for(people["ap_clerk"])
    IdempotencyKey.objects.create(
        user=people["ap_clerk"],
        key="slow",
        endpoint="POST /api/payment-runs/",
        request_hash=__import__("hashlib")
        .sha256(
            b'POST /api/payment-runs/\n{"currency": "", "horizon_date": "2026-11-19", '
            b'"pay_date": "2026-11-05"}'
        )
        .hexdigest(),
    )

    response = carla.post(
        "/api/payment-runs/", PROPOSAL, format="json", HTTP_IDEMPOTENCY_KEY="slow"
    )

    assert response.status_code == 409
    assert "still being processed" in response.json()["detail"]
    assert not PaymentRun.objects.exists()


def test_mark_paid_and_void_retries_do_not_act_twice(people, invoices):
    carla, fiona = client_for(people["ap_clerk"]), client_for(people["finance_leader"])
    run = carla.post("/api/payment-runs/", PROPOSAL, format="json").json()
    url = f"/api/payment-runs/{run['id']}/"
    fiona.post(f"{url}approve/", CONFIRM, format="json")
    carla.post(f"{url}export/", HTTP_IDEMPOTENCY_KEY="export-1")
    assert carla.post(f"{url}export/", HTTP_IDEMPOTENCY_KEY="export-1").status_code == 200
    assert len(PaymentRun.objects.get().exports.all()) == 3  # written once, not twice

    paid = carla.post(f"{url}mark-paid/", {}, format="json", HTTP_IDEMPOTENCY_KEY="paid-1")
    replay = carla.post(f"{url}mark-paid/", {}, format="json", HTTP_IDEMPOTENCY_KEY="paid-1")
    assert paid.status_code == replay.status_code == 200
    carla.post(
        f"{url}bank-confirmation/",
        {
            "vendor": invoices["eur"].vendor_id,
            "currency": "EUR",
            "outcome": "returned",
            "reference": "MS03 returned",
        },
        format="json",
    )
    martin = client_for(people["ap_manager"])
    payment = Payment.objects.get(invoice=invoices["eur"])
    body = {"payment": payment.pk, "reason": "Returned"}
    void = martin.post(f"{url}void/", body, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    void_again = martin.post(f"{url}void/", body, format="json", HTTP_IDEMPOTENCY_KEY="void-1")
    assert void.status_code == void_again.status_code == 200
    assert void_again.json() == void.json()
    # Without the key a second void is a new request, refused: the payment is already void.
    assert martin.post(f"{url}void/", body, format="json").status_code == 400


def test_approving_through_the_api_asks_for_the_password_again(people, invoices):
    carla, fiona = client_for(people["ap_clerk"]), client_for(people["finance_leader"])
    run = carla.post("/api/payment-runs/", PROPOSAL, format="json").json()
    approve = f"/api/payment-runs/{run['id']}/approve/"

    missing = fiona.post(approve, {}, format="json")
    wrong = fiona.post(approve, {"password": "guess-2026"}, format="json")

    assert missing.status_code == 400
    assert "password" in missing.json()
    assert wrong.status_code == 403
    assert "password is not right" in wrong.json()["detail"]
    assert PaymentRun.objects.get().status == PaymentRun.Status.PROPOSED
    right = fiona.post(approve, CONFIRM, format="json")
    assert right.status_code == 200, right.json()
    assert right.json()["status"] == "approved"
