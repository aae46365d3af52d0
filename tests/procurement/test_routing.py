"""Approval routing: bands, specificity, sequence, rejection, return, delegation, SoD, email."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditEvent
from procurement import selectors
from procurement.models import ApprovalRule, ApprovalStep, PurchaseRequest
from procurement.services.approvals import approval_decide, delegation_cancel, delegation_create
from procurement.services.requests import LineInput, request_submit, request_update
from procurement.services.routing import approval_rule_save
from tests import factories
from tests.procurement.conftest import client_for, raise_request

pytestmark = pytest.mark.django_db


def route(request: PurchaseRequest) -> list[tuple[int, str, str]]:
    return [
        (
            step.step,
            step.approver_user.username if step.approver_user_id else step.approver_group.name,
            step.status,
        )
        for step in request.approvals.select_related("approver_user", "approver_group").order_by(
            "step", "id"
        )
    ]


def decide(request, step_no, user, decision="approve", comment=""):
    step = request.approvals.get(step=step_no, status="pending")
    return approval_decide(step=step, by=user, decision=decision, comment=comment)


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ("1", [(1, "hannah", "pending")]),
        ("100", [(1, "hannah", "pending"), (2, "finance_leader", "waiting")]),
        (
            "1000",
            [(1, "hannah", "pending"), (2, "finance_leader", "waiting"), (3, "carl", "waiting")],
        ),
    ],
)
def test_amount_bands_add_finance_then_cfo(routing, setup_org, quantity, expected):
    # 149.50 each: 149.50 / 14,950 / 149,500
    request = raise_request(routing, setup_org, quantity=quantity)
    assert route(request) == expected


def test_steps_are_decided_in_order_and_the_last_approves(routing, setup_org):
    request = raise_request(routing, setup_org, quantity="1000")  # 149,500
    with pytest.raises(DomainError, match="waiting for earlier step"):  # CFO not yet
        approval_decide(step=request.approvals.get(step=3), by=routing["cfo"], decision="approve")
    decide(request, 1, routing["head"])
    decide(request, 2, routing["finance_leader"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    decide(request, 3, routing["cfo"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.APPROVED
    assert [s for *_, s in route(request)] == ["approved"] * 3


def test_a_rejection_at_any_step_ends_the_request(routing, setup_org):
    request = raise_request(routing, setup_org, quantity="1000")
    decide(request, 1, routing["head"])
    decide(request, 2, routing["finance_leader"], "reject", "Not this year")
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.REJECTED
    assert route(request) == [
        (1, "hannah", "approved"),
        (2, "finance_leader", "rejected"),
        (3, "carl", "cancelled"),
    ]


def test_the_most_specific_rule_wins_its_step(routing, setup_org):
    from tests.procurement.conftest import other_coding

    marketing, advertising = other_coding()
    # Marketing has no department rule: the general approver rule applies.
    request = raise_request(routing, setup_org, cost_center=marketing, gl_account=advertising)
    assert route(request) == [(1, "approver", "pending")]
    # A category rule for IT in step 1 beats the general rule, not the department rule.
    ApprovalRule.objects.create(
        name="IT lead", step=1, category="it", approver_user=routing["finance_leader"]
    )
    it_request = raise_request(
        routing, setup_org, cost_center=marketing, gl_account=advertising, category="it"
    )
    assert route(it_request) == [(1, "fiona", "pending")]
    ops_it = raise_request(routing, setup_org, category="it")
    assert route(ops_it) == [(1, "hannah", "pending")]


def test_a_named_approver_who_raised_the_request_hands_the_step_to_the_group(routing, setup_org):
    routing["head"].groups.add(*factories.make_user("tmp", "requester").groups.all())
    request = raise_request(routing, setup_org, by=routing["head"])
    step = request.approvals.get()
    assert step.approver_user is None and step.approver_group.name == "approver"
    assert "raised it" in step.reason
    approval_decide(step=step, by=routing["approver"], decision="approve")


def test_return_sends_it_back_and_resubmission_starts_a_fresh_round(routing, setup_org):
    request = raise_request(routing, setup_org, quantity="100")
    decide(request, 1, routing["head"], "return", "Split into two orders")
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.RETURNED
    assert route(request)[-1] == (2, "finance_leader", "cancelled")
    request_submit(request=request, by=routing["requester"])
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert request.approvals.filter(status="pending").get().step == 1


def test_nobody_approves_their_own_request(routing, setup_org):
    routing["requester"].groups.add(*routing["approver"].groups.all())
    request = raise_request(routing, setup_org, amount="10")
    step = request.approvals.get()
    step.approver_user = None
    step.save(update_fields=["approver_user"])
    with pytest.raises(SegregationOfDutiesError):
        approval_decide(step=step, by=routing["requester"], decision="approve")


def change_quantity(request: PurchaseRequest, by, quantity: str) -> None:
    """`by` changes the quantity of the request's one line, keeping everything else."""
    line = request.lines.get()
    request_update(
        request=request,
        by=by,
        title=request.title,
        cost_center=request.cost_center,
        gl_account=request.gl_account,
        lines=[LineInput(line.description, Decimal(quantity), line.unit_price)],
    )


def test_an_approver_who_edited_the_request_cannot_approve_it(routing, setup_org):
    request = raise_request(routing, setup_org, amount="100")
    change_quantity(request, routing["head"], "2")
    request.refresh_from_db()
    assert list(request.editors.all()) == [routing["head"]]
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
    assert request.total_amount == Decimal("200.00")
    step = request.approvals.get(status="pending")
    assert step.approver_user == routing["head"]  # a fresh round, same routing
    with pytest.raises(SegregationOfDutiesError, match="You changed this request"):
        approval_decide(step=step, by=routing["head"], decision="approve")
    # They may still send it back; and the trail says what changed.
    approval_decide(step=step, by=routing["head"], decision="return", comment="Check")
    edit = AuditEvent.objects.for_object(request).get(action="edited")
    assert edit.changes["total"] == "100.00 EUR → 200.00 EUR"


def test_an_approver_raising_the_amount_notifies_the_requester_and_shows_on_the_request(
    routing, setup_org, mailoutbox, django_capture_on_commit_callbacks
):
    # 12 chairs at 149.00 EUR = 1,788.00 EUR; the head of department makes it 20 = 2,980.00.
    request = raise_request(routing, setup_org, amount="149.00", quantity="12")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        change_quantity(request, routing["head"], "20")

    to_requester = [m for m in mailoutbox if m.to == [routing["requester"].email]]
    assert len(to_requester) == 1
    message = to_requester[0]
    assert message.subject == f"{request.number} changed by Hannah"
    assert "total: 1,788.00 EUR → 2,980.00 EUR" in message.body
    assert f"/procurement/requests/{request.pk}/" in message.body
    page = client_for(routing["requester"]).get(
        reverse("procurement:request_detail", args=[request.pk])
    )
    assert "Changed by Hannah on " in page.content.decode()
    assert "total 1,788.00 EUR → 2,980.00 EUR" in page.content.decode()


def test_the_requester_is_not_notified_of_their_own_change(
    routing, setup_org, mailoutbox, django_capture_on_commit_callbacks
):
    request = raise_request(routing, setup_org, amount="149.00", quantity="12", submit=False)
    with django_capture_on_commit_callbacks(execute=True):
        request_update(
            request=request,
            by=routing["requester"],
            title="Meeting chairs, second floor",
            cost_center=request.cost_center,
            gl_account=request.gl_account,
            lines=[LineInput("Meeting chair, grey", Decimal("12"), Decimal("149.00"))],
        )
    assert not [m for m in mailoutbox if "changed by" in m.subject]


def test_someone_the_request_does_not_wait_on_cannot_edit_it(routing, setup_org):
    request = raise_request(routing, setup_org, amount="100")
    with pytest.raises(NotAllowed):
        request_update(
            request=request,
            by=routing["approver"],  # step 1 is named for hannah
            title="Changed",
            cost_center=request.cost_center,
            gl_account=request.gl_account,
            lines=[LineInput("Chair", Decimal("1"), Decimal("1"))],
        )
    request.refresh_from_db()
    assert request.title == "Meeting chairs"


# ---------- delegation ----------


def test_a_delegate_sees_and_decides_on_behalf_of_the_absent_approver(routing, setup_org):
    today = timezone.localdate()
    delegation_create(
        by=routing["head"], to_user=routing["approver"], start_date=today, end_date=today
    )
    request = raise_request(routing, setup_org, amount="100")
    inbox = list(selectors.decidable_steps(routing["approver"]))
    assert [s.request_id for s in inbox] == [request.pk]
    labels = selectors.annotate_on_behalf(
        inbox, routing["approver"], selectors.delegators_of(routing["approver"])
    )
    assert labels == ["Hannah"]

    step = decide(request, 1, routing["approver"])
    step.refresh_from_db()
    assert step.decided_by == routing["approver"] and step.on_behalf_of == routing["head"]
    event = AuditEvent.objects.for_object(step).get(to_status="approved")
    assert event.changes == {"on behalf of": "Hannah"}
    page = client_for(routing["requester"]).get(
        reverse("procurement:request_detail", args=[request.pk])
    )
    assert "on behalf of Hannah" in page.content.decode()


def test_a_delegation_outside_its_dates_gives_no_authority(routing, setup_org):
    tomorrow = timezone.localdate() + dt.timedelta(days=1)
    delegation_create(
        by=routing["head"], to_user=routing["approver"], start_date=tomorrow, end_date=tomorrow
    )
    request = raise_request(routing, setup_org, amount="100")
    assert not selectors.decidable_steps(routing["approver"]).exists()
    with pytest.raises(NotAllowed):
        decide(request, 1, routing["approver"])


def test_a_cancelled_delegation_gives_no_authority(routing, setup_org):
    today = timezone.localdate()
    delegation = delegation_create(
        by=routing["head"], to_user=routing["approver"], start_date=today, end_date=today
    )
    delegation_cancel(delegation=delegation, by=routing["head"])
    request = raise_request(routing, setup_org, amount="100")
    with pytest.raises(NotAllowed):
        decide(request, 1, routing["approver"])


def test_standing_in_for_the_requester_gives_no_right_to_approve_their_request(routing, setup_org):
    # The head raises a request that goes to the general approver group; alex is away and
    # delegates to... the head. The head may not approve their own request via alex.
    routing["head"].groups.add(*factories.make_user("tmp2", "requester").groups.all())
    today = timezone.localdate()
    alex = routing["approver"]
    delegation_create(by=alex, to_user=routing["head"], start_date=today, end_date=today)
    request = raise_request(routing, setup_org, amount="100", by=routing["head"])
    with pytest.raises(SegregationOfDutiesError):
        decide(request, 1, routing["head"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"to": "self"}, "other than yourself"),
        ({"to": "rita"}, "not an approver"),
        ({"end": -1}, "before the first day"),
        ({"start": -10, "end": -5}, "already over"),
    ],
)
def test_bad_delegations_are_refused(routing, change, message):
    from procurement.models import ApprovalDelegation

    today = timezone.localdate()
    to_user = {"self": routing["head"], "rita": routing["requester"]}.get(
        change.get("to"), routing["approver"]
    )
    with pytest.raises(DomainError, match=message):
        delegation_create(
            by=routing["head"],
            to_user=to_user,
            start_date=today + dt.timedelta(days=change.get("start", 0)),
            end_date=today + dt.timedelta(days=change.get("end", 0)),
        )
    assert not ApprovalDelegation.objects.exists()


def test_overlapping_delegations_are_refused(routing):
    today = timezone.localdate()
    delegation_create(
        by=routing["head"], to_user=routing["approver"], start_date=today, end_date=today
    )
    with pytest.raises(DomainError, match="already stands in"):
        delegation_create(
            by=routing["head"], to_user=routing["cfo"], start_date=today, end_date=today
        )


# ---------- email ----------


def test_approvers_and_their_delegates_are_emailed_when_something_waits(
    routing, setup_org, mailoutbox, django_capture_on_commit_callbacks
):
    today = timezone.localdate()
    delegation_create(
        by=routing["head"], to_user=routing["approver"], start_date=today, end_date=today
    )
    with django_capture_on_commit_callbacks(execute=True):
        request = raise_request(routing, setup_org, quantity="100")  # 14,950: two steps
    assert len(mailoutbox) == 1
    assert sorted(mailoutbox[0].to) == ["alex@example.com", "hannah@example.com"]
    assert request.number in mailoutbox[0].subject

    with django_capture_on_commit_callbacks(execute=True):
        decide(request, 1, routing["head"])
    assert sorted(mailoutbox[1].to) == ["carl@example.com", "fiona@example.com"]  # finance
    with django_capture_on_commit_callbacks(execute=True):
        decide(request, 2, routing["finance_leader"])
    assert mailoutbox[2].to == ["rita@example.com"]
    assert "approved" in mailoutbox[2].subject


# ---------- pages ----------


def test_delegation_page_creates_and_cancels(routing):
    client = client_for(routing["head"])
    url = reverse("procurement:delegation_list")
    today = timezone.localdate().isoformat()
    response = client.post(
        url,
        {
            "to_user": routing["approver"].pk,
            "start_date": today,
            "end_date": today,
            "reason": "Leave",
        },
        follow=True,
    )
    assert "stands in for you" in response.content.decode()
    from procurement.models import ApprovalDelegation

    delegation = ApprovalDelegation.objects.get()
    client.post(reverse("procurement:delegation_cancel", args=[delegation.pk]))
    delegation.refresh_from_db()
    assert delegation.cancelled_at is not None
    # Someone else cannot cancel it.
    other = delegation_create(
        by=routing["head"],
        to_user=routing["approver"],
        start_date=timezone.localdate(),
        end_date=timezone.localdate(),
    )
    client_for(routing["cfo"]).post(reverse("procurement:delegation_cancel", args=[other.pk]))
    other.refresh_from_db()
    assert other.cancelled_at is None


def test_finance_keeps_rules_on_a_page_and_approvers_only_read_them(routing, setup_org):
    fiona = client_for(routing["finance_leader"])
    response = fiona.post(
        reverse("procurement:rule_create"),
        {
            "name": "Marketing above 5,000",
            "step": "2",
            "min_amount": "5000",
            "max_amount": "",
            "department": "Operations",
            "category": "marketing",
            "approver_group": "",
            "approver_user": routing["cfo"].pk,
            "active": "on",
        },
    )
    assert response.status_code == 302
    rule = ApprovalRule.objects.get(name="Marketing above 5,000")
    assert rule.category == "marketing" and rule.approver_user == routing["cfo"]
    bad = fiona.post(
        reverse("procurement:rule_edit", args=[rule.pk]),
        {"name": "x", "step": "1", "min_amount": "100", "max_amount": "50", "active": "on"},
    )
    assert "Name an approver" in bad.content.decode()
    alex = client_for(routing["approver"])
    assert alex.get(reverse("procurement:rule_list")).status_code == 200
    assert alex.get(reverse("procurement:rule_create")).status_code == 403
    with pytest.raises(Exception, match="role"):
        approval_rule_save(
            by=routing["approver"], name="x", step=1, min_amount=Decimal("0"),
            approver_group=None, approver_user=routing["cfo"],
        )  # fmt: skip


def test_the_inbox_shows_steps_held_through_a_delegation_with_a_constant_query_count(
    routing, setup_org
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    today = timezone.localdate()
    delegation_create(
        by=routing["head"], to_user=routing["approver"], start_date=today, end_date=today
    )
    alex = client_for(routing["approver"])
    url = reverse("procurement:approval_inbox")

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            page = alex.get(url)
        assert page.status_code == 200
        return len(queries), page.content.decode()

    for _ in range(2):
        raise_request(routing, setup_org, amount="100")
    few, page = count()
    assert "You stand in for Hannah" in page
    for _ in range(10):
        raise_request(routing, setup_org, amount="100")
    assert count()[0] == few
    assert ApprovalStep.objects.filter(status="pending").count() == 12
