"""The procurement API for the issue-4 capabilities: budgets, several requests into POs,
change orders, PO re-approval, close/cancel/send, request edit and copy — same rules as the UI."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from procurement.models import Budget, PurchaseOrder, PurchaseRequest
from procurement.services.orders import po_create_from_request
from tests import factories
from tests.flow import issued_po
from tests.procurement.conftest import approve_all, raise_request

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_budgets_are_read_with_their_position(people, setup_org, budget):
    issued_po(people, setup_org, lines=(("Paper", "10", "100.00"),))
    response = api(people["approver"]).get("/api/budgets/")
    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["cost_center_code"] == "CC-100" and row["currency"] == "EUR"
    assert (row["amount"], row["committed"], row["spent"], row["available"]) == (
        "10000.00",
        "1000.00",
        "0.00",
        "9000.00",
    )
    assert api(people["requester"]).get("/api/budgets/").status_code == 403


def test_budget_list_query_count_does_not_grow(people, setup_org, budget):
    client = api(people["finance_leader"])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get("/api/budgets/").status_code == 200
        return len(queries)

    client.get("/api/budgets/")  # warm per-user caches so both measurements match
    few = count()
    for year in range(2001, 2011):
        Budget.objects.create(
            cost_center=setup_org["cost_center"],
            period_start=f"{year}-01-01",
            period_end=f"{year}-12-31",
            amount=Decimal("1"),
            updated_by=people["finance_leader"],
        )
    assert count() == few


def test_several_requests_are_ordered_through_the_api(people, setup_org):
    vendor_a, vendor_b = factories.make_vendor("A B.V."), factories.make_vendor("B B.V.")
    first, second, third = (approve_all(raise_request(people, setup_org), people) for _ in range(3))
    response = api(people["buyer"]).post(
        "/api/purchase-orders/from-requests/",
        {
            "selections": [
                {"request": first.pk, "vendor": vendor_a.pk},
                {"request": second.pk, "vendor": vendor_b.pk},
                {"request": third.pk, "vendor": vendor_a.pk},
            ],
            "ship_to": "Dock 3",
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    orders = response.json()
    assert [po["vendor_name"] for po in orders] == ["A B.V.", "B B.V."]
    assert orders[0]["request_numbers"] == [first.number, third.number]
    assert orders[0]["approved_amount"] == "299.00"
    refused = api(people["requester"]).post(
        "/api/purchase-orders/from-requests/",
        {"selections": [{"request": first.pk, "vendor": vendor_a.pk}]},
        format="json",
    )
    assert refused.status_code == 403


def test_a_change_order_through_the_api_creates_a_revision(people, setup_org):
    po = issued_po(people, setup_org, lines=(("Paper", "40", "23.50"),))
    line = po.lines.get()
    bob = api(people["buyer"])
    response = bob.post(
        f"/api/purchase-orders/{po.pk}/revise/",
        {"reason": "Only 30 needed", "lines": [{"po_line": line.pk, "quantity": "30"}]},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["revision"] == 1 and body["total_amount"] == "705.00"
    assert [r["number"] for r in body["revisions"]] == [0, 1]
    assert body["lines"][0]["id"] == line.pk

    bad = bob.post(
        f"/api/purchase-orders/{po.pk}/revise/",
        {"reason": "", "lines": [{"po_line": line.pk, "quantity": "20"}]},
        format="json",
    )
    assert bad.status_code == 400
    above = bob.post(
        f"/api/purchase-orders/{po.pk}/revise/",
        {"reason": "More", "lines": [{"po_line": line.pk, "quantity": "50"}]},
        format="json",
    )
    assert above.status_code == 200 and above.json()["awaiting_reapproval"] is True
    # The approver decides the PO change through the API; the buyer may not.
    people["buyer"].groups.add(*people["approver"].groups.all())
    own = bob.post(f"/api/purchase-orders/{po.pk}/decide/", {"decision": "approve"}, format="json")
    assert own.status_code == 403
    decided = api(people["approver"]).post(
        f"/api/purchase-orders/{po.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert decided.status_code == 200, decided.json()
    assert decided.json()["revision"] == 2 and decided.json()["total_amount"] == "1175.00"


def test_issue_close_cancel_and_send_through_the_api(people, setup_org, mailoutbox):
    request = approve_all(raise_request(people, setup_org), people)
    po = po_create_from_request(request=request, vendor=factories.make_vendor(), by=people["buyer"])
    bob = api(people["buyer"])
    issued = bob.post(
        f"/api/purchase-orders/{po.pk}/issue/", {"send_to_vendor": False}, format="json"
    )
    assert issued.status_code == 200 and issued.json()["status"] == "issued"
    sent = bob.post(
        f"/api/purchase-orders/{po.pk}/send/", {"to": ["buyer@vendor.example"]}, format="json"
    )
    assert sent.status_code == 200 and sent.json()["sent_at"]
    assert mailoutbox[-1].to == ["buyer@vendor.example"]
    closed = bob.post(f"/api/purchase-orders/{po.pk}/close/", {"reason": "Done"}, format="json")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    again = bob.post(f"/api/purchase-orders/{po.pk}/cancel/", {"reason": "x"}, format="json")
    assert again.status_code == 400
    assert PurchaseOrder.objects.get(pk=po.pk).status == PurchaseOrder.Status.CLOSED


def test_a_draft_above_its_approved_amount_is_not_issued_through_the_api(people, setup_org):
    request = approve_all(raise_request(people, setup_org, amount="100"), people)
    po = po_create_from_request(request=request, vendor=factories.make_vendor(), by=people["buyer"])
    PurchaseOrder.objects.filter(pk=po.pk).update(total_amount=Decimal("150.00"))
    response = api(people["buyer"]).post(f"/api/purchase-orders/{po.pk}/issue/", {}, format="json")
    assert response.status_code == 400
    assert "needs re-approval" in response.json()["detail"]
    reapproval = api(people["buyer"]).post(f"/api/purchase-orders/{po.pk}/reapproval/")
    assert reapproval.status_code == 200 and reapproval.json()["awaiting_reapproval"] is True


def test_a_request_is_edited_and_copied_through_the_api(people, setup_org):
    request = raise_request(people, setup_org, submit=False)
    rita = api(people["requester"])
    payload = {
        "title": "Chairs and a table",
        "cost_center": setup_org["cost_center"].pk,
        "gl_account": setup_org["gl_account"].pk,
        "lines": [
            {"description": "Chair", "quantity": "6", "unit_price": "149.50"},
            {"description": "Table", "quantity": "1", "unit_price": "899.00", "needed_by": None},
        ],
    }
    response = rita.put(f"/api/requests/{request.pk}/", payload, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["total_amount"] == "1796.00" and len(response.json()["lines"]) == 2
    stranger = api(factories.make_user("sam", "requester"))
    assert stranger.put(f"/api/requests/{request.pk}/", payload, format="json").status_code == 404
    copied = rita.post(f"/api/requests/{request.pk}/copy/")
    assert copied.status_code == 201 and copied.json()["status"] == "draft"
    assert PurchaseRequest.objects.count() == 2
