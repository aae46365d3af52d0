"""Bulk resolution: one background job, each exception all or nothing, failures per item."""

from decimal import Decimal

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from p2p.exceptions import DomainError
from payables.models.exceptions import BulkJob, BulkJobItem, InvoiceException
from payables.models.invoices import Invoice
from payables.services.bulk import bulk_job_run, bulk_resolve_start
from payables.services.exceptions import exception_claim
from tests import factories
from tests.payables.exception_flow import (
    big_po,
    many_price_variances,
    no_po_invoice,
    price_variance,
)


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_bulk_accepts_small_variances_and_reports_the_rest(
    people, setup_org, django_capture_on_commit_callbacks
):
    # At stake 6.50 × qty: 6.50, 13.00, 19.50, 26.00.
    exceptions = many_price_variances(people, setup_org, 4)
    exception_claim(exception=exceptions[0], by=factories.make_user("cleo", "ap_clerk"))

    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_resolve_start(
            by=people["ap_clerk"],
            exception_ids=[e.pk for e in exceptions],
            action="accept_variance",
            root_cause="stale_po_price",
            note="Price list of 1 Nov",
            max_amount=Decimal("20"),
        )

    job.refresh_from_db()
    assert (job.status, job.total, job.succeeded, job.failed) == ("done", 4, 2, 2)
    outcome = {
        item.exception_id: (item.status, item.message)
        for item in BulkJobItem.objects.filter(job=job)
    }
    assert outcome[exceptions[0].pk][0] == "failed"
    assert "Cleo is working on this exception" in outcome[exceptions[0].pk][1]
    assert outcome[exceptions[3].pk] == (
        "failed",
        "26.00 at stake is above this job's limit of 20.00.",
    )
    for exception in exceptions:
        exception.refresh_from_db()
    assert [e.status for e in exceptions] == ["open", "resolved", "resolved", "open"]
    assert exceptions[1].resolved_by == people["ap_clerk"]
    assert exceptions[1].resolution_note == "Price list of 1 Nov"
    # The accepted ones went back through the engine in one batch and were approved.
    assert Invoice.objects.get(pk=exceptions[1].invoice_id).status == Invoice.Status.APPROVED
    assert Invoice.objects.get(pk=exceptions[3].invoice_id).status == Invoice.Status.EXCEPTION
    # Running the job again (a redelivered message) changes nothing.
    assert bulk_job_run(job.pk).succeeded == 2


def test_bulk_keeps_segregation_of_duties_per_exception(
    people, setup_org, django_capture_on_commit_callbacks
):
    large = price_variance(people, setup_org, price="37.00")  # 540.00 at stake
    small = price_variance(people, setup_org, number="INV-PV-2", po=large.invoice.purchase_order)
    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_resolve_start(
            by=people["ap_clerk"],
            exception_ids=[large.pk, small.pk],
            action="accept_variance",
            root_cause="stale_po_price",
        )
    job.refresh_from_db()
    assert (job.succeeded, job.failed) == (1, 1)
    failure = job.items.get(status="failed")
    assert failure.exception_id == large.pk
    assert failure.message == "Variances above 500.00 EUR need an AP manager."


def test_bulk_rejects_with_the_reason_and_refuses_bad_input(
    people, setup_org, django_capture_on_commit_callbacks
):
    first = no_po_invoice(people, number="NP-1", amount="100")
    second = no_po_invoice(people, number="NP-2", amount="120")
    with pytest.raises(DomainError, match="Give the reason"):
        bulk_resolve_start(
            by=people["ap_clerk"],
            exception_ids=[first.pk],
            action="reject_invoice",
            root_cause="no_po",
        )
    with pytest.raises(DomainError, match="In bulk you can"):
        bulk_resolve_start(
            by=people["ap_clerk"],
            exception_ids=[first.pk],
            action="mark_duplicate",
            root_cause="no_po",
        )
    with pytest.raises(DomainError, match="no longer exist"):
        bulk_resolve_start(
            by=people["ap_clerk"],
            exception_ids=[first.pk, 999999],
            action="accept_variance",
            root_cause="no_po",
        )
    assert not BulkJob.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        job = bulk_resolve_start(
            by=people["ap_clerk"],
            exception_ids=[first.pk, second.pk],
            action="reject_invoice",
            root_cause="no_po",
            note="Quote our PO number",
        )
    job.refresh_from_db()
    assert job.succeeded == 2
    assert set(
        Invoice.objects.filter(pk__in=[first.invoice_id, second.invoice_id]).values_list(
            "status", flat=True
        )
    ) == {"rejected"}


def test_bulk_from_the_queue_shows_progress_and_refreshes_the_queue(
    client, people, setup_org, django_capture_on_commit_callbacks
):
    exceptions = many_price_variances(people, setup_org, 2)
    client.force_login(people["ap_clerk"])
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("payables:exception_bulk"),
            {
                "ids": [e.pk for e in exceptions],
                "action": "accept_variance",
                "root_cause": "stale_po_price",
                "max_amount": "100",
            },
            HTTP_HX_REQUEST="true",
        )
    job = BulkJob.objects.get()
    # The answer comes before the worker: a card that polls until the job is done.
    assert 'hx-trigger="every 1s"' in response.content.decode()
    poll = client.get(reverse("payables:bulk_job_detail", args=[job.pk]), HTTP_HX_REQUEST="true")
    html = poll.content.decode()
    assert f'id="bulk-job-{job.pk}"' in html and "2 resolved" in html
    assert "every 1s" not in html
    assert "queue-changed" in poll["HX-Trigger"]
    page = client.get(reverse("payables:bulk_job_detail", args=[job.pk]))
    assert page.status_code == 200 and "Bulk: accept the variance" in page.content.decode()
    empty = client.post(reverse("payables:exception_bulk"), {"action": "accept_variance"})
    assert empty.status_code == 302
    client.force_login(factories.make_user("cleo", "ap_clerk"))
    assert client.get(reverse("payables:bulk_job_detail", args=[job.pk])).status_code == 403
    client.force_login(people["buyer"])
    assert client.post(reverse("payables:exception_bulk"), {}).status_code == 403


def test_the_api_claims_resolves_comments_and_runs_bulk_jobs(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = big_po(people, setup_org)
    first, second = many_price_variances(people, setup_org, 2, po=po)
    carla = api(people["ap_clerk"])

    claimed = carla.post("/api/exceptions/claim-next/?type=price_variance")
    assert claimed.status_code == 200 and claimed.json()["claimed_by"] == people["ap_clerk"].pk
    assert claimed.json()["id"] == second.pk  # more at stake first
    assert api(people["ap_manager"]).post(f"/api/exceptions/{second.pk}/claim/").status_code == 403
    assert carla.post(f"/api/exceptions/{second.pk}/release/").status_code == 200

    request = carla.post(
        f"/api/exceptions/{first.pk}/resolve/",
        {"resolution": "request_credit_note", "note": "Please credit the difference"},
        format="json",
    )
    assert request.status_code == 200, request.json()
    assert request.json()["status"] == "waiting_vendor"
    assert request.json()["root_cause"] == "vendor_pricing_error"  # the engine's suggestion

    comment = carla.post(
        f"/api/exceptions/{second.pk}/comments/", {"body": "@bob is 30.00 right?"}, format="json"
    )
    assert comment.status_code == 201 and comment.json()["mentioned"] == ["bob"]
    assert len(carla.get(f"/api/exceptions/{second.pk}/comments/").json()) == 1
    refused = carla.post(
        f"/api/exceptions/{second.pk}/resolve/",
        {"resolution": "correct_po", "unit_price": "30.00", "note": "x"},
        format="json",
    )
    assert refused.status_code == 403
    assert refused.json()["detail"] == "Only the buyer of this PO can correct it."

    with django_capture_on_commit_callbacks(execute=True):
        started = carla.post(
            "/api/exceptions/bulk-resolve/",
            {
                "exceptions": [second.pk],
                "resolution": "accept_variance",
                "root_cause": "stale_po_price",
            },
            format="json",
        )
    assert started.status_code == 202, started.json()
    job = carla.get(f"/api/exceptions/bulk-jobs/{started.json()['id']}/").json()
    assert (job["status"], job["succeeded"], job["items"][0]["status"]) == ("done", 1, "done")
    assert api(people["buyer"]).post("/api/exceptions/bulk-resolve/", {}).status_code == 403
    assert carla.post("/api/exceptions/claim-next/?type=no_po").status_code == 204
    assert InvoiceException.objects.get(pk=second.pk).status == "resolved"
