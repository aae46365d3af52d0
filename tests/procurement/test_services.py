"""Request routing, return-for-changes and withdrawal through procurement.services."""

from decimal import Decimal

import pytest

from p2p.exceptions import DomainError, InvalidTransition, NotAllowed
from p2p.models import AuditEvent
from procurement.models import ApprovalStep, PurchaseRequest
from procurement.services.approvals import approval_decide
from procurement.services.requests import (
    LineInput,
    request_create,
    request_submit,
    request_withdraw,
)
from tests.flow import issued_po

pytestmark = pytest.mark.django_db


def raise_request(people, setup_org, *, unit_price: str) -> PurchaseRequest:
    """A submitted request for 6 items at the given price."""
    request = request_create(
        by=people["requester"],
        title="Laptops for the finance team",
        cost_center=setup_org["cost_center"],
        gl_account=setup_org["gl_account"],
        category="it",
        lines=[LineInput("Dell Latitude 5450 laptop", Decimal("6"), Decimal(unit_price))],
    )
    return request_submit(request=request, by=people["requester"])


def steps_of(request: PurchaseRequest) -> list[tuple[int, str, str]]:
    return [
        (step.step, step.approver_group.name, step.status)
        for step in request.approvals.select_related("approver_group").order_by("step", "id")
    ]


def cancellations(request: PurchaseRequest) -> list[tuple[int, str, str, str]]:
    """The trail of the request's approval steps that were cancelled: step, from, by, why."""
    steps = dict(request.approvals.values_list("pk", "step"))
    return [
        (steps[event.object_id], event.from_status, event.actor_name, event.note)
        for event in AuditEvent.objects.filter(
            object_type="procurement.approvalstep",
            object_id__in=steps,
            to_status=ApprovalStep.Status.CANCELLED,
        ).order_by("object_id")
    ]


def test_request_up_to_10000_needs_the_department_approver_only(people, setup_org):
    request = raise_request(people, setup_org, unit_price="1500.00")  # 9,000
    assert steps_of(request) == [(1, "approver", "pending")]
    approval_decide(step=request.approvals.get(), by=people["approver"], decision="approve")
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.APPROVED


def test_request_above_10000_needs_finance_after_the_department(people, setup_org):
    request = raise_request(people, setup_org, unit_price="1900.00")  # 11,400
    assert steps_of(request) == [(1, "approver", "pending"), (2, "finance_leader", "waiting")]

    approval_decide(step=request.approvals.get(step=1), by=people["approver"], decision="approve")
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert steps_of(request) == [(1, "approver", "approved"), (2, "finance_leader", "pending")]

    finance_step = request.approvals.get(step=2)
    with pytest.raises(NotAllowed):  # a department approver cannot take the finance step
        approval_decide(step=finance_step, by=people["approver"], decision="approve")
    approval_decide(step=finance_step, by=people["finance_leader"], decision="approve")
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.APPROVED


def test_return_for_changes_then_resubmit_starts_a_fresh_round(people, setup_org):
    request = raise_request(people, setup_org, unit_price="1500.00")
    first = request.approvals.get()
    with pytest.raises(DomainError, match="Say why"):
        approval_decide(step=first, by=people["approver"], decision="return")

    approval_decide(
        step=first, by=people["approver"], decision="return", comment="Quote for 4, not 6"
    )
    request.refresh_from_db()
    first.refresh_from_db()
    assert request.status == PurchaseRequest.Status.RETURNED
    assert first.status == ApprovalStep.Status.RETURNED and first.comment == "Quote for 4, not 6"
    assert first.decided_by == people["approver"]

    request_submit(request=request, by=people["requester"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert steps_of(request) == [(1, "approver", "returned"), (1, "approver", "pending")]


def test_rejected_request_stays_rejected_and_its_cancelled_steps_are_in_the_trail(
    people, setup_org
):
    request = raise_request(people, setup_org, unit_price="1900.00")
    approval_decide(
        step=request.approvals.get(step=1),
        by=people["approver"],
        decision="reject",
        comment="No budget",
    )
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.REJECTED
    assert steps_of(request) == [(1, "approver", "rejected"), (2, "finance_leader", "cancelled")]
    assert cancellations(request) == [(2, "waiting", "alex", "Step 1 rejected")]
    with pytest.raises(InvalidTransition):
        request_submit(request=request, by=people["requester"])


def test_withdraw_cancels_the_open_steps_and_says_so_in_the_trail(people, setup_org):
    request = raise_request(people, setup_org, unit_price="1900.00")
    request_withdraw(request=request, by=people["requester"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.WITHDRAWN
    assert {step.status for step in request.approvals.all()} == {ApprovalStep.Status.CANCELLED}
    assert cancellations(request) == [
        (1, "pending", "rita", "Request withdrawn"),
        (2, "waiting", "rita", "Request withdrawn"),
    ]
    with pytest.raises(DomainError, match="not awaiting approval"):
        approval_decide(
            step=request.approvals.get(step=1), by=people["approver"], decision="approve"
        )


def test_only_the_requester_may_withdraw(people, setup_org):
    request = raise_request(people, setup_org, unit_price="100.00")
    with pytest.raises(NotAllowed):
        request_withdraw(request=request, by=people["approver"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL


def test_an_ordered_request_cannot_be_withdrawn(people, setup_org):
    po = issued_po(people, setup_org)
    with pytest.raises(InvalidTransition):
        request_withdraw(request=po.request, by=people["requester"])
