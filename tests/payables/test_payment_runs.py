"""Payment runs through the pages: who is proposed, who approves, paid once and only once."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from p2p.audit import transition, transition_many
from p2p.exceptions import InvalidTransition
from p2p.models import AuditEvent
from payables.models.invoices import Invoice
from payables.models.payments import Payment, PaymentRun
from payables.services.matching import run_matching
from tests import factories
from tests.flow import invoice, issued_po, receive
from tests.payables.payment_data import own_account
from vendors import services as vendor_services
from vendors.models import Vendor

pytestmark = pytest.mark.django_db

PAY_DATE = dt.date(2026, 11, 5)
HORIZON = dt.date(2026, 11, 19)


def approved_invoice(
    people, setup_org, vendor: Vendor, number: str, invoice_date: dt.date
) -> Invoice:
    """40 reams at the PO price, received and matched: approved and payable."""
    own_account(vendor, vendor.pk)
    po = issued_po(people, setup_org, vendor=vendor)
    receive(po, people, {1: "40"})
    inv = invoice(po, people, number, {1: ("40", "23.50")}, invoice_date=invoice_date)
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED, list(inv.exceptions.values_list("type", "detail"))
    return inv


@pytest.fixture
def payables_book(people, setup_org):
    """Approved invoices that a run should and should not pick up."""
    office = factories.make_vendor("Office Depot B.V.")
    discounter = factories.make_vendor("Kortingspapier B.V.", terms=factories.two_ten_net30())
    bank_change = factories.make_vendor("Nieuwe Rekening B.V.")
    blocked = factories.make_vendor("Geblokkeerd B.V.")
    no_bank = factories.make_vendor("Zonder Bank B.V.", verified_bank=False)
    book = {
        # Net 30 from 15 Oct: due 14 Nov, inside the horizon.
        "due": approved_invoice(people, setup_org, office, "OD-1001", dt.date(2026, 10, 15)),
        # Net 30 from 2 Nov: due 2 Dec, beyond the horizon and no discount.
        "later": approved_invoice(people, setup_org, office, "OD-1002", dt.date(2026, 11, 2)),
        # 2/10 net 30 from 2 Nov: due 2 Dec, but 2 % off if paid by 12 Nov.
        "discount": approved_invoice(people, setup_org, discounter, "KP-77", dt.date(2026, 11, 2)),
        "bank_change": approved_invoice(
            people, setup_org, bank_change, "NR-5", dt.date(2026, 10, 15)
        ),
        "blocked": approved_invoice(people, setup_org, blocked, "GB-9", dt.date(2026, 10, 15)),
    }
    # A new IBAN entered but not yet verified by a second person holds the vendor's payments.
    vendor_services.bank_account_request(
        vendor=bank_change,
        by=people["ap_clerk"],
        account_holder=bank_change.name,
        iban="NL39RABO0300065264",
    )
    Vendor.objects.filter(pk=blocked.pk).update(status=Vendor.Status.BLOCKED)
    # No verified bank account at all: there is nowhere to send the money.
    book["no_bank"] = approved_invoice(people, setup_org, no_bank, "ZB-3", dt.date(2026, 10, 15))
    return book


def propose(client, user) -> PaymentRun:
    client.force_login(user)
    response = client.post(
        reverse("payables:run_list"),
        {
            "pay_date": PAY_DATE.isoformat(),
            "horizon_date": HORIZON.isoformat(),
            "currency": "EUR",
        },
    )
    run = PaymentRun.objects.latest("id")
    assert response.status_code == 302
    assert response["Location"] == reverse("payables:run_detail", args=[run.pk])
    return run


def test_run_proposes_due_and_discount_invoices_of_payable_vendors_only(
    client, people, payables_book
):
    run = propose(client, people["ap_clerk"])

    payments = {p.invoice.number: p for p in run.payments.select_related("invoice")}
    assert set(payments) == {"OD-1001", "KP-77"}
    discounted = payables_book["discount"]
    assert payments["KP-77"].gross_amount == discounted.total_amount == Decimal("1137.40")
    assert payments["KP-77"].discount_taken == Decimal("22.75")  # 2 % of 1,137.40, half-up
    assert payments["KP-77"].net_amount == Decimal("1114.65")
    assert payments["OD-1001"].discount_taken == Decimal("0")
    assert run.status == PaymentRun.Status.PROPOSED and run.prepared_by == people["ap_clerk"]
    assert Invoice.objects.get(pk=payables_book["later"].pk).status == Invoice.Status.APPROVED
    assert Invoice.objects.get(pk=payables_book["bank_change"].pk).status == Invoice.Status.APPROVED
    page = client.get(reverse("payables:run_detail", args=[run.pk])).content.decode()
    assert "Transfer to Kortingspapier B.V." in page
    # Left out, and the page says why.
    assert "Transfer to Nieuwe Rekening" not in page
    assert "Bank account change not yet verified" in page


def test_preparer_cannot_approve_their_own_run(client, people, payables_book):
    run = propose(client, people["ap_manager"])
    url = reverse("payables:run_approve", args=[run.pk])

    response = client.post(url, follow=True)

    assert "You prepared this payment run; someone else must approve it." in [
        str(m) for m in response.context["messages"]
    ]
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.PROPOSED and run.approved_by is None
    client.force_login(people["ap_clerk"])
    assert client.post(url).status_code == 403  # clerks prepare runs; they do not approve them


def test_finance_leader_approves_and_mark_paid_pays_the_invoices(client, people, payables_book):
    run = propose(client, people["ap_clerk"])
    client.force_login(people["finance_leader"])

    client.post(reverse("payables:run_approve", args=[run.pk]))
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.APPROVED and run.approved_by == people["finance_leader"]
    client.post(reverse("payables:run_mark_paid", args=[run.pk]))

    run.refresh_from_db()
    assert run.status == PaymentRun.Status.PAID
    paid = Invoice.objects.filter(payments__run=run)
    assert paid.count() == 2
    assert all(inv.status == Invoice.Status.PAID and inv.paid_at is not None for inv in paid)
    assert set(run.payments.values_list("status", flat=True)) == {Payment.Status.PAID}


def test_cancel_returns_the_invoices_to_approved(client, people, payables_book):
    run = propose(client, people["ap_clerk"])

    client.post(reverse("payables:run_cancel", args=[run.pk]))

    run.refresh_from_db()
    assert run.status == PaymentRun.Status.CANCELLED
    assert Invoice.objects.get(pk=payables_book["due"].pk).status == Invoice.Status.APPROVED


def test_cancel_voids_each_payment_through_its_transitions_and_audits_it(
    client, people, payables_book
):
    run = propose(client, people["ap_clerk"])
    payments = sorted(run.payments.values_list("pk", flat=True))

    client.post(reverse("payables:run_cancel", args=[run.pk]))

    assert set(run.payments.values_list("status", flat=True)) == {Payment.Status.VOID}
    trail = AuditEvent.objects.filter(object_type="payables.payment").order_by("object_id")
    assert [(e.object_id, e.from_status, e.to_status, e.actor_name) for e in trail] == [
        (pk, "scheduled", "void", "carla") for pk in payments
    ]


def test_an_illegal_payment_transition_is_refused(client, people, payables_book):
    run = propose(client, people["ap_clerk"])
    client.post(reverse("payables:run_cancel", args=[run.pk]))
    void = run.payments.select_related("run", "invoice__vendor")

    # Payment.TRANSITIONS: a void payment stays void, whatever asks to pay it.
    with pytest.raises(InvalidTransition, match="is void and cannot move to 'paid'"):
        transition_many(void, Payment.Status.PAID, by=people["ap_manager"])
    with pytest.raises(InvalidTransition, match="is void and cannot move to 'scheduled'"):
        transition(void.first(), Payment.Status.SCHEDULED, by=people["ap_manager"])
    assert set(run.payments.values_list("status", flat=True)) == {Payment.Status.VOID}


def test_database_refuses_a_second_live_payment_for_an_invoice(client, people, payables_book):
    run = propose(client, people["ap_clerk"])
    live = run.payments.first()

    with pytest.raises(IntegrityError), transaction.atomic():
        Payment.objects.create(
            run=run,
            invoice=live.invoice,
            vendor=live.vendor,
            currency=live.currency,
            gross_amount=live.gross_amount,
            net_amount=live.net_amount,
        )


def test_run_list_shows_the_cash_calendar_and_is_closed_to_buyers(client, people, payables_book):
    client.force_login(people["finance_leader"])

    with mock.patch("payables.views.payments.timezone.localdate", return_value=PAY_DATE):
        response = client.get(reverse("payables:run_list"))

    eur = {row["currency"]: row for row in response.context["calendar"]}["EUR"]
    each = Decimal("1137.40")
    assert eur["week_due"] == Decimal("0")
    first_week_after = eur["rows"][8]  # 12–18 Nov
    assert first_week_after["due"] == 4 * each  # the four invoices dated 15 Oct fall due 14 Nov
    assert eur["total"]["due"] == 6 * each
    assert (first_week_after["discount"], first_week_after["discount_count"]) == (
        Decimal("22.75"),
        1,
    )
    assert response.context["form"]["horizon_date"].value() == dt.date(2026, 11, 19)
    assert response.context["can_propose"] is False
    client.force_login(people["buyer"])
    assert client.get(reverse("payables:run_list")).status_code == 403


def test_run_pages_run_a_constant_number_of_queries(client, people, setup_org):
    office = factories.make_vendor("Office Depot B.V.")
    client.force_login(people["ap_manager"])

    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    first = approved_invoice(people, setup_org, office, "OD-1", dt.date(2026, 10, 15))
    run = propose(client, people["ap_clerk"])
    client.force_login(people["ap_manager"])
    few = (
        queries(reverse("payables:run_list")),
        queries(reverse("payables:run_detail", args=[run.pk])),
    )
    client.post(reverse("payables:run_cancel", args=[run.pk]))
    for n in range(2, 6):
        approved_invoice(
            people,
            setup_org,
            factories.make_vendor(f"Vendor {n} B.V."),
            f"V-{n}",
            dt.date(2026, 10, 15),
        )
    bigger = propose(client, people["ap_clerk"])
    client.force_login(people["ap_manager"])
    many = (
        queries(reverse("payables:run_list")),
        queries(reverse("payables:run_detail", args=[bigger.pk])),
    )

    assert bigger.payments.count() == 5 and first.pk
    assert many == few
