"""Budgets: available = budget − committed (open POs) − spent (approved invoices), and what
happens at submit when a request does not fit."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from p2p.exceptions import DomainError
from payables.models.invoices import Invoice
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.matching import run_matching
from procurement import selectors
from procurement.models import ApprovalStep, Budget, PurchaseRequest
from procurement.services.approvals import approval_decide
from procurement.services.budgets import budget_set
from procurement.services.orders import po_close, po_create_from_request
from procurement.services.requests import request_submit
from tests import factories
from tests.flow import invoice, issued_po, receive
from tests.procurement.conftest import client_for, other_coding, raise_request

pytestmark = pytest.mark.django_db


def position(budget: Budget) -> tuple[Decimal, Decimal, Decimal]:
    row = selectors.budgets_with_position(Budget.objects.filter(pk=budget.pk)).get()
    return row.committed, row.spent, row.available


def approved_invoice(po, people, number: str, quantity: str, price: str) -> Invoice:
    captured = invoice(
        po, people, number, {1: (quantity, price)}, invoice_date=timezone.localdate()
    )
    run_matching([captured.pk])
    captured.refresh_from_db()
    assert captured.status == Invoice.Status.APPROVED, captured.status
    return captured


def test_committed_and_spent_move_with_orders_and_invoices(people, setup_org, budget):
    assert position(budget) == (0, 0, Decimal("10000.00"))
    po = issued_po(people, setup_org, lines=(("Paper", "100", "30.00"),))  # 3,000
    assert position(budget) == (Decimal("3000.00"), 0, Decimal("7000.00"))

    receive(po, people, {1: "40"})
    approved_invoice(po, people, "INV-1", "40", "30.00")  # 1,200 net
    assert position(budget) == (Decimal("1800.00"), Decimal("1200.00"), Decimal("7000.00"))

    po_close(po=po, by=people["buyer"], reason="Rest not needed")
    assert position(budget) == (0, Decimal("1200.00"), Decimal("8800.00"))


def test_drafts_other_cost_centers_currencies_and_periods_do_not_count(people, setup_org, budget):
    marketing, advertising = other_coding()
    issued_po(
        people, {"cost_center": marketing, "gl_account": advertising}, lines=(("Ads", "1", "500"),)
    )
    request = raise_request(people, setup_org, amount="700")
    from tests.procurement.conftest import approve_all

    approve_all(request, people)
    po_create_from_request(request=request, vendor=factories.make_vendor(), by=people["buyer"])
    usd = Budget.objects.create(
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        period_start=budget.period_start,
        period_end=budget.period_end,
        amount=Decimal("100"),
        currency="USD",
        updated_by=people["finance_leader"],
    )
    last_year = Budget.objects.create(
        cost_center=setup_org["cost_center"],
        period_start=budget.period_start.replace(year=budget.period_start.year - 1),
        period_end=budget.period_end.replace(year=budget.period_end.year - 1),
        amount=Decimal("100"),
        updated_by=people["finance_leader"],
    )
    assert position(budget) == (0, 0, Decimal("10000.00"))  # the draft PO commits nothing
    assert position(usd)[:2] == (0, 0)
    assert position(last_year)[:2] == (0, 0)


def test_a_budget_for_the_gl_account_wins_over_the_cost_center_budget(people, setup_org, budget):
    specific = Budget.objects.create(
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        period_start=budget.period_start,
        period_end=budget.period_end,
        amount=Decimal("500"),
        updated_by=people["finance_leader"],
    )
    found = selectors.budget_position_for(
        cost_center_id=setup_org["cost_center"].pk, gl_account_id=setup_org["gl_account"].pk
    )
    assert found.budget == specific
    other_gl = other_coding()[1]
    found = selectors.budget_position_for(
        cost_center_id=setup_org["cost_center"].pk, gl_account_id=other_gl.pk
    )
    assert found.budget == budget


def test_a_credit_note_gives_spend_back(people, setup_org, budget):

    po = issued_po(people, setup_org, lines=(("Paper", "10", "100.00"),))
    receive(po, people, {1: "10"})
    approved_invoice(po, people, "INV-1", "10", "100.00")
    line = po.lines.get()
    credit = invoice_capture(
        by=people["ap_clerk"],
        vendor=po.vendor,
        number="CN-1",
        invoice_date=timezone.localdate(),
        currency="EUR",
        document_type="credit_note",
        lines=[InvoiceLineInput("Paper", Decimal("1"), Decimal("100.00"), po_line_id=line.pk)],
        tax_amount=Decimal("21.00"),
        purchase_order=po,
    )
    Invoice.objects.filter(pk=credit.pk).update(status=Invoice.Status.APPROVED)
    committed, spent, _ = position(budget)
    assert spent == Decimal("900.00")


def test_over_budget_request_gets_a_finance_step_when_the_policy_allows(people, setup_org, budget):
    issued_po(people, setup_org, lines=(("Paper", "100", "95.00"),))  # 9,500 committed
    request = raise_request(people, setup_org, amount="600")  # 500 available
    steps = list(request.approvals.order_by("step"))
    assert [(s.step, s.kind, s.approver_group.name, s.status) for s in steps] == [
        (1, "rule", "approver", "pending"),
        (2, "budget", "finance_leader", "waiting"),
    ]
    assert steps[1].reason.startswith("100.00 EUR more than the 500.00 EUR available")
    approval_decide(step=steps[0], by=people["approver"], decision="approve")
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL  # finance still to decide


def test_over_budget_request_is_refused_at_submit_when_the_policy_blocks(people, setup_org, budget):
    budget.overrun_policy = Budget.Overrun.BLOCK
    budget.save()
    issued_po(people, setup_org, lines=(("Paper", "100", "95.00"),))
    request = raise_request(people, setup_org, amount="600", submit=False)
    with pytest.raises(DomainError, match="Over budget: CC-100 has 500.00 EUR available"):
        request_submit(request=request, by=people["requester"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.DRAFT
    assert not request.approvals.exists()
    fits = raise_request(people, setup_org, amount="500")
    assert fits.status == PurchaseRequest.Status.PENDING_APPROVAL


def test_a_request_in_another_currency_than_the_budget_gets_a_finance_check(
    people, setup_org, budget
):
    request = raise_request(people, setup_org, amount="10", currency="USD")
    assert request.approvals.filter(kind=ApprovalStep.Kind.BUDGET).exists()


def test_a_request_without_a_budget_is_routed_normally(people, setup_org):
    request = raise_request(people, setup_org, amount="99999")
    assert not request.approvals.filter(kind=ApprovalStep.Kind.BUDGET).exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"amount": Decimal("-1")}, "cannot be negative"),
        ({"period_end": dt.date(2020, 1, 1)}, "ends before it starts"),
        ({"currency": "EURO"}, "not a currency code"),
        ({"period_start": None}, "already covers"),
    ],
)
def test_bad_budgets_are_refused_and_nothing_is_written(people, setup_org, budget, change, message):
    values = {
        "cost_center": setup_org["cost_center"],
        "period_start": dt.date(2031, 1, 1),
        "period_end": dt.date(2031, 12, 31),
        "amount": Decimal("100"),
        **change,
    }
    if values["period_start"] is None:  # overlaps the fixture's year
        values["period_start"], values["period_end"] = budget.period_start, budget.period_end
    with pytest.raises(DomainError, match=message):
        budget_set(by=people["finance_leader"], **values)
    assert Budget.objects.count() == 1


def test_only_finance_sets_budgets(people, setup_org):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        budget_set(
            by=people["buyer"],
            cost_center=setup_org["cost_center"],
            period_start=dt.date(2031, 1, 1),
            period_end=dt.date(2031, 12, 31),
            amount=Decimal("1"),
        )


def test_budget_pages_show_the_position_and_finance_edits_it(people, setup_org, budget):
    po = issued_po(people, setup_org, lines=(("Paper", "10", "100.00"),))
    fiona = client_for(people["finance_leader"])
    listing = fiona.get(reverse("procurement:budget_list")).content.decode()
    assert "1,000.00 EUR" in listing and "9,000.00 EUR" in listing
    page = fiona.get(
        reverse("procurement:budget_cost_center", args=[setup_org["cost_center"].pk])
    ).content.decode()
    assert po.number in page and "9,000.00 EUR" in page

    response = fiona.post(
        reverse("procurement:budget_edit", args=[budget.pk]),
        {
            "cost_center": setup_org["cost_center"].pk,
            "gl_account": "",
            "period_start": budget.period_start.isoformat(),
            "period_end": budget.period_end.isoformat(),
            "amount": "12000",
            "currency": "EUR",
            "overrun_policy": "block",
            "note": "Raised after Q3 review",
        },
    )
    assert response.status_code == 302
    budget.refresh_from_db()
    assert budget.amount == Decimal("12000.00") and budget.overrun_policy == "block"
    bob = client_for(people["buyer"])
    assert bob.get(reverse("procurement:budget_list")).status_code == 200
    assert bob.get(reverse("procurement:budget_create")).status_code == 403
    assert (
        client_for(people["requester"]).get(reverse("procurement:budget_list")).status_code == 403
    )


def test_request_page_and_inbox_show_the_budget_position(people, setup_org, budget):
    request = raise_request(people, setup_org, amount="2500")
    detail = (
        client_for(people["requester"])
        .get(reverse("procurement:request_detail", args=[request.pk]))
        .content.decode()
    )
    assert "10,000.00 EUR" in detail and "Fits: 2,500.00 EUR" in detail
    inbox = (
        client_for(people["approver"]).get(reverse("procurement:approval_inbox")).content.decode()
    )
    assert "10,000.00 EUR" in inbox


def test_budget_list_query_count_is_constant(people, setup_org, budget):
    fiona = client_for(people["finance_leader"])
    url = reverse("procurement:budget_list")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert fiona.get(url).status_code == 200
        return len(queries)

    def add_budgets(years):
        for year in years:
            Budget.objects.create(
                cost_center=setup_org["cost_center"],
                period_start=dt.date(year, 1, 1),
                period_end=dt.date(year, 12, 31),
                amount=Decimal("1000"),
                updated_by=people["finance_leader"],
            )

    add_budgets([2001])
    issued_po(people, setup_org)
    few = count()
    add_budgets(range(2002, 2012))
    assert count() == few
