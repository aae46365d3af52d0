"""transition_many: a set-based status change that checks every row and audits it in one go."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from p2p.audit import transition_many
from p2p.exceptions import InvalidTransition
from p2p.models import AuditAction, AuditEvent
from procurement.models import ApprovalStep, PurchaseRequest
from tests.procurement.conftest import raise_request

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_steps(people, setup_org) -> PurchaseRequest:
    """A request of 11,400: the department step is pending, the finance step waits behind it."""
    return raise_request(people, setup_org, amount="1900.00", quantity="6")


def step_events():
    return AuditEvent.objects.filter(object_type="procurement.approvalstep").order_by("object_id")


def test_transition_many_writes_one_audit_row_per_moved_row_in_the_same_statement(
    people, two_steps
):
    steps = two_steps.approvals.select_related("request")
    with CaptureQueriesContext(connection) as queries:
        moved = transition_many(
            steps,
            ApprovalStep.Status.CANCELLED,
            by=people["finance_leader"],
            note="Budget frozen",
            values={"comment": "Frozen until January"},
        )

    assert moved == sorted(step.pk for step in two_steps.approvals.all())
    assert set(two_steps.approvals.values_list("status", "comment")) == {
        (ApprovalStep.Status.CANCELLED, "Frozen until January")
    }
    events = list(step_events())
    assert [(e.object_id, e.from_status, e.to_status) for e in events] == [
        (moved[0], "pending", "cancelled"),
        (moved[1], "waiting", "cancelled"),
    ]
    assert {(e.action, e.actor, e.note) for e in events} == {
        (AuditAction.STATUS, people["finance_leader"], "Budget frozen")
    }
    assert [e.object_repr for e in events] == [
        f"{two_steps.number} step 1",
        f"{two_steps.number} step 2",
    ]
    writes = [q["sql"] for q in queries.captured_queries if "p2p_auditevent" in q["sql"]]
    assert len(writes) == 1 and "UPDATE" in writes[0]


def test_transition_many_refuses_an_illegal_move_and_writes_nothing(people, two_steps):
    before = set(two_steps.approvals.values_list("pk", "status"))

    # The pending step may be approved, the waiting one may not: neither moves.
    with pytest.raises(
        InvalidTransition, match="step 2 is waiting for earlier step and cannot move to 'approved'"
    ):
        transition_many(
            two_steps.approvals.select_related("request"),
            ApprovalStep.Status.APPROVED,
            by=people["approver"],
        )

    assert set(two_steps.approvals.values_list("pk", "status")) == before
    assert not step_events().exists()


def test_transition_many_of_nothing_writes_nothing(people, two_steps):
    with CaptureQueriesContext(connection) as queries:
        moved = transition_many(
            two_steps.approvals.filter(status=ApprovalStep.Status.RETURNED),
            ApprovalStep.Status.CANCELLED,
            by=people["finance_leader"],
        )
    assert moved == []
    assert len(queries) == 1  # the locking read
    assert not step_events().exists()


def test_transition_many_without_a_person_is_the_system(two_steps):
    transition_many(
        two_steps.approvals.select_related("request"), ApprovalStep.Status.CANCELLED, by=None
    )
    assert set(step_events().values_list("actor", "actor_name")) == {(None, "system")}
