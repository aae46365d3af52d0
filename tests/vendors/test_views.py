"""Vendor pages through HTTP: constant queries, masked bank details, access by role."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payables.services.matching import run_matching
from tests import factories
from tests.flow import invoice, issued_po, receive
from vendors import services as vendor_services
from vendors.models import BankAccount, Vendor

pytestmark = pytest.mark.django_db

LIST = reverse("vendors:vendor_list")
VERIFIED_IBAN = "NL91ABNA0417164300"  # what factories.make_vendor verifies
NEW_IBAN = "NL69INGB0123456789"


def detail(vendor: Vendor) -> str:
    return reverse("vendors:vendor_detail", args=[vendor.pk])


def add_vendors(count: int, people) -> None:
    """Vendors with a verified account; every third one has a bank change pending."""
    for n in range(count):
        vendor = factories.make_vendor(f"Vendor {Vendor.objects.count() + 1:03d} B.V.")
        if n % 3 == 0:
            vendor_services.bank_account_request(
                vendor=vendor, by=people["ap_clerk"], account_holder=vendor.name, iban=NEW_IBAN
            )


def test_vendor_list_queries_do_not_grow_with_vendors(client, people):
    client.force_login(people["buyer"])
    add_vendors(2, people)
    client.get(LIST)  # warm the session and role caches
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    add_vendors(10, people)
    with CaptureQueriesContext(connection) as many:
        response = client.get(LIST)
    assert len(response.context["page"].object_list) == 12
    assert len(many) == len(few)


def test_vendor_list_shows_bank_status_with_masked_iban_only(client, people):
    add_vendors(3, people)
    client.force_login(people["ap_clerk"])
    html = client.get(LIST).content.decode()
    assert "NL91 •••• 4300" in html
    assert "Change pending" in html
    assert VERIFIED_IBAN not in html and NEW_IBAN not in html


def test_vendor_list_search_and_status_filter(client, people):
    add_vendors(2, people)
    factories.make_vendor("Rheinland Facility Services GmbH", status=Vendor.Status.BLOCKED)
    client.force_login(people["finance_leader"])
    found = client.get(LIST, {"q": "rheinland"}).context["page"].object_list
    assert [v.name for v in found] == ["Rheinland Facility Services GmbH"]
    blocked = client.get(LIST, {"status": "blocked"}).context["page"].object_list
    assert [v.status for v in blocked] == ["blocked"]


def test_vendor_detail_never_shows_a_full_iban(client, people, setup_org):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    pending = vendor_services.bank_account_request(
        vendor=vendor, by=people["ap_clerk"], account_holder=vendor.name, iban=NEW_IBAN
    )
    po = issued_po(people, setup_org, vendor=vendor)
    receive(po, people, {1: "20"})
    run_matching([invoice(po, people, "KVD-0042", {1: ("40", "23.50")}).pk])
    client.force_login(people["buyer"])
    response = client.get(detail(vendor))
    html = response.content.decode()
    assert response.status_code == 200
    assert VERIFIED_IBAN not in html and NEW_IBAN not in html
    assert pending.masked_iban in html and "NL91 •••• 4300" in html
    assert "Bank change waiting for verification" in html
    # Its open PO, the invoice and its missing-receipt exception are on the page.
    assert po.number in html and "KVD-0042" in html and "Missing receipt" in html


def test_vendor_admin_masks_the_iban(client, people):
    vendor = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    admin = factories.make_user("root")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    client.force_login(admin)
    account = BankAccount.objects.get(vendor=vendor)
    for url in (
        reverse("admin:vendors_bankaccount_changelist"),
        reverse("admin:vendors_bankaccount_change", args=[account.pk]),
        reverse("admin:vendors_vendor_change", args=[vendor.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert VERIFIED_IBAN not in response.content.decode()


@pytest.mark.parametrize("role", ["requester", "approver"])
def test_vendor_pages_are_for_procurement_ap_and_finance(client, people, role):
    vendor = factories.make_vendor()
    client.force_login(people[role])
    assert client.get(LIST).status_code == 403
    assert client.get(detail(vendor)).status_code == 403
