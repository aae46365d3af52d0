"""The fraud control: bank changes are made by one person, verified by another, masked
everywhere, and hold the vendor's payments until verified."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from p2p.exceptions import DomainError, InvalidTransition, SegregationOfDutiesError
from p2p.models import AuditEvent
from payables.models.invoices import Invoice
from payables.selectors import vendors as vendor_figures
from payables.services.matching import run_matching
from payables.services.payments import payment_run_propose
from tests import factories
from tests.flow import invoice, issued_po, receive
from vendors import selectors, services
from vendors.models import BankAccount, Vendor

pytestmark = pytest.mark.django_db

OLD_IBAN = "NL91ABNA0417164300"  # what factories.make_vendor verifies
NEW_IBAN = "NL39RABO0300065264"
HOLDS = reverse("vendors:payment_holds")


def request_change(vendor: Vendor, by) -> BankAccount:
    return services.bank_account_request(
        vendor=vendor, by=by, account_holder=vendor.name, iban=NEW_IBAN
    )


def approved_invoice(people, setup_org, vendor: Vendor, number: str, qty: str = "40") -> Invoice:
    # Test vendors share one IBAN, so amounts differ per vendor: payables flags look-alike
    # invoices of vendors paid into the same account.
    po = issued_po(people, setup_org, vendor=vendor)
    receive(po, people, {1: qty})
    inv = invoice(po, people, number, {1: (qty, "23.50")}, invoice_date=dt.date(2026, 10, 15))
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED
    return inv


def propose(people):
    return payment_run_propose(
        by=people["ap_clerk"],
        pay_date=dt.date(2026, 11, 10),
        horizon_date=dt.date(2026, 11, 20),
        currency="EUR",
    )


def test_the_maker_cannot_verify_their_own_change(people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    account = request_change(vendor, people["buyer"])
    with pytest.raises(SegregationOfDutiesError, match="different person must verify"):
        services.bank_account_verify(account=account, by=people["buyer"], confirm_iban=NEW_IBAN)
    account.refresh_from_db()
    assert account.status == BankAccount.Status.PENDING
    # The database refuses it too, whatever code tries.
    account.status, account.verified_by = BankAccount.Status.VERIFIED, people["buyer"]
    with pytest.raises(IntegrityError), transaction.atomic():
        account.save()


def test_the_maker_cannot_verify_through_the_page_or_the_api(client, people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    account = request_change(vendor, people["buyer"])
    client.force_login(people["buyer"])
    page = client.get(reverse("vendors:vendor_detail", args=[vendor.pk])).content.decode()
    assert "Verify change" not in page and "a different buyer or AP manager must verify" in page
    response = client.post(
        reverse("vendors:bank_change_verify", args=[account.pk]),
        {"confirm_iban": NEW_IBAN},
        follow=True,
    )
    assert "different person must verify" in response.content.decode()
    api = client.post(
        f"/api/bank-accounts/{account.pk}/verify/",
        {"confirm_iban": NEW_IBAN},
        content_type="application/json",
    )
    assert api.status_code == 403
    account.refresh_from_db()
    assert account.status == BankAccount.Status.PENDING


def test_verification_needs_the_iban_the_vendor_confirmed(people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    account = request_change(vendor, people["ap_clerk"])
    with pytest.raises(DomainError, match="does not match the requested change"):
        services.bank_account_verify(
            account=account, by=people["ap_manager"], confirm_iban="NL20INGB0001234567"
        )
    with pytest.raises(DomainError, match="not valid"):
        services.bank_account_verify(account=account, by=people["ap_manager"], confirm_iban="NL1")
    verified = services.bank_account_verify(
        account=account, by=people["ap_manager"], confirm_iban="nl39 rabo 0300 0652 64"
    )
    assert verified.status == BankAccount.Status.VERIFIED
    statuses = dict(vendor.bank_accounts.values_list("iban", "status"))
    assert statuses == {OLD_IBAN: "superseded", NEW_IBAN: "verified"}


def test_an_ap_clerk_may_enter_but_not_verify(people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    account = request_change(vendor, people["buyer"])
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        services.bank_account_verify(account=account, by=people["ap_clerk"], confirm_iban=NEW_IBAN)


def test_one_change_at_a_time_and_no_change_to_the_same_account(people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    with pytest.raises(DomainError, match="already .* verified account"):
        services.bank_account_request(
            vendor=vendor, by=people["ap_clerk"], account_holder=vendor.name, iban=OLD_IBAN
        )
    request_change(vendor, people["ap_clerk"])
    with pytest.raises(DomainError, match="already waiting for verification"):
        services.bank_account_request(
            vendor=vendor,
            by=people["buyer"],
            account_holder=vendor.name,
            iban="NL20INGB0001234567",
        )
    with pytest.raises(DomainError, match="fails its check digits"):
        services.bank_account_request(
            vendor=vendor, by=people["buyer"], account_holder=vendor.name, iban="NL02RABO0123456789"
        )


def test_reject_keeps_the_old_account_and_needs_a_reason(client, people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    account = request_change(vendor, people["ap_clerk"])
    with pytest.raises(DomainError, match="Say why"):
        services.bank_account_reject(account=account, by=people["buyer"], reason=" ")
    client.force_login(people["buyer"])
    client.post(
        reverse("vendors:bank_change_reject", args=[account.pk]),
        {"reason": "Vendor denies sending new details"},
    )
    account.refresh_from_db()
    assert account.status == BankAccount.Status.REJECTED
    assert vendor.bank_accounts.get(iban=OLD_IBAN).status == BankAccount.Status.VERIFIED
    with pytest.raises(InvalidTransition):
        services.bank_account_verify(
            account=account, by=people["ap_manager"], confirm_iban=NEW_IBAN
        )


def test_every_change_and_verification_is_in_the_audit_trail_masked(client, people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    client.force_login(people["ap_clerk"])
    client.post(
        reverse("vendors:bank_change_request", args=[vendor.pk]),
        {"account_holder": vendor.name, "iban": NEW_IBAN, "bic": ""},
    )
    account = vendor.bank_accounts.get(status=BankAccount.Status.PENDING)
    assert account.bic == "RABONL2U"  # derived from the IBAN
    client.force_login(people["ap_manager"])
    client.post(
        reverse("vendors:bank_change_verify", args=[account.pk]), {"confirm_iban": NEW_IBAN}
    )
    events = AuditEvent.objects.filter(object_type="vendors.bankaccount").order_by("id")
    assert [(e.actor_name, e.action, e.to_status) for e in events] == [
        ("carla", "created", "pending"),
        ("martin", "status", "superseded"),
        ("martin", "status", "verified"),
    ]
    assert all(NEW_IBAN not in f"{e.object_repr}{e.changes}{e.note}" for e in events)
    assert events[0].changes["iban"] == "NL39 •••• 5264"


def test_bank_details_are_masked_on_pages_and_in_the_api(client, people):
    vendor = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    request_change(vendor, people["ap_clerk"])
    client.force_login(people["ap_manager"])
    urls = [
        reverse("vendors:vendor_detail", args=[vendor.pk]),
        reverse("vendors:vendor_list"),
        HOLDS,
        "/api/bank-accounts/",
        f"/api/bank-accounts/?vendor={vendor.pk}&status=pending",
        "/api/vendors/payment-holds/",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        assert NEW_IBAN not in body and OLD_IBAN not in body, url
    pending = client.get("/api/bank-accounts/", {"status": "pending"}).json()["results"]
    assert [a["iban"] for a in pending] == ["NL39 •••• 5264"]


def test_an_unverified_change_blocks_payment_and_the_hold_shows(client, people, setup_org):
    paid_normally = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    changing = factories.make_vendor("Schoonmaakbedrijf De Vries B.V.")
    approved_invoice(people, setup_org, paid_normally, "KVD-1")
    held = approved_invoice(people, setup_org, changing, "DV-77", qty="30")
    account = request_change(changing, people["ap_clerk"])

    run = propose(people)
    assert [p.invoice.number for p in run.payments.select_related("invoice")] == ["KVD-1"]
    assert Invoice.objects.get(pk=held.pk).status == Invoice.Status.APPROVED

    on_hold = {v.name: v for v in vendor_figures.vendors_on_payment_hold()}
    assert on_hold["Schoonmaakbedrijf De Vries B.V."].held_invoices == 1
    assert selectors.hold_reasons(on_hold["Schoonmaakbedrijf De Vries B.V."]) == [
        "Bank change waiting for verification by a second person"
    ]
    assert "Kantoorhuis Van Dijk B.V." not in on_hold
    client.force_login(people["ap_clerk"])
    page = client.get(HOLDS).content.decode()
    assert "Schoonmaakbedrijf De Vries B.V." in page
    assert "Bank change waiting for verification" in page and "NL39 •••• 5264" in page
    assert held.payable_amount == Decimal("853.05") and "853.05 EUR" in page
    detail = client.get(reverse("vendors:vendor_detail", args=[changing.pk])).content.decode()
    assert "Payments on hold" in detail and "1 approved invoice" in detail

    services.bank_account_verify(account=account, by=people["buyer"], confirm_iban=NEW_IBAN)
    second = propose(people)
    assert [p.invoice.number for p in second.payments.select_related("invoice")] == ["DV-77"]
    assert not vendor_figures.vendors_on_payment_hold().filter(pk=changing.pk).exists()


def test_hold_list_explains_blocked_onboarding_and_missing_accounts(client, people):
    blocked = factories.make_vendor("Geblokkeerd B.V.", status=Vendor.Status.BLOCKED)
    Vendor.objects.filter(pk=blocked.pk).update(status_reason="Repeated over-billing")
    factories.make_vendor("Nieuw B.V.", status=Vendor.Status.ONBOARDING)
    factories.make_vendor("Zonder Bank B.V.", verified_bank=False)
    factories.make_vendor("Betaalbaar B.V.")
    reasons = {v.name: selectors.hold_reasons(v) for v in vendor_figures.vendors_on_payment_hold()}
    assert reasons == {
        "Geblokkeerd B.V.": ["Blocked: Repeated over-billing"],
        "Nieuw B.V.": ["Still onboarding: not yet activated"],
        "Zonder Bank B.V.": ["No verified bank account"],
    }
    client.force_login(people["buyer"])
    page = client.get(HOLDS, {"show": "all"}).content.decode()
    assert "Blocked: Repeated over-billing" in page and "Betaalbaar" not in page


@pytest.mark.parametrize("role", ["requester", "approver", "finance_leader"])
def test_hold_list_is_for_ap_and_buyers(client, people, role):
    client.force_login(people[role])
    assert client.get(HOLDS).status_code == 403


def test_hold_list_queries_do_not_grow(client, people):
    def add(count: int) -> None:
        for _n in range(count):
            vendor = factories.make_vendor(f"Hold {Vendor.objects.count():03d} B.V.")
            request_change(vendor, people["ap_clerk"])

    client.force_login(people["ap_clerk"])
    add(2)
    client.get(HOLDS, {"show": "all"})
    with CaptureQueriesContext(connection) as few:
        client.get(HOLDS, {"show": "all"})
    add(10)
    with CaptureQueriesContext(connection) as many:
        response = client.get(HOLDS, {"show": "all"})
    assert response.content.decode().count('<a class="row-link"') == 12
    assert len(many) == len(few)
