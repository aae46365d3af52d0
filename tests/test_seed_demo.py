"""The demo loader: one copy of everything however often it runs, every state on show."""

import datetime as dt
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Sum
from django.utils import timezone

from demo.context_processors import demo_login_context
from demo.people import DEMO_PASSWORD
from metrics.models import DailyKpiFact
from p2p.models import AuditAction, AuditEvent
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice
from payables.models.matching import MatchPolicy
from payables.models.payments import Payment, PaymentRun
from procurement.models import (
    ApprovalRule,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseRequest,
    Receipt,
)
from vendors.models import BankAccount, PaymentTerms, Vendor

pytestmark = pytest.mark.django_db

COUNTED = (
    User, PaymentTerms, CostCenter, GLAccount, ApprovalRule, MatchPolicy, Vendor, BankAccount,
    PurchaseRequest, PurchaseOrder, Receipt, Invoice, InvoiceException, PaymentRun, Payment,
    AuditEvent, DailyKpiFact,
)  # fmt: skip


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in COUNTED}


def statuses(model) -> set[str]:
    return set(model.objects.values_list("status", flat=True))


def test_seed_demo_twice_loads_one_copy_of_every_state():
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Demo documents created" in out.getvalue()
    first = counts()
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "already loaded" in out.getvalue()
    assert counts() == first

    # People: one per role, the shared password, fiona also approves.
    fiona = User.objects.get(username="fiona")
    assert fiona.check_password(DEMO_PASSWORD)
    assert set(fiona.groups.values_list("name", flat=True)) == {"finance_leader", "approver"}
    admin = User.objects.get(username="admin")
    assert admin.is_staff and admin.is_superuser

    # Reference data and vendors.
    assert PaymentTerms.objects.count() == 5
    assert set(CostCenter.objects.values_list("code", flat=True)) >= {
        "CC-100",
        "CC-200",
        "CC-300",
        "CC-400",
    }
    assert statuses(Vendor) == {"active", "onboarding", "blocked"}
    assert BankAccount.objects.filter(status="pending").count() == 1
    assert not Vendor.objects.exclude(bank_accounts__status="verified").exists()

    # Documents in every state of interest.
    assert statuses(PurchaseRequest) >= {
        "draft",
        "pending_approval",
        "approved",
        "rejected",
        "returned",
        "ordered",
    }
    assert statuses(PurchaseOrder) >= {"issued", "partially_received", "received"}
    assert statuses(Invoice) >= {"approved", "exception", "paid", "rejected", "scheduled"}
    assert statuses(PaymentRun) == {"paid", "proposed"}
    exceptions = InvoiceException.objects
    assert set(exceptions.values_list("type", flat=True)) >= {
        "price_variance",
        "qty_over_billed",
        "missing_receipt",
        "no_po",
        "duplicate",
    }
    assert exceptions.filter(status="open").exists()
    assert exceptions.filter(resolution="accept_variance", resolved_by__username="martin").exists()
    assert exceptions.filter(resolution="resolved_by_match").exists()
    paid_runs = PaymentRun.objects.filter(status="paid")
    assert set(paid_runs.values_list("prepared_by__username", "approved_by__username")) == {
        ("carla", "fiona")
    }

    # Spread over the last 90 days, and the audit trail is the services' own.
    oldest = Invoice.objects.order_by("captured_at").first().captured_at
    assert oldest < timezone.now() - dt.timedelta(days=80)
    assert Invoice.objects.filter(paid_at__lt=timezone.now() - dt.timedelta(days=60)).exists()
    assert AuditEvent.objects.filter(
        object_type="payables.invoice", action=AuditAction.CREATED
    ).count() == (Invoice.objects.count())

    # The dashboard has something to show: each KPI non-zero and short of perfect.
    kpis = DailyKpiFact.objects.aggregate(
        attempts=Sum("first_match_attempts"), first_pass=Sum("first_pass_matches"),
        approved=Sum("invoices_approved"), touchless=Sum("touchless_approvals"),
        paid=Sum("invoices_paid"), on_time=Sum("paid_on_time"),
        available=Sum("discount_available"), taken=Sum("discount_taken"),
    )  # fmt: skip
    assert 0 < kpis["first_pass"] < kpis["attempts"]
    assert 0 < kpis["touchless"] < kpis["approved"]
    assert 0 < kpis["on_time"] < kpis["paid"]
    assert 0 < kpis["taken"] < kpis["available"]


def test_login_page_context_lists_every_demo_user():
    context = demo_login_context()
    assert [login["username"] for login in context["demo_logins"]] == [
        "rita", "alex", "bob", "carla", "martin", "fiona", "admin"
    ]  # fmt: skip
    assert context["demo_password"] == DEMO_PASSWORD


def test_login_page_lists_the_demo_users(client):
    page = client.get("/login/").content.decode()
    assert "rita" in page
    assert DEMO_PASSWORD in page


def test_demo_data_is_refused_in_production(settings):
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="does not run with DJANGO_ENV=production"):
        call_command("seed_demo", stdout=StringIO())
    assert not User.objects.filter(username="admin").exists()
