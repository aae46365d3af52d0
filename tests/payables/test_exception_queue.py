"""The queue pages: routing by type, filters, order, counts, SLA, htmx and query counts."""

import datetime as dt
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from payables.models.exceptions import InvoiceException, add_business_days, business_days_before
from payables.services.exceptions import exception_claim, exception_comment
from payables.services.resolutions import exception_accept_variance
from tests import factories
from tests.payables.exception_flow import (
    big_po,
    many_price_variances,
    missing_receipt,
    no_po_invoice,
    price_variance,
)

QUEUE = reverse("payables:exception_list")
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "queue"}


def rows(response) -> list[InvoiceException]:
    return list(response.context["page"].object_list)


def test_each_type_is_routed_to_whoever_holds_the_information(client, people, setup_org):
    dispute = price_variance(people, setup_org)
    receipt = missing_receipt(people, setup_org)
    no_po = no_po_invoice(people)
    assert (dispute.owner, dispute.owner_user) == ("buyer", people["buyer"])
    assert (receipt.owner, receipt.owner_user) == ("requester", people["requester"])
    assert (no_po.owner, no_po.owner_user) == ("ap", None)

    seen = {}
    for role in ("ap_clerk", "buyer", "requester"):
        client.force_login(people[role])
        response = client.get(QUEUE)
        seen[role] = (response.context["title"], set(rows(response)))

    assert seen["ap_clerk"] == ("Exception queue", {dispute, receipt, no_po})
    assert seen["buyer"] == ("My disputes", {dispute})
    assert seen["requester"] == ("Receipts needed", {receipt})


def test_a_buyer_sees_only_disputes_on_their_own_pos(client, people, setup_org):
    dispute = price_variance(people, setup_org)
    bea = factories.make_user("bea", "buyer")
    client.force_login(bea)

    assert rows(client.get(QUEUE)) == []
    assert client.get(reverse("payables:exception_detail", args=[dispute.pk])).status_code == 403
    assert client.get(reverse("payables:exception_context", args=[dispute.pk])).status_code == 403
    assert client.get(f"/api/exceptions/{dispute.pk}/").status_code == 404
    refused = client.post(
        reverse("payables:exception_act", args=[dispute.pk]),
        {"action": "accept_variance", "root_cause": "stale_po_price"},
    )
    assert refused.status_code == 403
    dispute.refresh_from_db()
    assert dispute.status == "open"


def test_default_order_puts_what_costs_money_first(client, people, setup_org):
    plain = price_variance(people, setup_org, number="INV-A", vendor=factories.make_vendor("A BV"))
    discounted = price_variance(
        people,
        setup_org,
        number="INV-B",
        price="25.00",
        vendor=factories.make_vendor("B BV", terms=factories.two_ten_net30()),
    )
    large = price_variance(
        people, setup_org, number="INV-C", price="30.00", vendor=factories.make_vendor("C BV")
    )
    client.force_login(people["ap_clerk"])
    # The discount deadline counts while it is still ahead; pretend today is invoice day.
    with mock.patch(
        "django.utils.timezone.localdate", return_value=discounted.invoice.invoice_date
    ):
        ordered = rows(client.get(QUEUE))
        by_amount = rows(client.get(QUEUE, {"sort": "amount"}))

    # Discount lapsing first; then same due date, more at stake first.
    assert ordered == [discounted, large, plain]
    assert by_amount[0] == large


def test_filters_narrow_the_queue(client, people, setup_org):
    po = big_po(people, setup_org)
    small, medium, big = many_price_variances(people, setup_org, 3, po=po)
    receipt = missing_receipt(people, setup_org)
    InvoiceException.objects.filter(pk=big.pk).update(
        opened_at=timezone.now() - dt.timedelta(days=10)
    )
    exception_claim(exception=medium, by=people["ap_clerk"])
    client.force_login(people["ap_clerk"])

    def pks(**params) -> set[int]:
        return {e.pk for e in rows(client.get(QUEUE, params))}

    assert pks(type="missing_receipt") == {receipt.pk}
    assert pks(owner="requester") == {receipt.pk}
    assert pks(vendor=po.vendor_id) == {small.pk, medium.pk, big.pk}
    assert pks(min_amount=str(medium.amount_at_stake)) >= {medium.pk, big.pk}
    assert small.pk not in pks(min_amount=str(medium.amount_at_stake))
    assert pks(max_amount=str(small.amount_at_stake), type="price_variance") == {small.pk}
    assert pks(age="gt7") == {big.pk}
    assert big.pk not in pks(age="lt1")
    assert pks(claimed="mine") == {medium.pk}
    assert medium.pk not in pks(claimed="free")
    assert pks(q=big.invoice.number) == {big.pk}
    assert pks(sla="overdue") == {big.pk}
    due = small.invoice.due_date
    assert pks(due_before=(due - dt.timedelta(days=1)).isoformat()) == set()
    assert pks(status="resolved") == set()


def test_counts_per_type_and_aging_buckets(client, people, setup_org):
    many_price_variances(people, setup_org, 2)
    old = missing_receipt(people, setup_org)
    InvoiceException.objects.filter(pk=old.pk).update(
        opened_at=timezone.now() - dt.timedelta(days=5)
    )
    client.force_login(people["ap_clerk"])
    response = client.get(QUEUE)

    assert {row["type"]: row["count"] for row in response.context["counts"]} == {
        "price_variance": 2,
        "missing_receipt": 1,
    }
    assert {row["age"]: row["count"] for row in response.context["ages"]} == {
        "lt1": 2,
        "1to3": 0,
        "3to7": 1,
        "gt7": 0,
    }
    assert response.context["summary"]["open"] == 3


def count_queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("role", ["ap_clerk", "buyer"])
def test_queue_runs_a_constant_number_of_queries(client, people, setup_org, role):
    po = big_po(people, setup_org)
    client.force_login(people[role])
    first = many_price_variances(people, setup_org, 2, po=po)
    exception_claim(exception=first[0], by=people[role])
    exception_comment(exception=first[1], by=people["ap_clerk"], body="@bob look")
    few = (count_queries(client, QUEUE), count_queries(client, QUEUE, **HTMX))
    later = many_price_variances(people, setup_org, 10, po=po, start=2)
    for exception in later[:3]:
        exception_claim(exception=exception, by=people["ap_manager"])
    many = (count_queries(client, QUEUE), count_queries(client, QUEUE, **HTMX))

    assert InvoiceException.objects.filter(status="open").count() == 12
    assert many == few


def test_htmx_filter_returns_only_the_queue(client, people, setup_org):
    exception = price_variance(people, setup_org)
    client.force_login(people["ap_clerk"])

    partial = client.get(QUEUE, {"type": "price_variance"}, **HTMX)
    page = client.get(QUEUE)

    assert partial.templates[0].name == "payables/_exception_queue.html"
    assert f'id="ex-{exception.pk}"' in partial.content.decode()
    assert "<html" not in partial.content.decode()
    body = page.content.decode()
    assert 'id="queue"' in body and "data-toggle-context" in body
    # The keyboard handling is a static file (the CSP allows no inline script).
    assert "/static/js/exception_queue.js" in body
    assert 'case "j"' in Path(finders.find("js/exception_queue.js")).read_text()


def test_claiming_from_a_row_swaps_only_that_row(client, people, setup_org):
    exception = price_variance(people, setup_org)
    url = reverse("payables:exception_claim", args=[exception.pk])
    client.force_login(people["ap_clerk"])

    response = client.post(url, {"origin": "row"}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert html.lstrip().startswith(f'<tr id="ex-{exception.pk}"')
    assert "Release" in html and "Claimed by you" in html
    client.force_login(factories.make_user("cleo", "ap_clerk"))
    taken = client.post(url, {"origin": "row"}, HTTP_HX_REQUEST="true")
    assert "Carla claimed this exception until" in taken.content.decode()


def test_claim_next_opens_the_claimed_exception(client, people, setup_org):
    exception = price_variance(people, setup_org)
    client.force_login(people["ap_clerk"])
    url = reverse("payables:exception_claim_next")

    response = client.post(url, {"type": "price_variance"}, HTTP_HX_REQUEST="true")

    assert response["HX-Redirect"] == reverse("payables:exception_detail", args=[exception.pk])
    exception.refresh_from_db()
    assert exception.claimed_by == people["ap_clerk"]
    nothing = client.post(url, {"type": "price_variance"}, HTTP_HX_REQUEST="true")
    assert "Nothing left to claim" in nothing.content.decode()
    plain = client.post(url + "?type=no_po")
    assert plain.status_code == 302 and "type=no_po" in plain["Location"]


def test_resolving_from_the_drawer_updates_the_row_without_a_reload(
    client, people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org)
    client.force_login(people["ap_clerk"])
    drawer = client.get(reverse("payables:exception_context", args=[exception.pk]))
    assert f'id="ctx-{exception.pk}"' in drawer.content.decode()
    assert "Contract price" in drawer.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("payables:exception_act", args=[exception.pk]),
            {"action": "accept_variance", "root_cause": "stale_po_price", "origin": "queue"},
            HTTP_HX_REQUEST="true",
        )

    html = response.content.decode()
    assert "Variance accepted" in html
    assert f'<tr id="ex-{exception.pk}"' in html and 'hx-swap-oob="true"' in html
    exception.refresh_from_db()
    assert exception.status == "resolved"


def test_a_bad_form_comes_back_with_its_message_and_nothing_is_written(client, people, setup_org):
    exception = no_po_invoice(people)
    client.force_login(people["ap_clerk"])
    response = client.post(
        reverse("payables:exception_act", args=[exception.pk]),
        {"action": "reject_invoice", "root_cause": "no_po", "note": ""},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "Check the highlighted fields" in response.content.decode()
    exception.refresh_from_db()
    assert exception.status == "open"


def test_exception_page_shows_context_comments_and_links_to_the_po_life(client, people, setup_org):
    exception = price_variance(people, setup_org)
    exception_comment(exception=exception, by=people["ap_clerk"], body="@bob why?")
    client.force_login(people["buyer"])

    response = client.get(reverse("payables:exception_detail", args=[exception.pk]))

    html = response.content.decode()
    po_url = reverse("procurement:po_detail", args=[exception.invoice.purchase_order_id])
    assert po_url in html
    assert "@bob why?" in html and "Correct the PO" in html and "Request a credit note" in html
    assert "SLA due" in html
    mentions = client.get(reverse("payables:mention_list"))
    assert "@bob why?" in mentions.content.decode()
    client.post(reverse("payables:mention_list"))
    assert client.get(reverse("payables:mention_list")).context["unread"] == 0


def test_invoice_page_shows_how_each_exception_was_resolved(client, people, setup_org):
    exception = price_variance(people, setup_org)
    exception_accept_variance(
        exception=exception, by=people["ap_clerk"], root_cause="stale_po_price", note="OK'd"
    )
    client.force_login(people["ap_manager"])
    html = client.get(reverse("payables:invoice_detail", args=[exception.invoice_id])).content
    html = html.decode()
    assert "Stale PO price" in html and "Carla" in html
    assert reverse("procurement:po_detail", args=[exception.invoice.purchase_order_id]) in html


def test_sla_counts_business_days_and_the_filter_agrees_with_it():
    tz = timezone.get_current_timezone()
    friday = dt.datetime(2026, 11, 6, 15, 0, tzinfo=tz)
    assert add_business_days(friday, 1) == dt.datetime(2026, 11, 9, 15, 0, tzinfo=tz)
    assert add_business_days(friday, 2) == dt.datetime(2026, 11, 10, 15, 0, tzinfo=tz)
    saturday = dt.datetime(2026, 11, 7, 10, 0, tzinfo=tz)
    assert add_business_days(saturday, 1) == dt.datetime(2026, 11, 10, 0, 0, tzinfo=tz)
    # "Overdue" is opened before business_days_before(now): check every hour of two weeks.
    start = dt.datetime(2026, 11, 2, 0, 0, tzinfo=tz)
    moments = [start + dt.timedelta(hours=h, minutes=17) for h in range(0, 24 * 14, 5)]
    for days in (1, 2):
        for now in moments[::7]:
            cutoff = business_days_before(now, days)
            for opened in moments:
                overdue = add_business_days(opened, days) < now
                assert overdue == (opened < cutoff), (opened, now, days)


def test_requester_receipt_form_is_prefilled_with_the_shortfall(client, people, setup_org):
    exception = missing_receipt(people, setup_org)
    client.force_login(people["requester"])
    response = client.get(reverse("payables:exception_detail", args=[exception.pk]))
    receipt_form = next(
        f["form"] for f in response.context["action_forms"] if f["action"] == "post_receipt"
    )
    assert receipt_form.fields["quantity"].initial == Decimal("15")
    assert response.context["can_receive"] and not response.context["can_resolve"]


def test_a_mentioned_colleague_outside_the_queue_can_open_and_answer(client, people, setup_org):
    exception = price_variance(people, setup_org)
    url = reverse("payables:exception_detail", args=[exception.pk])
    client.force_login(people["finance_leader"])
    assert client.get(url).status_code == 403

    exception_comment(exception=exception, by=people["ap_clerk"], body="@fiona ok?")

    page = client.get(url)
    assert page.status_code == 200 and page.context["action_forms"] == []
    client.post(reverse("payables:exception_comment", args=[exception.pk]), {"body": "Fine."})
    assert exception.comments.filter(author=people["finance_leader"]).exists()
