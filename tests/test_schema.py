"""The OpenAPI schema and the Swagger UI page are part of the product, so they are tested."""

import re

import pytest
from django.core.management import call_command
from drf_spectacular.validation import validate_schema

pytestmark = pytest.mark.django_db

LIST_PATHS = [
    "/api/vendors/",
    "/api/payment-terms/",
    "/api/requests/",
    "/api/purchase-orders/",
    "/api/receipts/",
    "/api/invoices/",
    "/api/exceptions/",
    "/api/payment-runs/",
]
TRANSITION_PATHS = [
    "/api/requests/{id}/submit/",
    "/api/requests/{id}/withdraw/",
    "/api/requests/{id}/decide/",
    "/api/purchase-orders/{id}/issue/",
    "/api/exceptions/{id}/resolve/",
    "/api/payment-runs/{id}/approve/",
    "/api/payment-runs/{id}/mark-paid/",
    "/api/payment-runs/{id}/cancel/",
]


@pytest.fixture
def schema(client, people):
    client.force_login(people["ap_clerk"])
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def test_schema_is_valid_openapi_3(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)


def test_schema_describes_lists_creates_and_transitions(schema):
    paths = schema["paths"]
    for path in LIST_PATHS:
        assert "get" in paths[path], path
    for path in ("/api/requests/", "/api/purchase-orders/", "/api/receipts/", "/api/invoices/"):
        assert "post" in paths[path], path
    assert "post" in paths["/api/payment-runs/"]
    for path in TRANSITION_PATHS:
        assert set(paths[path]) >= {"post"}, path
        assert "get" not in paths[path], f"{path} changes state, so it must not answer GET"


def test_schema_shows_money_as_strings_and_documents_filters(schema):
    invoice = schema["components"]["schemas"]["Invoice"]["properties"]
    assert invoice["total_amount"]["type"] == "string"
    assert invoice["total_amount"]["format"] == "decimal"
    assert "currency" in invoice and "status_display" in invoice
    parameters = {p["name"] for p in schema["paths"]["/api/invoices/"]["get"]["parameters"]}
    assert {"status", "vendor", "due_before", "q", "cursor"} <= parameters


def test_schema_needs_login(client, db):
    assert client.get("/api/schema/").status_code in (401, 403)


def test_spectacular_validates_without_warnings(tmp_path):
    # --fail-on-warn turns every unresolved type, enum clash or queryset problem into an error.
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml")
    )
    assert (tmp_path / "schema.yaml").read_text().startswith("openapi: 3")


def test_docs_page_serves_assets_from_the_app(client, people):
    client.force_login(people["requester"])
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in html
    assert not re.search(r"https?://", html), "the docs page must not load anything from a CDN"


def test_every_operation_documents_the_refusals_it_can_answer_with(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            documented = set(operation["responses"])
            assert {"401", "403"} <= documented or path == "/api/auth/token/", (method, path)
            if "{" in path:
                assert "404" in documented, (method, path)
            if method != "get":
                assert {"400", "409"} <= documented, (method, path)
    run_approve = schema["paths"]["/api/payment-runs/{id}/approve/"]["post"]["responses"]
    assert "422" in run_approve, "a reused Idempotency-Key is refused with 422"
    assert run_approve["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Error"
    }


def test_fields_that_can_be_empty_are_documented_so(schema):
    components = schema["components"]["schemas"]
    for component, field in [
        ("PaymentRun", "approved_by_username"),
        ("BankAccount", "verified_by_username"),
        ("Invoice", "purchase_order_number"),
        ("ApprovalStep", "decided_by_username"),
        ("ApprovalStep", "on_behalf_of_username"),
    ]:
        assert components[component]["properties"][field].get("nullable") is True, field
    assert "format" not in components["Vendor"]["properties"]["email"]
    resolution = components["InvoiceException"]["properties"]["resolution"]
    assert {"$ref": "#/components/schemas/BlankEnum"} in resolution["oneOf"]


def test_exception_comments_are_a_plain_list(schema):
    listed = schema["paths"]["/api/exceptions/{id}/comments/"]["get"]["responses"]["200"]
    assert listed["content"]["application/json"]["schema"]["type"] == "array"
