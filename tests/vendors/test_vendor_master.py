"""The vendor master: validation, duplicate detection, edits and status, in the browser and API."""

import pytest
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from p2p.exceptions import DomainError
from p2p.models import AuditAction, AuditEvent
from tests import factories
from vendors import services
from vendors.models import BankAccount, Vendor

pytestmark = pytest.mark.django_db

CREATE = reverse("vendors:vendor_create")
VALID_NL_VAT = "NL853296741B01"
VALID_DE_VAT = "DE136695976"
IBAN = "NL91ABNA0417164300"


def create(people, **fields) -> Vendor:
    values = {
        "name": "Kantoorhuis Van Dijk B.V.",
        "payment_terms": factories.net30(),
        "country": "NL",
        "currency": "EUR",
    }
    return services.vendor_create(by=people["buyer"], **(values | fields))


def form_data(**fields) -> dict:
    return {
        "name": "Kantoorhuis Van Dijk B.V.",
        "country": "NL",
        "tax_id": VALID_NL_VAT,
        "currency": "EUR",
        "payment_terms": factories.net30().pk,
        "email": "facturen@kantoorhuis.example",
        "remit_to": "Utrecht",
        **fields,
    }


# --- validation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tax_id": "NL853296742B01"}, "fails its check digit"),
        ({"tax_id": "DE12345"}, "wrong number of characters"),
        (
            {"tax_id": VALID_DE_VAT},
            "VAT number from Germany, but the vendor's country is Netherlands",
        ),
        ({"country": "US", "tax_id": "07-1234567"}, "not in the format used in United States"),
        ({"country": "XX"}, "is not a country code"),
        ({"currency": "EURO"}, "is not a currency code"),
        ({"currency": "XAU"}, "is not a currency code"),
        ({"name": "   "}, "needs a name"),
    ],
)
def test_invalid_master_data_is_refused_with_a_clerk_readable_message(people, fields, message):
    with pytest.raises(DomainError, match=message):
        create(people, **fields)
    assert not Vendor.objects.exists()


@pytest.mark.parametrize(
    ("country", "typed", "stored"),
    [
        ("NL", "nl 8532.96.741.b01", VALID_NL_VAT),
        ("NL", "853296741B01", VALID_NL_VAT),  # prefix added
        ("DE", "DE 136 695 976", VALID_DE_VAT),
        ("GR", "094259216", "EL094259216"),  # Greece's VAT prefix is EL
        ("US", "04-2103594", "042103594"),  # an EIN
        ("GB", "GB 980 7806 84", "GB980780684"),
    ],
)
def test_tax_ids_are_validated_per_country_and_stored_compact(people, country, typed, stored):
    vendor = create(people, country=country, tax_id=typed)
    assert vendor.tax_id == stored


@pytest.mark.parametrize(
    ("iban", "bic", "message"),
    [
        ("NL02RABO0123456789", "", "fails its check digits"),
        ("NL91ABNA041716430", "", "wrong number of characters"),
        ("QQ91ABNA0417164300", "", "not"),
        (IBAN, "COBADEFFXXX", "belongs to a bank in Germany, but the IBAN is from Netherlands"),
        (IBAN, "ABN", "not a valid BIC"),
    ],
)
def test_bad_bank_details_are_refused_and_nothing_is_written(people, iban, bic, message):
    with pytest.raises(DomainError, match=message):
        create(people, bank=services.BankDetails(iban=iban, bic=bic))
    assert not Vendor.objects.exists() and not BankAccount.objects.exists()


def test_bank_details_on_create_start_as_a_pending_change_with_derived_bic(people):
    vendor = create(people, bank=services.BankDetails(iban="nl91 abna 0417 1643 00"))
    account = vendor.bank_accounts.get()
    assert (account.iban, account.bic, account.status) == (IBAN, "ABNANL2A", "pending")
    assert account.account_holder == vendor.name


# --- duplicates -----------------------------------------------------------------------------


def test_the_same_tax_id_is_refused_naming_the_existing_vendor(people):
    existing = create(people, tax_id=VALID_NL_VAT)
    with pytest.raises(DomainError, match=f"already exists: {existing.name}"):
        create(people, name="Totally Different B.V.", tax_id="nl853296741b01")
    assert Vendor.objects.count() == 1


def test_same_iban_or_near_identical_name_warns_until_confirmed(people):
    existing = create(people, bank=services.BankDetails(iban=IBAN))
    with pytest.raises(services.PossibleDuplicate) as near_name:
        create(people, name="Kantoorhuis van Dijk BV")
    assert [(m.vendor, m.reason) for m in near_name.value.matches] == [
        (existing, "near-identical name")
    ]
    with pytest.raises(services.PossibleDuplicate) as same_iban:
        create(people, name="Utrecht Paper Supplies", bank=services.BankDetails(iban=IBAN))
    assert same_iban.value.matches[0].reason == "same IBAN NL91 •••• 4300"
    assert IBAN not in same_iban.value.message
    confirmed = create(people, name="Kantoorhuis van Dijk BV", confirm_duplicates=True)
    assert confirmed.pk != existing.pk


def test_different_names_are_not_flagged(people):
    create(people, name="Bürotechnik Schneider GmbH", country="DE")
    assert create(people, name="Drukkerij Hollandia B.V.")
    with pytest.raises(services.PossibleDuplicate):
        create(people, name="Burotechnik Schneider", country="DE")


def test_create_page_warns_with_a_link_and_creates_once_confirmed(client, people):
    existing = create(people)
    client.force_login(people["buyer"])
    response = client.post(CREATE, form_data(name="Kantoorhuis Van Dijk", tax_id=""))
    html = response.content.decode()
    assert response.status_code == 200
    assert "This may be a vendor we already have" in html
    assert reverse("vendors:vendor_detail", args=[existing.pk]) in html
    assert Vendor.objects.count() == 1
    response = client.post(
        CREATE, form_data(name="Kantoorhuis Van Dijk", tax_id="", confirm_duplicates="on")
    )
    created = Vendor.objects.latest("id")
    assert response.status_code == 302
    assert response["Location"] == reverse("vendors:vendor_detail", args=[created.pk])
    assert created.status == Vendor.Status.ONBOARDING


def test_create_page_shows_the_tax_id_problem_and_keeps_the_input(client, people):
    client.force_login(people["buyer"])
    response = client.post(CREATE, form_data(tax_id="NL853296742B01"))
    html = response.content.decode()
    assert "fails its check digit" in html
    assert 'value="NL853296742B01"' in html
    assert not Vendor.objects.exists()


def test_create_page_with_bank_details_creates_a_pending_change(client, people):
    client.force_login(people["ap_manager"])
    response = client.post(CREATE, form_data(iban=IBAN))
    vendor = Vendor.objects.get()
    assert response.status_code == 302
    assert vendor.bank_accounts.get().status == BankAccount.Status.PENDING


@pytest.mark.parametrize("role", ["ap_clerk", "finance_leader", "requester"])
def test_only_buyers_and_ap_managers_create_vendors(client, people, role):
    client.force_login(people[role])
    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, form_data()).status_code == 403
    with pytest.raises(PermissionDenied):
        services.vendor_create(by=people[role], name="X", payment_terms=factories.net30())


# --- edit and status ------------------------------------------------------------------------


def test_edit_records_old_and_new_values(client, people):
    vendor = create(people, tax_id=VALID_NL_VAT)
    client.force_login(people["buyer"])
    url = reverse("vendors:vendor_edit", args=[vendor.pk])
    assert client.get(url).status_code == 200
    response = client.post(
        url, form_data(email="ar@kantoorhuis.example", payment_terms=factories.two_ten_net30().pk)
    )
    assert response.status_code == 302
    vendor.refresh_from_db()
    assert vendor.email == "ar@kantoorhuis.example"
    event = AuditEvent.objects.get(
        object_type="vendors.vendor", object_id=vendor.pk, action=AuditAction.UPDATED
    )
    assert event.changes["email"] == ["", "ar@kantoorhuis.example"]
    assert event.changes["payment_terms"] == ["Net 30", "2/10 Net 30"]


def test_edit_refuses_another_vendors_tax_id(people):
    create(people, tax_id=VALID_NL_VAT)
    other = create(people, name="Drukkerij Hollandia B.V.")
    details = services.VendorDetails(
        name=other.name, payment_terms=other.payment_terms, tax_id=VALID_NL_VAT
    )
    with pytest.raises(DomainError, match="already exists"):
        services.vendor_update(vendor=other, by=people["buyer"], details=details)


def test_block_needs_a_reason_and_the_reason_is_audited(client, people):
    vendor = create(people)
    client.force_login(people["buyer"])
    url = reverse("vendors:vendor_set_status", args=[vendor.pk])
    client.post(url, {"status": "active", "reason": "Onboarding checks complete"})
    vendor.refresh_from_db()
    assert vendor.status == Vendor.Status.ACTIVE
    response = client.post(url, {"status": "blocked", "reason": ""}, follow=True)
    assert "goes into the audit trail" in response.content.decode()
    vendor.refresh_from_db()
    assert vendor.status == Vendor.Status.ACTIVE
    with pytest.raises(DomainError, match="Say why"):
        services.vendor_set_status(vendor=vendor, status="blocked", by=people["buyer"])
    client.post(url, {"status": "blocked", "reason": "Repeated over-billing"})
    vendor.refresh_from_db()
    assert (vendor.status, vendor.status_reason) == ("blocked", "Repeated over-billing")
    notes = list(
        AuditEvent.objects.filter(
            object_type="vendors.vendor", object_id=vendor.pk, action=AuditAction.STATUS
        )
        .order_by("id")
        .values_list("to_status", "note")
    )
    assert notes == [("active", "Onboarding checks complete"), ("blocked", "Repeated over-billing")]


# --- list, search, API ----------------------------------------------------------------------


def test_search_by_name_or_tax_id_typed_with_spaces(client, people):
    create(people, tax_id=VALID_NL_VAT)
    create(people, name="Bürotechnik Schneider GmbH", country="DE", tax_id=VALID_DE_VAT)
    client.force_login(people["ap_clerk"])
    lst = reverse("vendors:vendor_list")

    def names(**params):
        return [v.name for v in client.get(lst, params).context["page"].object_list]

    assert names(q="schneider") == ["Bürotechnik Schneider GmbH"]
    assert names(q="DE 136 695 976") == ["Bürotechnik Schneider GmbH"]
    assert names(country="NL") == ["Kantoorhuis Van Dijk B.V."]
    assert names(status="onboarding") == ["Bürotechnik Schneider GmbH", "Kantoorhuis Van Dijk B.V."]
    api = client.get("/api/vendors/", {"tax_id": "nl853296741", "status": "onboarding"}).json()
    assert [v["name"] for v in api["results"]] == ["Kantoorhuis Van Dijk B.V."]


def test_api_creates_updates_and_blocks_a_vendor(client, people):
    client.force_login(people["buyer"])
    payload = {
        "name": "Bürotechnik Schneider GmbH",
        "tax_id": "DE136695976",
        "country": "DE",
        "currency": "EUR",
        "payment_terms": factories.net30().pk,
        "iban": "DE89370400440532013000",
    }
    response = client.post("/api/vendors/", payload, content_type="application/json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "onboarding"
    assert body["pending_bank_change"] is True and body["on_payment_hold"] is True
    assert "DE89370400440532013000" not in response.content.decode()
    duplicate = client.post(
        "/api/vendors/", {**payload, "tax_id": "", "iban": ""}, content_type="application/json"
    )
    assert duplicate.status_code == 409
    assert duplicate.json()["duplicates"][0]["id"] == body["id"]
    same_tax = client.post(
        "/api/vendors/", {**payload, "name": "Other", "iban": ""}, content_type="application/json"
    )
    assert same_tax.status_code == 400 and "already exists" in same_tax.json()["detail"]
    patched = client.patch(
        f"/api/vendors/{body['id']}/",
        {"email": "rechnung@example.de"},
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["email"] == "rechnung@example.de"
    bad = client.patch(
        f"/api/vendors/{body['id']}/", {"country": "ZZ"}, content_type="application/json"
    )
    assert bad.status_code == 400 and "not a country code" in bad.json()["detail"]
    blocked = client.post(
        f"/api/vendors/{body['id']}/set-status/",
        {"status": "blocked", "reason": "Fraud suspicion"},
        content_type="application/json",
    )
    assert blocked.status_code == 200 and blocked.json()["status_reason"] == "Fraud suspicion"


def test_api_patch_with_a_list_body_is_a_400_not_a_crash(client, people):
    vendor = create(people)
    client.force_login(people["buyer"])
    response = client.patch(
        f"/api/vendors/{vendor.pk}/", ["email", "x@example.de"], content_type="application/json"
    )
    assert response.status_code == 400
    assert "Expected a dictionary" in response.json()["non_field_errors"][0]
    vendor.refresh_from_db()
    assert vendor.email == ""


def test_api_vendor_writes_need_a_vendor_editor(client, people):
    client.force_login(people["ap_clerk"])
    response = client.post(
        "/api/vendors/",
        {"name": "X", "country": "NL", "currency": "EUR", "payment_terms": factories.net30().pk},
        content_type="application/json",
    )
    assert response.status_code == 403


def test_vendor_api_list_queries_do_not_grow(client, people):
    client.force_login(people["buyer"])
    for n in range(2):
        factories.make_vendor(f"Vendor A{n}")
    client.get("/api/vendors/")
    with CaptureQueriesContext(connection) as few:
        client.get("/api/vendors/")
    for n in range(10):
        factories.make_vendor(f"Vendor B{n}")
    with CaptureQueriesContext(connection) as many:
        assert len(client.get("/api/vendors/").json()["results"]) == 12
    assert len(many) == len(few)
