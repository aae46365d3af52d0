"""The exception actions: one entry per way to answer an exception, and `exception_act`.

Each entry says what the action is called, which exception types it answers (and in which
order a clerk tries it there), who may take it, the input it needs, the message afterwards,
and calls its service in payables.services.resolutions. The HTML pages, the API, bulk jobs
and the templates read the registry (payables.services.exceptions.ACTIONS); adding a
resolution is adding an entry here. PayablesConfig.ready imports this module, so the
registry is complete before any service checks against it.
"""

from typing import Any

from django.contrib.auth.models import User

from p2p.exceptions import DomainError
from payables.models.exceptions import InvoiceException
from payables.services.exceptions import (
    ActionInput,
    Who,
    exception_action,
    get_action,
)
from payables.services.resolutions import (
    exception_accept_variance,
    exception_correct_po,
    exception_mark_duplicate,
    exception_post_receipt,
    exception_recode,
    exception_reject_invoice,
    exception_request_credit_note,
    exception_settle_credit_note,
    exception_stop_waiting,
)

Type = InvoiceException.Type
RootCause = InvoiceException.RootCause
PENDING_PO_CHANGE = (
    "Change order submitted: it raises the PO above what was approved, so it waits for an "
    "approver. Once approved, the re-match clears this exception."
)


@exception_action(
    "accept_variance",
    "Accept the variance and approve",
    applies_to={
        Type.PRICE_VARIANCE: 4,
        Type.QTY_OVER_BILLED: 4,
        Type.MISSING_RECEIPT: 2,
        Type.NO_PO: 2,
        Type.VENDOR_MISMATCH: 2,
        Type.CURRENCY_MISMATCH: 2,
        Type.DUPLICATE: 2,
        Type.TOTALS_MISMATCH: 2,
    },
    while_waiting=3,
    who=Who.DISPUTE,
    bulk=True,
    success="Variance accepted; {invoice} goes back to the matching engine.",
    rematches=True,
)
def _accept_variance(
    exception: InvoiceException, by: User, answer: ActionInput
) -> InvoiceException:
    if answer.max_amount is not None and exception.amount_at_stake > answer.max_amount:
        raise DomainError(
            f"{exception.amount_at_stake} at stake is above this job's limit of {answer.max_amount}."
        )
    return exception_accept_variance(
        exception=exception,
        by=by,
        root_cause=answer.root_cause,
        note=answer.note,
        enqueue=answer.enqueue,
    )


@exception_action(
    "request_credit_note",
    "Request a credit note",
    applies_to={Type.PRICE_VARIANCE: 2, Type.QTY_OVER_BILLED: 1},
    who=Who.DISPUTE,
    bulk=True,
    success="Credit note requested from {vendor}; the exception waits for it.",
)
def _request_credit_note(
    exception: InvoiceException, by: User, answer: ActionInput
) -> InvoiceException:
    return exception_request_credit_note(
        exception=exception,
        by=by,
        root_cause=answer.root_cause,
        amount=answer.amount,
        message=answer.note,
    )


@exception_action(
    "settle_credit_note",
    "Close with the vendor's credit note",
    applies_to={Type.PRICE_VARIANCE: 3, Type.QTY_OVER_BILLED: 2},
    while_waiting=1,
    who=Who.DISPUTE,
    asks_root_cause=False,
    required=(("credit_note", "Choose the credit note that settles it."),),
    success="Closed against the credit note; {invoice} is re-matched.",
    rematches=True,
)
def _settle_credit_note(
    exception: InvoiceException, by: User, answer: ActionInput
) -> InvoiceException:
    # exception_act refuses an answer without one (the entry's `required`).
    assert answer.credit_note is not None
    return exception_settle_credit_note(
        exception=exception, by=by, credit_note=answer.credit_note, note=answer.note
    )


@exception_action(
    "correct_po",
    "Correct the PO",
    applies_to={Type.PRICE_VARIANCE: 1, Type.QTY_OVER_BILLED: 3},
    who=Who.PO_BUYER,
    needs_po_line=True,
    success="PO corrected; {invoice} is re-matched against the new revision.",
    pending=PENDING_PO_CHANGE,
    rematches=True,
)
def _correct_po(exception: InvoiceException, by: User, answer: ActionInput) -> InvoiceException:
    return exception_correct_po(
        exception=exception,
        by=by,
        reason=answer.note,
        root_cause=answer.root_cause,
        unit_price=answer.unit_price,
        quantity=answer.quantity,
    )


@exception_action(
    "post_receipt",
    "Post the missing receipt",
    applies_to={Type.MISSING_RECEIPT: 1},
    who=Who.RECEIVER,
    needs_po_line=True,
    root_cause=RootCause.MISSING_RECEIPT,
    asks_root_cause=False,
    required=(("quantity", "Enter the quantity that arrived."),),
    success="Receipt recorded; {invoice} is re-matched.",
    rematches=True,
)
def _post_receipt(exception: InvoiceException, by: User, answer: ActionInput) -> InvoiceException:
    # exception_act refuses an answer without one (the entry's `required`).
    assert answer.quantity is not None
    return exception_post_receipt(
        exception=exception,
        by=by,
        quantity=answer.quantity,
        received_on=answer.received_on,
        note=answer.note,
    )


@exception_action(
    "recode",
    "Re-code the line",
    applies_to={
        Type.PRICE_VARIANCE: 5,
        Type.QTY_OVER_BILLED: 5,
        Type.MISSING_RECEIPT: 3,
        Type.NO_PO: 1,
    },
    who=Who.AP,
    needs_line=True,
    root_cause=RootCause.BAD_CODING,
    success="Line re-coded; {invoice} is re-matched.",
    rematches=True,
)
def _recode(exception: InvoiceException, by: User, answer: ActionInput) -> InvoiceException:
    return exception_recode(
        exception=exception,
        by=by,
        root_cause=answer.root_cause,
        po_line=answer.po_line,
        gl_account=answer.gl_account,
        cost_center=answer.cost_center,
        note=answer.note,
    )


@exception_action(
    "mark_duplicate",
    "Mark as duplicate",
    applies_to={Type.QTY_OVER_BILLED: 6, Type.DUPLICATE: 1},
    who=Who.AP,
    root_cause=RootCause.DUPLICATE_SUBMISSION,
    success="{invoice} rejected as a duplicate.",
    danger=True,
)
def _mark_duplicate(exception: InvoiceException, by: User, answer: ActionInput) -> InvoiceException:
    return exception_mark_duplicate(
        exception=exception, by=by, root_cause=answer.root_cause, note=answer.note
    )


@exception_action(
    "reject_invoice",
    "Reject the invoice",
    applies_to={
        Type.PRICE_VARIANCE: 6,
        Type.QTY_OVER_BILLED: 7,
        Type.MISSING_RECEIPT: 4,
        Type.NO_PO: 3,
        Type.VENDOR_MISMATCH: 1,
        Type.CURRENCY_MISMATCH: 1,
        Type.DUPLICATE: 3,
        Type.TOTALS_MISMATCH: 1,
    },
    while_waiting=4,
    who=Who.AP,
    bulk=True,
    required=(("note", "Give the reason for rejecting; it is sent to the vendor."),),
    success="{invoice} rejected; the reason was sent to {vendor}.",
    danger=True,
)
def _reject_invoice(exception: InvoiceException, by: User, answer: ActionInput) -> InvoiceException:
    return exception_reject_invoice(
        exception=exception, by=by, reason=answer.note, root_cause=answer.root_cause
    )


@exception_action(
    "stop_waiting",
    "Stop waiting for the vendor",
    applies_to={},
    while_waiting=2,
    who=Who.DISPUTE,
    asks_root_cause=False,
    success="Back in the open queue.",
)
def _stop_waiting(exception: InvoiceException, by: User, answer: ActionInput) -> InvoiceException:
    return exception_stop_waiting(exception=exception, by=by, note=answer.note)


def exception_act(
    *, exception: InvoiceException, by: User, action: str, **given: Any
) -> InvoiceException:
    """Apply one action by name: the single entry point for pages, the API and bulk jobs.

    `given` holds the ActionInput fields the person filled in. A blank root cause falls back
    to what the action implies, then to the engine's guess.
    """
    entry = get_action(action)
    answer = ActionInput(**given)
    for field, missing in entry.required:
        if getattr(answer, field) in (None, ""):
            raise DomainError(missing)
    root_cause = (
        answer.root_cause
        or entry.root_cause
        or exception.root_cause
        or exception.suggested_root_cause
    )
    return entry.perform(exception, by, ActionInput(**{**given, "root_cause": root_cause}))
