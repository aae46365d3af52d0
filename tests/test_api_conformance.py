"""Every API operation, fuzzed by schemathesis against a live server, answers as the schema says.

The operations come from the published schema itself, so an endpoint added later is fuzzed
too without touching this file. The data is the demo's (vendors, requests, orders, invoices,
exceptions and payment runs in every state), so the generated calls reach real documents.
"""

import json
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from demo.people import DEMO_PASSWORD
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.payments import PaymentRun
from procurement.models import PurchaseOrder, PurchaseRequest, Receipt
from vendors.models import Vendor

pytestmark = pytest.mark.django_db(transaction=True)

# Bounded so the whole test stays near a minute; the fixed seed makes a failure reproducible.
EXAMPLES_PER_OPERATION = 3
SEED = 1788
CHECKS = "not_a_server_error,status_code_conformance,response_schema_conformance"
# The administrator sees everything; an AP clerk is refused much of it, and those refusals
# must be documented as well.
USERNAMES = ("admin", "carla")


def ids_within_the_demo(schema: dict) -> dict:
    """The schema with integer path ids bounded to the demo's, so calls reach real documents.

    Unbounded, nearly every generated id is a 404 and the operations behind them go untested.
    """
    highest = max(
        model.objects.order_by("-pk").values_list("pk", flat=True).first() or 1
        for model in (
            Vendor, PurchaseRequest, PurchaseOrder, Receipt, Invoice, InvoiceException, PaymentRun
        )
    )  # fmt: skip
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and parameter["schema"].get("type") == "integer":
                    parameter["schema"].update(minimum=1, maximum=highest)
    return schema


def schemathesis_run(schema_file: Path, base_url: str, token: str, workdir: Path) -> str:
    """Run schemathesis' fuzzing phase once as the token's user; the report if anything failed."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        str(schema_file),
        "--url",
        base_url,
        "--header",
        f"Authorization: Token {token}",
        "--checks",
        CHECKS,
        "--phases",
        "fuzzing",
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "1",
        "--no-color",
    ]
    finished = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=300, check=False
    )
    return "" if finished.returncode == 0 else finished.stdout[-20000:] + finished.stderr[-5000:]


def test_every_operation_answers_as_its_schema_documents(live_server, client, tmp_path):
    call_command("seed_demo", stdout=StringIO())
    client.force_login(User.objects.get(username="admin"))
    schema = client.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(json.dumps(ids_within_the_demo(schema.json())))

    for username in USERNAMES:
        # Through the token endpoint, as an integration would log in.
        login = {"username": username, "password": DEMO_PASSWORD}
        token = client.post("/api/auth/token/", login).json()["token"]
        report = schemathesis_run(schema_file, live_server.url, token, tmp_path)
        assert not report, f"as {username}:\n{report}"
