"""Each resolution: who may use it, what it records, and that the re-match confirms it."""

from decimal import Decimal

import pytest
from django.core import mail

from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditEvent
from payables.models.exceptions import InvoiceException
from payables.models.invoices import Invoice, InvoiceLine
from payables.models.payments import CompanySettings
from payables.services import payments
from payables.services.actions import exception_act
from payables.services.exceptions import exception_comment, may_view, mentions_mark_read
from payables.services.invoices import InvoiceLineInput, invoice_capture
from payables.services.matching import run_matching
from payables.services.resolutions import (
    exception_accept_variance,
    exception_correct_po,
    exception_mark_duplicate,
    exception_post_receipt,
    exception_recode,
    exception_reject_invoice,
    exception_request_credit_note,
    exception_resolve,
    exception_settle_credit_note,
    exception_stop_waiting,
)
from procurement.models import CostCenter, GLAccount, PurchaseOrder
from tests import factories
from tests.flow import issued_po, receive
from tests.payables.exception_flow import (
    credit_note,
    missing_receipt,
    no_po_invoice,
    price_variance,
    unlinked_line,
)
from vendors.models import Vendor

Status = InvoiceException.Status


def audit_actions(exception: InvoiceException) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            object_type="payables.invoiceexception", object_id=exception.pk
        ).values_list("action", flat=True)
    )


def refreshed(*objects):
    for obj in objects:
        obj.refresh_from_db()
    return objects


def test_accepting_a_small_variance_records_who_why_and_approves_through_the_engine(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org)  # 40 × 1.45 = 58.00 at stake
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        exception_accept_variance(
            exception=exception,
            by=people["ap_clerk"],
            root_cause="vendor_pricing_error",
            note="New price list",
        )

    exception, invoice = refreshed(exception, exception.invoice)
    assert len(callbacks) == 1  # the re-match, after commit
    assert (exception.status, exception.resolution, exception.root_cause) == (
        Status.RESOLVED,
        "accept_variance",
        "vendor_pricing_error",
    )
    assert exception.resolved_by == people["ap_clerk"] and exception.resolved_at is not None
    assert "status" in audit_actions(exception)
    assert invoice.status == Invoice.Status.APPROVED
    # The engine lets the accepted problem through: a second match opens nothing new.
    run_matching([invoice.pk])
    assert invoice.exceptions.count() == 1


def test_variance_above_threshold_needs_a_manager_who_did_not_capture_the_invoice(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org, price="37.00")  # 540.00 at stake
    capturing_manager = factories.make_user("mira", "ap_manager")
    Invoice.objects.filter(pk=exception.invoice_id).update(captured_by=capturing_manager)

    with pytest.raises(NotAllowed, match="Variances above 500.00 EUR need an AP manager"):
        exception_accept_variance(
            exception=exception, by=people["ap_clerk"], root_cause="stale_po_price"
        )
    with pytest.raises(SegregationOfDutiesError, match="You captured this invoice"):
        exception_accept_variance(
            exception=exception, by=capturing_manager, root_cause="stale_po_price"
        )
    exception.refresh_from_db()
    assert exception.status == Status.OPEN and exception.resolved_by is None

    with django_capture_on_commit_callbacks(execute=True):
        exception_accept_variance(
            exception=exception, by=people["ap_manager"], root_cause="stale_po_price"
        )
    exception, invoice = refreshed(exception, exception.invoice)
    assert exception.resolved_by == people["ap_manager"]
    assert invoice.status == Invoice.Status.APPROVED


def test_variance_threshold_is_per_currency_and_missing_currency_needs_a_manager(people, setup_org):
    # 4 boxes at 2,350 JPY invoiced at 2,490 JPY: 560 JPY at stake, about 3.50 EUR. The old
    # single threshold of 500 sent it to a manager; nobody had set a policy for yen at all.
    vendor = factories.make_vendor("Kokuyo K.K.")
    Vendor.objects.filter(pk=vendor.pk).update(currency="JPY")
    vendor.refresh_from_db()
    po = issued_po(
        people,
        setup_org,
        lines=(("A4 copy paper", "4", "2350"),),
        currency="JPY",
        vendor=vendor,
    )
    receive(po, people, {1: "4"})
    exception = price_variance(people, setup_org, po=po, qty="4", price="2490")
    assert exception.amount_at_stake == Decimal("560.00")

    with pytest.raises(NotAllowed, match="No variance threshold is set for JPY"):
        exception_accept_variance(
            exception=exception, by=people["ap_clerk"], root_cause="vendor_pricing_error"
        )
    exception.refresh_from_db()
    assert exception.status == Status.OPEN

    settings_row = CompanySettings.load()
    payments.company_settings_update(
        by=people["finance_leader"],
        company_name=settings_row.company_name,
        iban=settings_row.iban,
        bic=settings_row.bic,
        cost_of_capital_pct=settings_row.cost_of_capital_pct,
        run_approval_threshold=settings_row.run_approval_threshold,
        variance_thresholds={"EUR": Decimal("500"), "jpy": Decimal("75000")},
    )
    event = AuditEvent.objects.get(object_type="payables.companysettings", action="updated")
    assert event.changes["variance_thresholds"] == ["EUR 500.00", "EUR 500.00, JPY 75000.00"]

    exception_accept_variance(
        exception=exception, by=people["ap_clerk"], root_cause="vendor_pricing_error"
    )
    exception.refresh_from_db()
    assert exception.status == Status.RESOLVED and exception.resolved_by == people["ap_clerk"]


def test_credit_note_request_emails_the_vendor_and_waits_without_a_second_exception(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org)
    with django_capture_on_commit_callbacks(execute=True):
        exception_request_credit_note(
            exception=exception,
            by=people["buyer"],
            root_cause="vendor_pricing_error",
            message="The contract price is 23.50.",
        )

    exception.refresh_from_db()
    assert exception.status == Status.WAITING_VENDOR
    assert exception.credit_request_amount == Decimal("58.00")
    assert exception.credit_requested_by == people["buyer"]
    assert exception.root_cause == "vendor_pricing_error"
    [email] = mail.outbox
    assert email.to == ["billing@example.com"]
    assert "credit note of 58.00 EUR" in email.body and "INV-PV-1" in email.subject
    assert "The contract price is 23.50." in email.body
    # Still blocked, and re-matching while it waits does not open the same problem again.
    run_matching([exception.invoice_id])
    assert exception.invoice.exceptions.count() == 1
    assert Invoice.objects.get(pk=exception.invoice_id).status == Invoice.Status.EXCEPTION


def test_the_vendors_credit_note_closes_the_waiting_exception_and_the_invoice_is_approved(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org)
    exception_request_credit_note(
        exception=exception, by=people["ap_clerk"], root_cause="vendor_pricing_error"
    )
    too_small = credit_note(people, exception, number="CN-1", amount="20.00")
    with pytest.raises(DomainError, match="leaves 20.00 EUR to settle"):
        exception_settle_credit_note(
            exception=exception, by=people["ap_clerk"], credit_note=too_small
        )
    exception.refresh_from_db()
    assert exception.status == Status.WAITING_VENDOR and exception.credit_note is None

    enough = credit_note(people, exception, number="CN-2", amount="58.00")
    with django_capture_on_commit_callbacks(execute=True):
        exception_settle_credit_note(exception=exception, by=people["ap_clerk"], credit_note=enough)

    exception, invoice = refreshed(exception, exception.invoice)
    assert exception.status == Status.RESOLVED
    assert exception.credit_note == enough
    assert exception.root_cause == "vendor_pricing_error"
    assert exception.resolved_by == people["ap_clerk"]
    assert invoice.status == Invoice.Status.APPROVED
    # A credit note settles only as much as it is worth: it is used up now.
    second = price_variance(
        people, setup_org, number="INV-PV-2", price="24.95", po=invoice.purchase_order
    )
    with pytest.raises(DomainError, match="leaves 0.00 EUR"):
        exception_settle_credit_note(exception=second, by=people["ap_clerk"], credit_note=enough)


def test_a_credit_note_of_another_vendor_cannot_settle_it(people, setup_org):
    exception = price_variance(people, setup_org)
    other = price_variance(
        people, setup_org, number="INV-X", vendor=factories.make_vendor("Andere B.V.")
    )
    foreign = credit_note(people, other, number="CN-X", amount="100.00")
    with pytest.raises(DomainError, match="is not a live credit note from Office Depot"):
        exception_settle_credit_note(
            exception=exception, by=people["ap_clerk"], credit_note=foreign
        )
    exception.refresh_from_db()
    assert exception.status == Status.OPEN


def test_buyer_corrects_a_stale_po_price_and_the_rematch_approves_the_invoice(
    people, setup_org, django_capture_on_commit_callbacks
):
    # The vendor bills the new, lower price; the PO still has the old one.
    exception = price_variance(people, setup_org, price="21.00")
    po = exception.invoice.purchase_order
    with django_capture_on_commit_callbacks(execute=True):
        exception_correct_po(
            exception=exception,
            by=people["buyer"],
            unit_price=Decimal("21.00"),
            reason="Price list of 1 November",
        )

    exception, invoice, po = refreshed(exception, exception.invoice, po)
    assert (exception.status, exception.resolution, exception.root_cause) == (
        Status.RESOLVED,
        "po_corrected",
        "stale_po_price",
    )
    assert exception.resolved_by == people["buyer"]
    assert po.lines.get().unit_price == Decimal("21.00") and po.revision >= 1
    assert invoice.status == Invoice.Status.APPROVED


def test_a_correction_above_the_approved_amount_waits_for_approval_and_stays_open(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org, price="24.95")
    with django_capture_on_commit_callbacks(execute=True):
        result = exception_correct_po(
            exception=exception,
            by=people["buyer"],
            unit_price=Decimal("24.95"),
            reason="Vendor raised prices",
        )

    exception.refresh_from_db()
    po = PurchaseOrder.objects.get(pk=exception.invoice.purchase_order_id)
    assert result.status == Status.OPEN == exception.status
    assert exception.root_cause == "stale_po_price"
    assert po.awaiting_reapproval
    assert "po change submitted" in audit_actions(exception)


def test_only_the_buyer_of_the_po_corrects_it_and_bad_prices_are_refused(people, setup_org):
    exception = price_variance(people, setup_org, price="21.00")
    other_buyer = factories.make_user("bea", "buyer")
    with pytest.raises(NotAllowed, match="routed to someone else"):
        exception_correct_po(
            exception=exception, by=other_buyer, unit_price=Decimal("21"), reason="x"
        )
    with pytest.raises(NotAllowed, match="Only the buyer of this PO"):
        exception_correct_po(
            exception=exception, by=people["ap_clerk"], unit_price=Decimal("21"), reason="x"
        )
    with pytest.raises(DomainError, match="cannot be negative"):
        exception_correct_po(
            exception=exception, by=people["buyer"], unit_price=Decimal("-1"), reason="x"
        )
    with pytest.raises(DomainError, match="Say why"):
        exception_correct_po(
            exception=exception, by=people["buyer"], unit_price=Decimal("21"), reason=" "
        )
    assert exception.invoice.purchase_order.lines.get().unit_price == Decimal("23.50")


def test_requester_posts_the_missing_receipt_and_the_invoice_is_approved(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = missing_receipt(people, setup_org)
    assert exception.owner_user == people["requester"]
    with pytest.raises(NotAllowed):
        exception_post_receipt(exception=exception, by=people["ap_clerk"], quantity=Decimal("15"))
    with django_capture_on_commit_callbacks(execute=True):
        exception_post_receipt(exception=exception, by=people["requester"], quantity=Decimal("15"))

    exception, invoice = refreshed(exception, exception.invoice)
    assert (exception.status, exception.resolution, exception.root_cause) == (
        Status.RESOLVED,
        "receipt_posted",
        "missing_receipt",
    )
    assert invoice.purchase_order.lines.get().received_qty == Decimal("40")
    assert invoice.status == Invoice.Status.APPROVED


def test_a_receipt_that_is_still_short_leaves_a_fresh_exception(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = missing_receipt(people, setup_org)
    with django_capture_on_commit_callbacks(execute=True):
        exception_post_receipt(exception=exception, by=people["requester"], quantity=Decimal("5"))
    invoice = Invoice.objects.get(pk=exception.invoice_id)
    assert invoice.status == Invoice.Status.EXCEPTION
    assert invoice.exceptions.filter(status=Status.OPEN, type="missing_receipt").count() == 1


def test_recoding_a_line_to_its_po_line_clears_it_and_keeps_the_coding(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = unlinked_line(people, setup_org)
    po = exception.invoice.purchase_order
    gl = GLAccount.objects.create(code="6200", name="Printing")
    cc = CostCenter.objects.create(code="CC-200", name="Marketing", department="Marketing")
    with pytest.raises(DomainError, match="Nothing to re-code"):
        exception_recode(exception=exception, by=people["ap_clerk"])
    with django_capture_on_commit_callbacks(execute=True):
        exception_recode(
            exception=exception,
            by=people["ap_clerk"],
            po_line=po.lines.get(),
            gl_account=gl,
            cost_center=cc,
        )

    exception, invoice = refreshed(exception, exception.invoice)
    line = InvoiceLine.objects.get(invoice=invoice)
    assert (exception.status, exception.resolution, exception.root_cause) == (
        Status.RESOLVED,
        "recoded",
        "bad_coding",
    )
    assert (line.po_line, line.gl_account, line.cost_center) == (po.lines.get(), gl, cc)
    assert AuditEvent.objects.filter(
        object_type="payables.invoice", object_id=invoice.pk, action="recoded"
    ).exists()
    assert invoice.status == Invoice.Status.APPROVED


def test_recoding_refuses_a_line_of_another_po_and_writes_nothing(people, setup_org):
    exception = unlinked_line(people, setup_org)
    foreign = price_variance(people, setup_org).invoice.purchase_order.lines.get()
    with pytest.raises(DomainError, match="That line is not on"):
        exception_recode(exception=exception, by=people["ap_clerk"], po_line=foreign)
    exception.refresh_from_db()
    assert exception.status == Status.OPEN
    assert InvoiceLine.objects.get(invoice=exception.invoice).po_line is None


def test_rejecting_sends_the_reason_to_the_vendor_and_closes_every_exception(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = no_po_invoice(people)
    with pytest.raises(DomainError, match="Give the reason"):
        exception_reject_invoice(
            exception=exception, by=people["ap_clerk"], reason="", root_cause="no_po"
        )
    with django_capture_on_commit_callbacks(execute=True):
        exception_reject_invoice(
            exception=exception,
            by=people["ap_clerk"],
            reason="Please quote our PO number.",
            root_cause="no_po",
        )
    exception, invoice = refreshed(exception, exception.invoice)
    assert invoice.status == Invoice.Status.REJECTED
    assert not invoice.exceptions.unresolved().exists()
    [email] = mail.outbox
    assert "rejected" in email.subject and "Please quote our PO number." in email.body


def test_marking_a_duplicate_rejects_the_copy(people, setup_org):
    original = price_variance(people, setup_org)
    po = original.invoice.purchase_order
    copy = invoice_capture(
        by=people["ap_clerk"],
        vendor=po.vendor,
        number="INV-PV-1-COPY",
        invoice_date=original.invoice.invoice_date,
        currency="EUR",
        lines=[InvoiceLineInput("A4", Decimal("40"), Decimal("24.95"), po.lines.get().pk)],
        tax_amount=original.invoice.tax_amount,
        purchase_order=po,
    )
    run_matching([copy.pk])
    duplicate = copy.exceptions.get(type="duplicate")
    with pytest.raises(NotAllowed):
        exception_mark_duplicate(exception=duplicate, by=people["buyer"])
    exception_mark_duplicate(exception=duplicate, by=people["ap_clerk"])
    duplicate, copy = refreshed(duplicate, copy)
    assert copy.status == Invoice.Status.REJECTED
    assert duplicate.root_cause == "duplicate_submission"
    assert not copy.exceptions.unresolved().exists()


def test_a_resolution_that_does_not_fit_the_problem_is_refused(people, setup_org):
    exception = no_po_invoice(people)
    with pytest.raises(DomainError, match="does not apply to a no po"):
        exception_act(exception=exception, by=people["ap_clerk"], action="request_credit_note")
    with pytest.raises(DomainError, match="Choose how the exception was resolved"):
        exception_act(exception=exception, by=people["ap_clerk"], action="shred")
    with pytest.raises(DomainError, match="Choose the root cause"):
        exception_accept_variance(exception=exception, by=people["ap_clerk"], root_cause="gremlins")


def test_a_resolved_exception_cannot_be_resolved_again(people, setup_org):
    exception = price_variance(people, setup_org)
    exception_accept_variance(
        exception=exception, by=people["ap_clerk"], root_cause="stale_po_price"
    )
    with pytest.raises(DomainError, match="already resolved"):
        exception_accept_variance(
            exception=exception, by=people["ap_manager"], root_cause="stale_po_price"
        )


def test_requester_cannot_accept_and_buyers_only_work_their_own_pos(people, setup_org):
    receipt_owed = missing_receipt(people, setup_org)
    dispute = price_variance(people, setup_org)
    other_buyer = factories.make_user("bea", "buyer")
    with pytest.raises(NotAllowed, match="Your role cannot accept"):
        exception_accept_variance(
            exception=receipt_owed, by=people["requester"], root_cause="missing_receipt"
        )
    with pytest.raises(NotAllowed, match="routed to someone else"):
        exception_accept_variance(exception=dispute, by=other_buyer, root_cause="stale_po_price")
    assert not may_view(dispute, other_buyer)
    assert may_view(dispute, people["buyer"])


def test_comment_mentions_notify_and_let_the_person_in(
    people, setup_org, django_capture_on_commit_callbacks
):
    exception = price_variance(people, setup_org)
    assert not may_view(exception, people["requester"])
    with pytest.raises(DomainError, match="Nobody is called @ghost"):
        exception_comment(exception=exception, by=people["ap_clerk"], body="@ghost what is this?")
    assert not exception.comments.exists()

    with django_capture_on_commit_callbacks(execute=True):
        comment = exception_comment(
            exception=exception,
            by=people["ap_clerk"],
            body="@rita did all 40 boxes arrive? @bob FYI",
        )

    assert set(comment.mentioned.all()) == {people["requester"], people["buyer"]}
    assert may_view(exception, people["requester"])
    [email] = mail.outbox
    assert sorted(email.to) == ["bob@example.com", "rita@example.com"]
    assert "did all 40 boxes arrive" in email.body and "/payables/exceptions/" in email.body
    assert "commented" in audit_actions(exception)
    assert mentions_mark_read(by=people["requester"]) == 1
    with pytest.raises(DomainError, match="Write a comment"):
        exception_comment(exception=exception, by=people["ap_clerk"], body="  ")
    with pytest.raises(NotAllowed):
        exception_comment(
            exception=exception, by=factories.make_user("bea", "buyer"), body="me too"
        )


def test_stop_waiting_puts_the_exception_back_in_the_open_queue(people, setup_org):
    exception = price_variance(people, setup_org)
    exception_request_credit_note(
        exception=exception, by=people["ap_clerk"], root_cause="vendor_pricing_error"
    )
    with pytest.raises(DomainError, match="waiting for the vendor"):
        exception_correct_po(
            exception=exception, by=people["buyer"], unit_price=Decimal("24.95"), reason="x"
        )
    exception_stop_waiting(exception=exception, by=people["ap_clerk"])
    exception.refresh_from_db()
    assert exception.status == Status.OPEN


def test_legacy_service_entry_point_still_resolves(people, setup_org):
    exception = no_po_invoice(people)
    exception_resolve(
        exception=exception,
        by=people["ap_manager"],
        resolution="reject_invoice",
        root_cause="no_po",
        note="Ask for a PO",
    )
    exception.refresh_from_db()
    assert exception.resolution == "reject_invoice"
