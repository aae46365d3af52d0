"""The REST API end to end: auth, roles, the purchase flow, bad input and list cost."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from p2p.models import AuditEvent
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.payments import payment_run_propose
from procurement.models import PurchaseOrder, PurchaseRequest, Receipt
from procurement.services.approvals import approval_decide
from procurement.services.requests import LineInput, request_create, request_submit
from tests import factories, flow

pytestmark = pytest.mark.django_db


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def draft_request(people, setup_org, *, by=None, title="Office supplies Q4"):
    return request_create(
        by=by or people["requester"],
        title=title,
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        lines=[LineInput("A4 copy paper, box of 5 reams", Decimal("40"), Decimal("23.50"))],
    )


def approved_request(people, setup_org):
    request = draft_request(people, setup_org)
    request_submit(request=request, by=people["requester"])
    step = request.approvals.get(status="pending")
    approval_decide(step=step, by=people["approver"], decision="approve")
    request.refresh_from_db()
    return request


def request_payload(setup_org, **overrides):
    payload = {
        "title": "Standing desks for the finance team",
        "cost_center": setup_org["cost_center"].pk,
        "gl_account": setup_org["gl_account"].pk,
        "category": "goods",
        "currency": "EUR",
        "lines": [
            {"description": "Standing desk 160x80", "quantity": "4", "unit_price": "489.00"},
            {"description": "Monitor arm", "quantity": "4", "unit_price": "65.50", "uom": "EA"},
        ],
    }
    payload.update(overrides)
    return payload


# --- authentication and roles -------------------------------------------------------------


def test_token_obtained_with_password_authenticates_requests(people):
    anonymous = APIClient()
    response = anonymous.post(
        "/api/auth/token/", {"username": "carla", "password": factories.PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]

    anonymous.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    response = anonymous.get("/api/invoices/")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_token_refused_for_wrong_password(people):
    response = APIClient().post(
        "/api/auth/token/", {"username": "carla", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400


@pytest.mark.parametrize("path", ["/api/requests/", "/api/invoices/", "/api/payment-runs/"])
def test_unauthenticated_request_is_refused(db, path):
    response = APIClient().get(path)
    assert response.status_code in (401, 403)
    assert response.json()["detail"]


def test_requester_is_refused_invoices(people):
    response = client_for(people["requester"]).get("/api/invoices/")
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role does not allow this."


def test_requester_sees_only_own_requests(people, setup_org):
    other = factories.make_user("ruben", "requester")
    mine = draft_request(people, setup_org, title="Rita's paper")
    theirs = draft_request(people, setup_org, by=other, title="Ruben's toner")

    rita = client_for(people["requester"])
    listed = rita.get("/api/requests/").json()["results"]
    assert [row["id"] for row in listed] == [mine.pk]
    assert rita.get(f"/api/requests/{theirs.pk}/").status_code == 404

    approver_sees = client_for(people["approver"]).get("/api/requests/").json()["results"]
    assert {row["id"] for row in approver_sees} == {mine.pk, theirs.pk}


# --- the purchase flow --------------------------------------------------------------------


def test_request_created_submitted_and_approved_through_api(people, setup_org):
    rita = client_for(people["requester"])
    response = rita.post("/api/requests/", request_payload(setup_org), format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["status"] == "draft"
    assert created["status_display"] == "Draft"
    assert created["currency"] == "EUR"
    assert created["total_amount"] == "2218.00"
    assert [line["amount"] for line in created["lines"]] == ["1956.00", "262.00"]

    response = rita.post(f"/api/requests/{created['id']}/submit/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "pending_approval"
    assert response.json()["approvals"][0]["status"] == "pending"

    alex = client_for(people["approver"])
    response = alex.post(
        f"/api/requests/{created['id']}/decide/",
        {"decision": "approve", "comment": "Budgeted"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    decided = response.json()
    assert decided["status"] == "approved"
    assert decided["approvals"][0]["decided_by_username"] == "alex"
    assert AuditEvent.objects.filter(
        object_type="procurement.purchaserequest", object_id=created["id"], to_status="approved"
    ).exists()


def test_return_without_comment_is_refused(people, setup_org):
    request = draft_request(people, setup_org)
    request_submit(request=request, by=people["requester"])

    response = client_for(people["approver"]).post(
        f"/api/requests/{request.pk}/decide/", {"decision": "return"}, format="json"
    )
    assert response.status_code == 400
    assert "comment" in response.json()["detail"]
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL


def test_approving_own_request_through_api_is_forbidden(people, setup_org):
    # Holding both roles is exactly when the control matters.
    ann = factories.make_user("ann", "requester", "approver")
    request = draft_request(people, setup_org, by=ann)
    request_submit(request=request, by=ann)

    response = client_for(ann).post(
        f"/api/requests/{request.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "You cannot approve a request you raised."}
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL


def test_deciding_a_draft_is_a_conflict(people, setup_org):
    request = draft_request(people, setup_org)
    response = client_for(people["approver"]).post(
        f"/api/requests/{request.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 409
    assert "not awaiting approval" in response.json()["detail"]


def test_buyer_creates_and_issues_po_through_api(people, setup_org):
    request = approved_request(people, setup_org)
    vendor = factories.make_vendor()
    bob = client_for(people["buyer"])

    response = bob.post(
        "/api/purchase-orders/", {"request": request.pk, "vendor": vendor.pk}, format="json"
    )
    assert response.status_code == 201, response.json()
    po = response.json()
    assert po["status"] == "draft"
    assert po["request_number"] == request.number
    assert po["vendor_name"] == vendor.name
    assert po["total_amount"] == "940.00"
    assert po["currency"] == "EUR"
    assert po["lines"][0]["match_type"] == "three_way"

    response = bob.post(f"/api/purchase-orders/{po['id']}/issue/")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "issued"

    again = bob.post(f"/api/purchase-orders/{po['id']}/issue/")
    assert again.status_code == 409
    assert "issued" in again.json()["detail"]


def test_requester_cannot_create_po(people, setup_org):
    request = approved_request(people, setup_org)
    vendor = factories.make_vendor()
    response = client_for(people["requester"]).post(
        "/api/purchase-orders/", {"request": request.pk, "vendor": vendor.pk}, format="json"
    )
    assert response.status_code == 403
    assert not PurchaseOrder.objects.exists()


def test_receipt_posted_through_api(people, setup_org):
    po = flow.issued_po(people, setup_org)
    po_line = po.lines.get()

    response = client_for(people["requester"]).post(
        "/api/receipts/",
        {
            "purchase_order": po.pk,
            "received_on": "2026-10-28",
            "lines": [{"po_line": po_line.pk, "received_qty": "40", "returned_qty": "0"}],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    receipt = response.json()
    assert receipt["purchase_order_number"] == po.number
    assert receipt["currency"] == "EUR"
    assert receipt["lines"][0]["received_qty"] == "40.0000"
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.RECEIVED


def test_invoice_captured_through_api_is_matched(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = flow.issued_po(people, setup_org)
    flow.receive(po, people, {1: "40"})
    po_line = po.lines.get()
    carla = client_for(people["ap_clerk"])

    with django_capture_on_commit_callbacks(execute=True):
        response = carla.post(
            "/api/invoices/",
            {
                "vendor": po.vendor_id,
                "number": "INV-2026-0415",
                "invoice_date": "2026-11-02",
                "currency": "EUR",
                "purchase_order": po.pk,
                "tax_amount": "197.40",
                "lines": [
                    {
                        "description": "A4 copy paper",
                        "quantity": "40",
                        "unit_price": "23.50",
                        "po_line": po_line.pk,
                        "tax_rate": "21",
                    }
                ],
            },
            format="json",
        )
    assert response.status_code == 201, response.json()
    created = response.json()
    assert created["source"] == "api"
    assert created["total_amount"] == "1137.40"

    invoice = carla.get(f"/api/invoices/{created['id']}/").json()
    assert invoice["status"] == "approved"
    assert invoice["status_display"] == "Approved"
    assert invoice["touchless"] is True
    assert invoice["lines"][0]["match_result"] == "matched"
    assert invoice["open_exception_count"] == 0


def test_exception_resolved_through_api(people, setup_org, django_capture_on_commit_callbacks):
    vendor = factories.make_vendor()
    with django_capture_on_commit_callbacks(execute=True):
        invoice_capture(
            by=people["ap_clerk"],
            vendor=vendor,
            number="INV-77",
            invoice_date=dt.date(2026, 11, 2),
            currency="EUR",
            lines=[InvoiceLineInput("Catering", Decimal("1"), Decimal("180"))],
        )
    exception = InvoiceException.objects.filter(type="no_po").first()
    martin = client_for(people["ap_manager"])

    response = martin.post(
        f"/api/exceptions/{exception.pk}/resolve/",
        {"resolution": "reject_invoice", "root_cause": "no_po", "note": "Ask for a PO"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "resolved"
    assert response.json()["resolution"] == "reject_invoice"
    assert response.json()["resolved_by"] == people["ap_manager"].pk
    assert Invoice.objects.get().status == Invoice.Status.REJECTED
    assert not InvoiceException.objects.filter(status="open").exists()


def test_payment_run_proposed_approved_and_paid_through_api(
    people, setup_org, django_capture_on_commit_callbacks
):
    po = flow.issued_po(people, setup_org)
    flow.receive(po, people, {1: "40"})
    with django_capture_on_commit_callbacks(execute=True):
        flow.invoice(po, people, "INV-9001", {1: ("40", "23.50")})
    carla, martin = client_for(people["ap_clerk"]), client_for(people["ap_manager"])

    response = carla.post(
        "/api/payment-runs/",
        {"pay_date": "2026-11-20", "horizon_date": "2026-12-31", "currency": "EUR"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    run = response.json()
    assert run["status"] == "proposed"
    assert run["net_amount"] == "1137.40"
    assert [p["invoice_number"] for p in run["payments"]] == ["INV-9001"]

    own = carla.post(
        f"/api/payment-runs/{run['id']}/approve/", {"password": factories.PASSWORD}, format="json"
    )
    assert own.status_code == 403

    response = martin.post(
        f"/api/payment-runs/{run['id']}/approve/", {"password": factories.PASSWORD}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "approved"

    response = carla.post(f"/api/payment-runs/{run['id']}/mark-paid/", {}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "paid"
    assert response.json()["payments"][0]["status"] == "paid"
    assert Invoice.objects.get().status == Invoice.Status.PAID


# --- bad input ----------------------------------------------------------------------------


def _row_counts() -> tuple[int, ...]:
    return (
        PurchaseRequest.objects.count(),
        Receipt.objects.count(),
        Invoice.objects.count(),
        AuditEvent.objects.count(),
    )


def test_negative_quantity_is_refused_and_nothing_written(people, setup_org):
    before = _row_counts()
    payload = request_payload(
        setup_org,
        lines=[{"description": "Standing desk", "quantity": "-2", "unit_price": "489.00"}],
    )
    response = client_for(people["requester"]).post("/api/requests/", payload, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Line 1: quantity must be greater than zero."}
    assert _row_counts() == before


def test_negative_received_quantity_is_refused_and_nothing_written(people, setup_org):
    po = flow.issued_po(people, setup_org)
    before = _row_counts()
    response = client_for(people["requester"]).post(
        "/api/receipts/",
        {"purchase_order": po.pk, "lines": [{"po_line": po.lines.get().pk, "received_qty": "-5"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "cannot be negative" in response.json()["detail"]
    assert _row_counts() == before


def test_unknown_po_id_is_refused_and_nothing_written(people, setup_org):
    vendor = factories.make_vendor()
    before = _row_counts()
    response = client_for(people["ap_clerk"]).post(
        "/api/invoices/",
        {
            "vendor": vendor.pk,
            "number": "INV-1",
            "invoice_date": "2026-11-02",
            "currency": "EUR",
            "purchase_order": 999999,
            "lines": [{"description": "Paper", "quantity": "1", "unit_price": "10"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"purchase_order": ['Invalid pk "999999" - object does not exist.']}
    assert _row_counts() == before


def test_non_numeric_price_is_refused_and_nothing_written(people, setup_org):
    vendor = factories.make_vendor()
    before = _row_counts()
    response = client_for(people["ap_clerk"]).post(
        "/api/invoices/",
        {
            "vendor": vendor.pk,
            "number": "INV-2",
            "invoice_date": "2026-11-02",
            "currency": "EUR",
            "lines": [{"description": "Paper", "quantity": "1", "unit_price": "ten euros"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"lines": {"0": {"unit_price": ["A valid number is required."]}}}
    assert _row_counts() == before


def test_receipt_for_unknown_po_is_refused(people, setup_org):
    before = _row_counts()
    response = client_for(people["buyer"]).post(
        "/api/receipts/",
        {"purchase_order": 424242, "lines": [{"po_line": 1, "received_qty": "1"}]},
        format="json",
    )
    assert response.status_code == 400
    assert "purchase_order" in response.json()
    assert _row_counts() == before


# --- lists: pagination and query cost -----------------------------------------------------


def test_list_uses_cursor_pagination(people, setup_org):
    for n in range(3):
        draft_request(people, setup_org, title=f"Request {n}")
    alex = client_for(people["approver"])

    first = alex.get("/api/requests/", {"page_size": 2}).json()
    assert set(first) == {"next", "previous", "results"}
    assert "count" not in first
    assert first["previous"] is None
    assert len(first["results"]) == 2

    second = alex.get(first["next"]).json()
    assert len(second["results"]) == 1
    assert second["next"] is None
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert seen == sorted(seen, reverse=True)


def _add_requests(people, setup_org, state, count):
    for n in range(count):
        request = draft_request(people, setup_org, title=f"Request {n}")
        request_submit(request=request, by=people["requester"])


def _add_purchase_orders(people, setup_org, state, count):
    vendor = state.setdefault("vendor", factories.make_vendor())
    for _ in range(count):
        flow.issued_po(people, setup_org, vendor=vendor)


def _shared_po(people, setup_org, state):
    if "po" not in state:
        state["po"] = flow.issued_po(people, setup_org, lines=(("A4 copy paper", "400", "2.35"),))
    return state["po"]


def _add_receipts(people, setup_org, state, count):
    po = _shared_po(people, setup_org, state)
    for _ in range(count):
        flow.receive(po, people, {1: "1"})


def _add_invoices(people, setup_org, state, count):
    po = _shared_po(people, setup_org, state)
    for _ in range(count):
        n = state["invoices"] = state.get("invoices", 0) + 1
        # A different amount and date each, or the engine flags a likely duplicate.
        flow.invoice(
            po,
            people,
            f"INV-{n}",
            {1: (str(n), "2.35")},
            invoice_date=dt.date(2026, 11, 1) + dt.timedelta(days=n),
        )


def _add_exceptions(people, setup_org, state, count):
    # Invoices on the PO before anything is received: each one raises a missing receipt.
    _add_invoices(people, setup_org, state, count)
    from payables.services.matching import run_matching

    run_matching(list(Invoice.objects.values_list("id", flat=True)))


def _add_payment_runs(people, setup_org, state, count):
    po = _shared_po(people, setup_org, state)
    if not state.get("received"):
        flow.receive(po, people, {1: "400"})
        state["received"] = True
    from payables.services.matching import run_matching

    for _ in range(count):
        _add_invoices(people, setup_org, state, 1)
        run_matching([Invoice.objects.latest("id").pk])
        payment_run_propose(
            by=people["ap_clerk"], pay_date=dt.date(2026, 11, 20), horizon_date=dt.date(2027, 1, 31)
        )


def _add_vendors(people, setup_org, state, count):
    for _ in range(count):
        state["vendors"] = state.get("vendors", 0) + 1
        factories.make_vendor(f"Vendor {state['vendors']}")


@pytest.mark.parametrize(
    ("path", "role", "add_rows"),
    [
        ("/api/requests/", "approver", _add_requests),
        ("/api/purchase-orders/", "buyer", _add_purchase_orders),
        ("/api/receipts/", "buyer", _add_receipts),
        ("/api/invoices/", "ap_clerk", _add_invoices),
        ("/api/exceptions/", "ap_clerk", _add_exceptions),
        ("/api/payment-runs/", "ap_manager", _add_payment_runs),
        ("/api/vendors/", "buyer", _add_vendors),
    ],
)
def test_list_query_count_does_not_grow_with_rows(people, setup_org, path, role, add_rows):
    state: dict = {}
    client = client_for(people[role])

    def measure(expected_rows: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(path)
        assert response.status_code == 200
        assert len(response.json()["results"]) == expected_rows
        return len(queries)

    add_rows(people, setup_org, state, 2)
    client.get(path)  # warm per-process caches so both measurements see the same state
    with_two = measure(2)
    add_rows(people, setup_org, state, 10)
    assert measure(12) == with_two


def test_api_root_lists_the_list_endpoint_of_every_app(people):
    response = client_for(people["ap_clerk"]).get("/api/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert {
        name: url.removeprefix("http://testserver") for name, url in response.json().items()
    } == {
        "rates": "/api/rates/",
        "vendors": "/api/vendors/",
        "payment-terms": "/api/payment-terms/",
        "bank-accounts": "/api/bank-accounts/",
        "contracts": "/api/contracts/",
        "requests": "/api/requests/",
        "purchase-orders": "/api/purchase-orders/",
        "receipts": "/api/receipts/",
        "budgets": "/api/budgets/",
        "invoices": "/api/invoices/",
        "exceptions": "/api/exceptions/",
        "payment-runs": "/api/payment-runs/",
    }
    assert list(response.json())[0] == "rates"
