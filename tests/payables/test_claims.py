"""Claiming: one clerk works an exception at a time; "next" never hands out the same one twice."""

import datetime as dt
import threading
from collections import Counter

import pytest
from django.db import connection
from django.utils import timezone

from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditEvent
from payables.models.exceptions import InvoiceException
from payables.services.exceptions import exception_claim, exception_claim_next, exception_release
from payables.services.resolutions import exception_accept_variance, exception_request_credit_note
from tests import factories
from tests.payables.exception_flow import many_price_variances, price_variance

Status = InvoiceException.Status


def test_a_claimed_exception_cannot_be_worked_by_another_clerk(people, setup_org):
    exception = price_variance(people, setup_org)
    carla, cleo = people["ap_clerk"], factories.make_user("cleo", "ap_clerk")

    exception_claim(exception=exception, by=carla)

    with pytest.raises(NotAllowed, match="Carla is working on this exception until"):
        exception_accept_variance(exception=exception, by=cleo, root_cause="stale_po_price")
    with pytest.raises(NotAllowed, match="Carla claimed this exception until"):
        exception_claim(exception=exception, by=cleo)
    exception.refresh_from_db()
    assert exception.status == Status.OPEN and exception.claimed_by == carla
    # The holder works it; resolving drops the claim.
    exception_accept_variance(exception=exception, by=carla, root_cause="stale_po_price")
    exception.refresh_from_db()
    assert exception.claimed_by is None and exception.resolved_by == carla


def test_an_abandoned_claim_expires(people, setup_org):
    exception = price_variance(people, setup_org)
    cleo = factories.make_user("cleo", "ap_clerk")
    exception_claim(exception=exception, by=people["ap_clerk"])
    InvoiceException.objects.filter(pk=exception.pk).update(
        claimed_until=timezone.now() - dt.timedelta(minutes=1)
    )

    exception_claim(exception=exception, by=cleo)

    exception.refresh_from_db()
    assert exception.claimed_by == cleo
    assert exception.claimed_until > timezone.now() + dt.timedelta(minutes=29)


def test_only_the_holder_or_an_ap_manager_releases_a_claim(people, setup_org):
    exception = price_variance(people, setup_org)
    cleo = factories.make_user("cleo", "ap_clerk")
    exception_claim(exception=exception, by=people["ap_clerk"])

    with pytest.raises(NotAllowed, match="Only Carla or an AP manager"):
        exception_release(exception=exception, by=cleo)
    exception_release(exception=exception, by=people["ap_manager"])
    with pytest.raises(DomainError, match="Nobody holds"):
        exception_release(exception=exception, by=people["ap_clerk"])
    actions = list(
        AuditEvent.objects.filter(object_id=exception.pk, object_type="payables.invoiceexception")
        .order_by("id")
        .values_list("action", "actor_name")
    )
    assert ("claimed", "carla") in actions and ("released", "martin") in actions


def test_claims_follow_routing(people, setup_org):
    exception = price_variance(people, setup_org)
    with pytest.raises(NotAllowed, match="routed to someone else"):
        exception_claim(exception=exception, by=factories.make_user("bea", "buyer"))
    exception_claim(exception=exception, by=people["buyer"])
    exception_request_credit_note(
        exception=exception, by=people["buyer"], root_cause="vendor_pricing_error"
    )
    with pytest.raises(DomainError, match="waiting for the vendor"):
        exception_claim(exception=exception, by=people["ap_clerk"])


def test_claim_next_takes_the_queue_order_and_skips_what_others_hold(people, setup_org):
    first, second, third = many_price_variances(people, setup_org, 3)
    cleo = factories.make_user("cleo", "ap_clerk")
    # Largest at stake first when dates tie: the third invoice bills the most.
    queue = InvoiceException.objects.with_queue_fields(timezone.localdate()).order_by(
        "urgency", "-money_at_risk", "id"
    )

    taken = exception_claim_next(by=people["ap_clerk"], candidates=queue)
    after = exception_claim_next(by=cleo, candidates=queue)
    last = exception_claim_next(by=cleo, candidates=queue)
    none_left = exception_claim_next(by=people["ap_manager"], candidates=queue)

    assert [taken, after, last] == [third, second, first]
    assert none_left is None


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_concurrent_claim_next_never_hands_out_the_same_exception_twice(people, setup_org):
    exceptions = many_price_variances(people, setup_org, 6)
    clerks = [factories.make_user(f"clerk{n}", "ap_clerk") for n in range(10)]
    start = threading.Barrier(len(clerks))
    claimed: dict[str, int | None] = {}
    errors: list[BaseException] = []

    def ask_for_next(clerk) -> None:
        try:
            queue = InvoiceException.objects.with_queue_fields(timezone.localdate()).order_by(
                "urgency", "-money_at_risk", "id"
            )
            start.wait()
            exception = exception_claim_next(by=clerk, candidates=queue)
            claimed[clerk.username] = exception.pk if exception else None
        except BaseException as exc:  # the main thread reports it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=ask_for_next, args=(clerk,)) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors
    got = [pk for pk in claimed.values() if pk is not None]
    assert Counter(got).most_common(1)[0][1] == 1  # zero double claims
    assert sorted(got) == sorted(e.pk for e in exceptions)  # and nothing left unclaimed
    assert list(claimed.values()).count(None) == len(clerks) - len(exceptions)
    holders = dict(
        InvoiceException.objects.filter(pk__in=got).values_list("pk", "claimed_by__username")
    )
    assert holders == {pk: name for name, pk in claimed.items() if pk is not None}
    assert AuditEvent.objects.filter(
        object_type="payables.invoiceexception", action="claimed"
    ).count() == len(exceptions)
