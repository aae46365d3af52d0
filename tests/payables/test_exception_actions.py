"""The exception-action registry: one entry per resolution, read by the pages, the API and bulk."""

import pytest
from django.urls import reverse

from payables.forms.exceptions import form_for
from payables.models.exceptions import InvoiceException
from payables.services.exceptions import (
    ACTIONS,
    ActionInput,
    Who,
    action_choices,
    actions_for,
    exception_action,
)
from payables.services.resolutions import exception_resolve
from tests.payables.exception_flow import no_po_invoice, price_variance

pytestmark = pytest.mark.django_db

Type = InvoiceException.Type


def test_each_type_offers_its_answers_in_the_order_a_clerk_tries_them():
    def offered(exception_type: str) -> list[str]:
        ranked = [
            (a.applies_to[exception_type], a.name)
            for a in ACTIONS.values()
            if exception_type in a.applies_to
        ]
        return [name for _rank, name in sorted(ranked)]

    assert offered(Type.PRICE_VARIANCE) == [
        "correct_po",
        "request_credit_note",
        "settle_credit_note",
        "accept_variance",
        "recode",
        "reject_invoice",
    ]
    assert offered(Type.DUPLICATE) == ["mark_duplicate", "accept_variance", "reject_invoice"]
    waiting = sorted((a.while_waiting, a.name) for a in ACTIONS.values() if a.while_waiting)
    assert [name for _rank, name in waiting] == [
        "settle_credit_note",
        "stop_waiting",
        "accept_variance",
        "reject_invoice",
    ]
    assert [name for name, _label in action_choices(bulk=True)] == [
        "accept_variance",
        "request_credit_note",
        "reject_invoice",
    ]


def test_every_action_has_a_form_and_a_success_message():
    for entry in ACTIONS.values():
        assert form_for(entry).action == entry.name
        assert entry.success


@pytest.fixture
def write_off():
    """A resolution added the way the registry promises: one entry and nothing else."""

    @exception_action(
        "write_off",
        "Write the variance off",
        applies_to={Type.NO_PO: 0},
        who=Who.AP,
        success="{invoice} written off.",
    )
    def _write_off(exception, by, answer: ActionInput) -> InvoiceException:
        return exception_resolve(
            exception=exception,
            by=by,
            resolution=InvoiceException.Resolution.ACCEPT_VARIANCE,
            root_cause=answer.root_cause,
            note=answer.note,
        )

    yield ACTIONS["write_off"]
    del ACTIONS["write_off"]


def test_a_new_entry_is_offered_on_the_page_and_performed(write_off, people, setup_org, client):
    exception = no_po_invoice(people)
    clerk = people["ap_clerk"]
    assert actions_for(exception, clerk)[0] == "write_off"
    assert "write_off" not in actions_for(exception, people["buyer"])

    client.force_login(clerk)
    page = client.get(reverse("payables:exception_detail", args=[exception.pk]))
    assert "Write the variance off" in page.content.decode()
    response = client.post(
        reverse("payables:exception_act", args=[exception.pk]),
        {"action": "write_off", "root_cause": "bad_coding", "note": "Agreed by phone"},
    )
    assert response.status_code == 302
    exception.refresh_from_db()
    assert exception.status == InvoiceException.Status.RESOLVED
    assert exception.resolution_note == "Agreed by phone"


def test_a_new_entry_is_offered_only_for_its_types(write_off, people, setup_org):
    exception = price_variance(people, setup_org)
    assert "write_off" not in actions_for(exception, people["ap_clerk"])
