"""Contracts and rate cards: drafting, activation rules, the price in force on a date."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from p2p.exceptions import DomainError, InvalidTransition
from p2p.models import AuditEvent
from tests import factories
from vendors import selectors, services
from vendors.models import Contract, Vendor

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()
PAPER = services.ContractLineInput(
    "PAP-A4-80", "A4 copy paper 80 g, box of 5 reams", Decimal("21.90"), "BOX"
)
TONER = services.ContractLineInput("TON-305A", "HP 305A toner, black", Decimal("84.5"), "EA")


def contract(people, vendor: Vendor, number: str = "MSA-2026-01", *, lines=(PAPER, TONER), **dates):
    return services.contract_create(
        by=people["buyer"],
        vendor=vendor,
        number=number,
        title="Office supplies framework",
        currency="EUR",
        valid_from=dates.get("valid_from", TODAY - dt.timedelta(days=30)),
        valid_to=dates.get("valid_to", TODAY + dt.timedelta(days=335)),
        lines=list(lines),
    )


def test_active_contract_price_is_the_rate_card_line_in_force(people):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    draft = contract(people, vendor)
    lookup = {"vendor_id": vendor.pk, "item_code": "pap-a4-80", "currency": "EUR"}
    assert selectors.active_contract_price(on_date=TODAY, **lookup) is None  # still a draft
    services.contract_activate(contract=draft, by=people["buyer"])
    line = selectors.active_contract_price(on_date=TODAY, **lookup)
    assert (line.unit_price, line.uom, line.contract.number) == (
        Decimal("21.9000"),
        "BOX",
        "MSA-2026-01",
    )
    assert selectors.active_contract_price(**lookup | {"currency": "USD"}, on_date=TODAY) is None
    assert selectors.active_contract_price(on_date=TODAY + dt.timedelta(days=336), **lookup) is None
    assert selectors.active_contract_price(on_date=TODAY - dt.timedelta(days=31), **lookup) is None
    assert [line.item_code for line in selectors.contract_items_for(vendor)] == [
        "PAP-A4-80",
        "TON-305A",
    ]
    services.contract_terminate(contract=draft, by=people["buyer"], reason="Renegotiated")
    assert selectors.active_contract_price(on_date=TODAY, **lookup) is None
    assert not selectors.contract_items_for(vendor).exists()


def test_activation_refuses_overlapping_prices_for_the_same_item(people):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    services.contract_activate(contract=contract(people, vendor), by=people["buyer"])
    overlapping = contract(people, vendor, "MSA-2026-02", lines=[PAPER])
    with pytest.raises(DomainError, match=r"PAP-A4-80 \(MSA-2026-01\)"):
        services.contract_activate(contract=overlapping, by=people["buyer"])
    later = contract(
        people,
        vendor,
        "MSA-2027-01",
        lines=[PAPER],
        valid_from=TODAY + dt.timedelta(days=336),
        valid_to=TODAY + dt.timedelta(days=700),
    )
    services.contract_activate(contract=later, by=people["buyer"])
    price_next_year = selectors.active_contract_price(
        vendor_id=vendor.pk,
        item_code="PAP-A4-80",
        on_date=TODAY + dt.timedelta(days=400),
        currency="EUR",
    )
    assert price_next_year.contract.number == "MSA-2027-01"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"number": " "}, "contract number"),
        ({"valid_to": TODAY - dt.timedelta(days=60)}, "ends before it starts"),
        ({"lines": [PAPER, PAPER]}, "appears twice"),
        ({"lines": [services.ContractLineInput("X", "Y", Decimal("-1"))]}, "zero or more"),
        ({"lines": [services.ContractLineInput("", "Y", Decimal("1"))]}, "needs an item code"),
        ({"currency": "EURO"}, "not a currency code"),
    ],
)
def test_bad_contracts_are_refused_and_nothing_is_written(people, change, message):
    vendor = factories.make_vendor()
    fields = {
        "by": people["buyer"],
        "vendor": vendor,
        "number": "MSA-1",
        "title": "Framework",
        "currency": "EUR",
        "valid_from": TODAY - dt.timedelta(days=30),
        "valid_to": TODAY + dt.timedelta(days=30),
        "lines": [PAPER],
    }
    with pytest.raises(DomainError, match=message):
        services.contract_create(**fields | change)
    assert not Contract.objects.exists()


def test_activation_rules(people):
    vendor = factories.make_vendor()
    empty = contract(people, vendor, "EMPTY", lines=[])
    with pytest.raises(DomainError, match="at least one rate-card line"):
        services.contract_activate(contract=empty, by=people["buyer"])
    past = contract(
        people,
        vendor,
        "OLD",
        valid_from=TODAY - dt.timedelta(days=90),
        valid_to=TODAY - dt.timedelta(days=1),
    )
    with pytest.raises(DomainError, match="fix the validity dates"):
        services.contract_activate(contract=past, by=people["buyer"])
    Vendor.objects.filter(pk=vendor.pk).update(status=Vendor.Status.BLOCKED)
    with pytest.raises(DomainError, match="blocked"):
        services.contract_activate(contract=contract(people, vendor, "NEW"), by=people["buyer"])


def test_only_drafts_are_edited_and_expiry_runs_set_based(people):
    vendor = factories.make_vendor()
    active = contract(people, vendor, valid_from=TODAY - dt.timedelta(days=30), valid_to=TODAY)
    services.contract_activate(contract=active, by=people["buyer"])
    with pytest.raises(InvalidTransition, match="only drafts can be edited"):
        services.contract_update(
            contract=active,
            by=people["buyer"],
            title="x",
            currency="EUR",
            valid_from=TODAY,
            valid_to=TODAY,
            lines=[PAPER],
        )
    assert services.contracts_expire(today=TODAY) == 0
    assert services.contracts_expire(today=TODAY + dt.timedelta(days=1)) == 1
    active.refresh_from_db()
    assert active.status == Contract.Status.EXPIRED
    assert (
        AuditEvent.objects.filter(object_type="vendors.contract", to_status="expired").count() == 1
    )


def test_contract_pages_create_edit_and_activate(client, people):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    client.force_login(people["buyer"])
    new = reverse("vendors:contract_create")
    assert client.get(new, {"vendor": vendor.pk}).status_code == 200
    row = client.get(reverse("vendors:contract_line_row"), {"lines-TOTAL_FORMS": "1"})
    assert 'name="lines-1-item_code"' in row.content.decode()
    data = {
        "vendor": vendor.pk,
        "number": "MSA-2026-07",
        "title": "Office supplies 2026",
        "currency": "EUR",
        "valid_from": TODAY.isoformat(),
        "valid_to": (TODAY + dt.timedelta(days=365)).isoformat(),
        "notes": "",
        "lines-TOTAL_FORMS": "2",
        "lines-INITIAL_FORMS": "0",
        "lines-0-item_code": "pap-a4-80",
        "lines-0-description": "A4 copy paper",
        "lines-0-uom": "box",
        "lines-0-unit_price": "21.90",
        "lines-1-item_code": "",
        "lines-1-description": "",
        "lines-1-uom": "EA",
        "lines-1-unit_price": "",
    }
    response = client.post(new, data)
    created = Contract.objects.get()
    assert response.status_code == 302
    assert [(line.item_code, line.uom) for line in created.lines.all()] == [("PAP-A4-80", "BOX")]
    edit = reverse("vendors:contract_edit", args=[created.pk])
    assert client.get(edit).status_code == 200
    edited = {k: v for k, v in data.items() if k not in ("vendor", "number")} | {
        "lines-0-unit_price": "20.50"
    }
    assert client.post(edit, edited).status_code == 302
    client.post(reverse("vendors:contract_activate", args=[created.pk]))
    created.refresh_from_db()
    assert created.status == Contract.Status.ACTIVE
    page = client.get(reverse("vendors:contract_detail", args=[created.pk])).content.decode()
    assert "20.50 EUR" in page and "PAP-A4-80" in page
    vendor_page = client.get(reverse("vendors:vendor_detail", args=[vendor.pk])).content.decode()
    assert "MSA-2026-07" in vendor_page


def test_contract_api_and_price_lookup(client, people):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    client.force_login(people["buyer"])
    body = {
        "vendor": vendor.pk,
        "number": "MSA-API",
        "title": "Office supplies",
        "currency": "EUR",
        "valid_from": TODAY.isoformat(),
        "valid_to": (TODAY + dt.timedelta(days=10)).isoformat(),
        "lines": [{"item_code": "PAP-A4-80", "description": "Paper", "unit_price": "21.90"}],
    }
    created = client.post("/api/contracts/", body, content_type="application/json")
    assert created.status_code == 201, created.json()
    pk = created.json()["id"]
    assert client.post(f"/api/contracts/{pk}/activate/").json()["status"] == "active"
    price = client.get(
        "/api/contracts/price/", {"vendor": vendor.pk, "item_code": "pap-a4-80", "currency": "EUR"}
    )
    assert price.status_code == 200 and price.json()["unit_price"] == "21.9000"
    listed = client.get(
        "/api/contracts/", {"vendor": vendor.pk, "status": "active", "q": "PAP-A4-80"}
    )
    assert [c["number"] for c in listed.json()["results"]] == ["MSA-API"]
    client.force_login(people["ap_clerk"])
    assert client.post(f"/api/contracts/{pk}/terminate/", {"reason": "x"}).status_code == 403


def test_contract_list_queries_do_not_grow(client, people):
    vendor = factories.make_vendor()
    client.force_login(people["ap_clerk"])

    def add(count: int) -> None:
        for _n in range(count):
            contract(people, vendor, f"C-{Contract.objects.count():03d}")

    add(2)
    url = reverse("vendors:contract_list")
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    add(10)
    with CaptureQueriesContext(connection) as many:
        assert len(client.get(url).context["page"].object_list) == 12
    assert len(many) == len(few)


@pytest.mark.parametrize(
    "url", ["/api/contracts/", "/api/bank-accounts/", "/api/vendors/payment-holds/"]
)
def test_contract_and_bank_endpoints_keep_their_query_count(client, people, url):
    def add(count: int) -> None:
        for _ in range(count):
            vendor = factories.make_vendor(f"Vendor {Vendor.objects.count():03d} B.V.")
            contract(people, vendor, "C-1")
            services.bank_account_request(
                vendor=vendor, by=people["ap_clerk"], account_holder="X", iban="NL39RABO0300065264"
            )

    client.force_login(people["buyer"])
    add(2)
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    add(10)
    with CaptureQueriesContext(connection) as many:
        assert client.get(url).status_code == 200
    assert len(many) == len(few)
