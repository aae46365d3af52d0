"""Fixtures for procurement tests: a three-step routing table, budgets, contracts, uploads."""

import datetime as dt
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone

from procurement.models import ApprovalRule, Budget, CostCenter, GLAccount, PurchaseRequest
from procurement.services.approvals import approval_decide, can_decide
from procurement.services.requests import LineInput, request_create, request_submit
from tests import factories
from vendors.models import Contract, ContractLine


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    """Uploads go to a throwaway folder, never the project's media/."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def raise_request(
    people,
    setup_org,
    *,
    amount: str = "149.50",
    quantity: str = "1",
    by=None,
    category: str = "goods",
    cost_center=None,
    gl_account=None,
    currency: str = "EUR",
    submit: bool = True,
) -> PurchaseRequest:
    """A request for `quantity` × `amount`, submitted unless told otherwise."""
    requester = by or people["requester"]
    request = request_create(
        by=requester,
        title="Meeting chairs",
        category=category,
        currency=currency,
        cost_center=cost_center or setup_org["cost_center"],
        gl_account=gl_account or setup_org["gl_account"],
        lines=[LineInput("Meeting chair, grey", Decimal(quantity), Decimal(amount))],
    )
    if submit:
        request_submit(request=request, by=requester)
        request.refresh_from_db()
    return request


def approve_all(request: PurchaseRequest, people) -> PurchaseRequest:
    """Walk every pending step with whoever may decide it."""
    deciders = [people["approver"], people["finance_leader"], people.get("cfo")]
    for _ in range(10):
        step = request.approvals.filter(status="pending", purchase_order__isnull=True).first()
        if step is None:
            break
        decider = next(u for u in deciders if u and can_decide(step, u))
        approval_decide(step=step, by=decider, decision="approve")
    request.refresh_from_db()
    return request


@pytest.fixture
def routing(db, people):
    """Department head by name for Operations, finance above 10,000, CFO above 100,000."""
    head = factories.make_user("hannah", "approver")
    cfo = factories.make_user("carl", "finance_leader")
    people["head"] = head
    people["cfo"] = cfo
    approver = Group.objects.get_or_create(name="approver")[0]
    finance = Group.objects.get_or_create(name="finance_leader")[0]
    ApprovalRule.objects.all().delete()
    ApprovalRule.objects.create(
        name="Department head",
        step=1,
        department="Operations",
        approver_user=head,
        approver_group=approver,
    )
    ApprovalRule.objects.create(name="Any approver", step=1, approver_group=approver)
    ApprovalRule.objects.create(
        name="Finance above 10,000", step=2, min_amount=Decimal("10000"), approver_group=finance
    )
    ApprovalRule.objects.create(
        name="CFO above 100,000", step=3, min_amount=Decimal("100000"), approver_user=cfo
    )
    return people  # fmt: skip


@pytest.fixture
def budget(db, people, setup_org):
    """10,000 EUR for CC-100 this year; overruns need a finance step."""
    today = timezone.localdate()
    return Budget.objects.create(
        cost_center=setup_org["cost_center"],
        period_start=today.replace(month=1, day=1),
        period_end=today.replace(month=12, day=31),
        amount=Decimal("10000.00"),
        currency="EUR",
        updated_by=people["finance_leader"],
    )


def make_contract(vendor, people, items: dict[str, str], *, currency: str = "EUR") -> Contract:
    """An active contract in force today with {item_code: unit_price}."""
    today = timezone.localdate()
    contract = Contract.objects.create(
        vendor=vendor,
        number=f"FA-{vendor.pk}-{Contract.objects.count() + 1}",
        title="Office supplies framework",
        currency=currency,
        valid_from=today - dt.timedelta(days=30),
        valid_to=today + dt.timedelta(days=335),
        status=Contract.Status.ACTIVE,
        created_by=people["buyer"],
    )
    for code, price in items.items():
        ContractLine.objects.create(
            contract=contract,
            item_code=code,
            description=f"Item {code}",
            uom="BOX",
            unit_price=Decimal(price),
        )
    return contract


def other_coding() -> tuple[CostCenter, GLAccount]:
    cost_center = CostCenter.objects.get_or_create(
        code="CC-200", defaults={"name": "Marketing", "department": "Marketing"}
    )[0]
    gl_account = GLAccount.objects.get_or_create(code="6200", defaults={"name": "Advertising"})[0]
    return cost_center, gl_account
