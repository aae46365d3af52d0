"""No PO can be issued to, and no payment made to, a vendor that is not active."""

import datetime as dt
from decimal import Decimal

import pytest

from p2p.exceptions import DomainError
from payables.models.invoices import Invoice
from payables.services.matching import run_matching
from payables.services.payments import payment_run_propose
from procurement.models import PurchaseOrder
from procurement.services.approvals import approval_decide
from procurement.services.orders import po_create_from_request, po_issue
from procurement.services.requests import LineInput, request_create, request_submit
from tests import factories
from tests.flow import invoice, issued_po, receive
from vendors import services
from vendors.models import Vendor

pytestmark = pytest.mark.django_db


def draft_po_for(people, setup_org, vendor: Vendor) -> PurchaseOrder:
    """An approved request ordered from the vendor as a draft PO, not yet issued."""
    request = request_create(
        by=people["requester"],
        title="Laptops for new starters",
        category="goods",
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        lines=[LineInput("Dell Latitude 5450", Decimal("2"), Decimal("1149.00"))],
    )
    request_submit(request=request, by=people["requester"])
    step = request.approvals.get(status="pending")
    approval_decide(step=step, by=people["approver"], decision="approve")
    request.refresh_from_db()
    return po_create_from_request(request=request, vendor=vendor, by=people["buyer"])


@pytest.mark.parametrize("status", [Vendor.Status.ONBOARDING, Vendor.Status.BLOCKED])
def test_po_issue_refuses_a_vendor_that_is_not_active(people, setup_org, status):
    vendor = factories.make_vendor("Bürotechnik Schneider GmbH")
    po = draft_po_for(people, setup_org, vendor)
    Vendor.objects.filter(pk=vendor.pk).update(status=status)
    with pytest.raises(DomainError, match="only active vendors can receive purchase orders"):
        po_issue(po=po, by=people["buyer"])
    po.refresh_from_db()
    assert po.status == PurchaseOrder.Status.DRAFT


def test_blocking_a_vendor_keeps_its_approved_invoices_out_of_payment_runs(people, setup_org):
    payable = factories.make_vendor("Kantoorhuis Van Dijk B.V.")
    blocked = factories.make_vendor("Rheinland Facility Services GmbH")
    numbers = []
    # Different amounts: the test vendors share one IBAN and look-alikes would be flagged.
    for vendor, number, qty in ((payable, "KVD-9", "40"), (blocked, "RFS-4", "30")):
        po = issued_po(people, setup_org, vendor=vendor)
        receive(po, people, {1: qty})
        inv = invoice(po, people, number, {1: (qty, "23.50")}, invoice_date=dt.date(2026, 10, 15))
        numbers.append(inv.pk)
    run_matching(numbers)
    services.vendor_set_status(
        vendor=blocked, status=Vendor.Status.BLOCKED, by=people["buyer"], note="Fraud suspicion"
    )
    run = payment_run_propose(
        by=people["ap_clerk"],
        pay_date=dt.date(2026, 11, 10),
        horizon_date=dt.date(2026, 11, 20),
        currency="EUR",
    )
    assert [p.vendor.name for p in run.payments.select_related("vendor")] == [payable.name]
    assert Invoice.objects.get(number="RFS-4").status == Invoice.Status.APPROVED
