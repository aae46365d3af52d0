"""A run that went to the bank: never cancelled, voided payment by payment once the bank confirms."""

import datetime as dt

import pytest
from django.urls import reverse

from p2p.exceptions import DomainError, InvalidTransition
from payables import payments
from payables.models import Invoice, Payment, PaymentRun
from tests import factories
from tests.payables.payment_data import approved, company

pytestmark = pytest.mark.django_db

PAY_DATE = dt.date(2026, 11, 5)
HORIZON = dt.date(2026, 11, 19)


@pytest.fixture
def sent_run(people) -> PaymentRun:
    """Office Depot's 1,000.00 and 788.00 EUR invoices, proposed by Carla, sent to the bank."""
    company()
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15), amount="1000.00")
    approved(office, "OD-2", invoice_date=dt.date(2026, 10, 16), amount="788.00")
    run = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=PAY_DATE, horizon_date=HORIZON
    )
    run = payments.payment_run_approve(run=run, by=people["finance_leader"])
    payments.payment_run_export(run=run, by=people["ap_clerk"])
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.SENT
    return run


def scheduled_numbers() -> set[str]:
    return set(
        Invoice.objects.filter(status=Invoice.Status.SCHEDULED).values_list("number", flat=True)
    )


def test_cancel_of_a_sent_run_is_refused_and_its_invoices_stay_out_of_proposals(people, sent_run):
    with pytest.raises(InvalidTransition, match="was sent to the bank, so it cannot be cancelled"):
        payments.payment_run_cancel(run=sent_run, by=people["ap_manager"], note="Wrong date")

    sent_run.refresh_from_db()
    assert sent_run.status == PaymentRun.Status.SENT
    assert scheduled_numbers() == {"OD-1", "OD-2"}
    assert set(sent_run.payments.values_list("status", flat=True)) == {Payment.Status.SCHEDULED}
    with pytest.raises(DomainError, match="No approved invoices"):
        payments.payment_run_propose(by=people["ap_clerk"], pay_date=PAY_DATE, horizon_date=HORIZON)


def test_cancel_page_refuses_a_sent_run_with_the_reason(client, people, sent_run):
    client.force_login(people["ap_manager"])

    page = client.get(reverse("payables:run_detail", args=[sent_run.pk]))
    response = client.post(reverse("payables:run_cancel", args=[sent_run.pk]), follow=True)

    assert "Cancel run" not in page.content.decode()
    assert "cannot be cancelled: the bank may still pay it" in response.content.decode()
    sent_run.refresh_from_db()
    assert sent_run.status == PaymentRun.Status.SENT
    assert scheduled_numbers() == {"OD-1", "OD-2"}


def test_cancel_through_the_api_of_a_sent_run_is_a_conflict(client, people, sent_run):
    client.force_login(people["ap_manager"])

    response = client.post(
        f"/api/payment-runs/{sent_run.pk}/cancel/",
        {"note": "Oops"},
        content_type="application/json",
    )

    assert response.status_code == 409
    assert "cannot be cancelled" in response.json()["detail"]
    assert scheduled_numbers() == {"OD-1", "OD-2"}
