"""Procurement state changes: requests, approvals, purchase orders and receipts.

Each function is one transaction that checks the role and segregation of duties, locks
what it changes, writes the audit trail and schedules side effects after commit.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.money import ZERO, line_amount, round_quantity
from p2p.numbering import next_number
from procurement.models import (
    ApprovalRule,
    ApprovalStep,
    Category,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
    ReceiptLine,
)
from vendors.models import PaymentTerms, Vendor

# Over-receipt allowed above the ordered quantity (vendors round up pallet quantities).
RECEIPT_OVER_TOLERANCE_PCT = Decimal("10")


@dataclass(frozen=True)
class LineInput:
    """One requested line as typed by the requester."""

    description: str
    quantity: Decimal
    unit_price: Decimal
    uom: str = "EA"


def _as_decimal(value: object, label: str) -> Decimal:
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DomainError(f"{label} must be a number, got '{value}'.") from None
    if not number.is_finite():
        raise DomainError(f"{label} must be a number, got '{value}'.")
    return number


def _clean_lines(lines: list[LineInput], currency: str) -> list[tuple[LineInput, Decimal]]:
    if not lines:
        raise DomainError("Add at least one line to the request.")
    cleaned = []
    for number, line in enumerate(lines, start=1):
        quantity = round_quantity(_as_decimal(line.quantity, f"Line {number} quantity"))
        unit_price = round_quantity(_as_decimal(line.unit_price, f"Line {number} unit price"))
        if not line.description.strip():
            raise DomainError(f"Line {number} needs a description.")
        if quantity <= 0:
            raise DomainError(f"Line {number}: quantity must be greater than zero.")
        if unit_price < 0:
            raise DomainError(f"Line {number}: unit price cannot be negative.")
        cleaned_line = LineInput(line.description.strip(), quantity, unit_price, line.uom or "EA")
        cleaned.append((cleaned_line, line_amount(quantity, unit_price, currency)))
    return cleaned


def request_create(
    *,
    by: AbstractBaseUser,
    title: str,
    cost_center: CostCenter,
    gl_account: GLAccount,
    lines: list[LineInput],
    category: str = Category.GOODS,
    currency: str = "EUR",
    needed_by: dt.date | None = None,
    justification: str = "",
    preferred_vendor: Vendor | None = None,
) -> PurchaseRequest:
    """Save a draft request with its lines."""
    roles.require_role(by, roles.REQUESTER)
    if not title.strip():
        raise DomainError("Give the request a short title.")
    cleaned = _clean_lines(lines, currency)
    with transaction.atomic():
        request = PurchaseRequest.objects.create(
            number=next_number("PR"),
            title=title.strip(),
            requester=by,
            cost_center=cost_center,
            gl_account=gl_account,
            category=category,
            currency=currency.upper(),
            needed_by=needed_by,
            justification=justification,
            preferred_vendor=preferred_vendor,
            total_amount=sum((amount for _, amount in cleaned), ZERO),
        )
        PurchaseRequestLine.objects.bulk_create(
            PurchaseRequestLine(
                request=request,
                line_no=n,
                description=line.description,
                quantity=line.quantity,
                uom=line.uom,
                unit_price=line.unit_price,
                amount=amount,
            )
            for n, (line, amount) in enumerate(cleaned, start=1)
        )
        audit_record(
            obj=request,
            action="created",
            by=by,
            to_status=request.status,
            changes={
                "total": request.total_amount,
                "currency": request.currency,
                "lines": len(cleaned),
            },
        )
    return request


def _route(request: PurchaseRequest) -> list[ApprovalRule]:
    """The approval rules whose amount band covers the request, one per step."""
    rules = (
        ApprovalRule.objects.filter(active=True, min_amount__lte=request.total_amount)
        .filter(Q(max_amount__isnull=True) | Q(max_amount__gt=request.total_amount))
        .filter(Q(cost_center__isnull=True) | Q(cost_center=request.cost_center_id))
        .order_by("step", F("cost_center").asc(nulls_last=True), "id")
    )
    chosen: dict[int, ApprovalRule] = {}
    for rule in rules:
        chosen.setdefault(rule.step, rule)  # a cost-center-specific rule wins its step
    return [chosen[step] for step in sorted(chosen)]


def _notify_approvers(step: ApprovalStep) -> None:
    request = step.request
    if step.approver_user_id:
        recipients = [step.approver_user.email]
    else:
        recipients = list(
            step.approver_group.user_set.filter(is_active=True).values_list("email", flat=True)
        )
    recipients = [r for r in recipients if r]
    if not recipients:
        return
    send_mail(
        subject=f"Approval needed: {request.number} {request.title}",
        message=(
            f"{request.requester.get_full_name() or request.requester.username} asks for "
            f"{request.total_amount} {request.currency}.\n"
            f"Review it: {settings.SITE_URL}{reverse('procurement:approval_inbox')}"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=recipients,
        fail_silently=True,
    )


def request_submit(*, request: PurchaseRequest, by: AbstractBaseUser) -> PurchaseRequest:
    """Send a draft (or returned) request into approval, routed by the amount rules."""
    with transaction.atomic():
        request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
        if request.requester_id != by.pk:
            raise NotAllowed("Only the requester can submit this request.")
        if not request.lines.exists():
            raise DomainError("Add at least one line before submitting.")
        rules = _route(request)
        if not rules:
            raise DomainError(
                "No approval rule covers this request; ask an administrator to add one."
            )
        request.approvals.filter(
            status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING]
        ).update(status=ApprovalStep.Status.CANCELLED)
        steps = ApprovalStep.objects.bulk_create(
            ApprovalStep(
                request=request,
                step=rule.step,
                rule=rule,
                approver_group=rule.approver_group,
                approver_user=rule.approver_user,
                status=ApprovalStep.Status.PENDING if i == 0 else ApprovalStep.Status.WAITING,
            )
            for i, rule in enumerate(rules)
        )
        request.submitted_at = timezone.now()
        transition(
            request,
            PurchaseRequest.Status.PENDING_APPROVAL,
            by=by,
            extra_fields=["submitted_at"],
            note=f"Routed to {len(steps)} approval step(s)",
        )
        first = steps[0]
        transaction.on_commit(lambda: _notify_approvers(first))
    return request


def request_withdraw(*, request: PurchaseRequest, by: AbstractBaseUser) -> PurchaseRequest:
    """The requester takes back a request that has not been ordered."""
    with transaction.atomic():
        request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
        if request.requester_id != by.pk:
            raise NotAllowed("Only the requester can withdraw this request.")
        request.approvals.filter(
            status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING]
        ).update(status=ApprovalStep.Status.CANCELLED)
        transition(request, PurchaseRequest.Status.WITHDRAWN, by=by)
    return request


def can_decide(step: ApprovalStep, user: AbstractBaseUser) -> bool:
    """Whether the user is an approver this step is waiting for."""
    if step.approver_user_id:
        return step.approver_user_id == user.pk
    return roles.has_role(user, step.approver_group.name) if step.approver_group_id else False


class Decision:
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    ALL = (APPROVE, REJECT, RETURN)


def approval_decide(
    *, step: ApprovalStep, by: AbstractBaseUser, decision: str, comment: str = ""
) -> ApprovalStep:
    """Approve, reject or return one step; the last approval approves the request."""
    if decision not in Decision.ALL:
        raise DomainError("Choose approve, reject or return.")
    with transaction.atomic():
        # Lock the request first, then the step: the same order as request_submit/withdraw.
        request = PurchaseRequest.objects.select_for_update().get(pk=step.request_id)
        step = (
            ApprovalStep.objects.select_for_update(of=("self",))
            .select_related("approver_group")
            .get(pk=step.pk)
        )
        if request.requester_id == by.pk:
            raise SegregationOfDutiesError("You cannot approve a request you raised.")
        if not can_decide(step, by):
            raise NotAllowed("This approval is not assigned to you.")
        if request.status != PurchaseRequest.Status.PENDING_APPROVAL:
            raise DomainError(
                f"{request.number} is {request.get_status_display().lower()}, not awaiting approval."
            )
        if decision in (Decision.REJECT, Decision.RETURN) and not comment.strip():
            raise DomainError("Say why in a comment, so the requester knows what to change.")
        step.decided_by = by
        step.decided_at = timezone.now()
        step.comment = comment
        now = step.decided_at
        if decision == Decision.APPROVE:
            transition(
                step,
                ApprovalStep.Status.APPROVED,
                by=by,
                note=comment,
                extra_fields=["decided_by", "decided_at", "comment"],
            )
            following = (
                ApprovalStep.objects.select_for_update()
                .filter(request=request, status=ApprovalStep.Status.WAITING)
                .order_by("step", "id")
                .first()
            )
            if following is not None:
                transition(following, ApprovalStep.Status.PENDING, by=by)
                transaction.on_commit(lambda: _notify_approvers(following))
            else:
                request.decided_at = now
                transition(
                    request, PurchaseRequest.Status.APPROVED, by=by, extra_fields=["decided_at"]
                )
        else:
            step_status, request_status = (
                (ApprovalStep.Status.REJECTED, PurchaseRequest.Status.REJECTED)
                if decision == Decision.REJECT
                else (ApprovalStep.Status.RETURNED, PurchaseRequest.Status.RETURNED)
            )
            transition(
                step,
                step_status,
                by=by,
                note=comment,
                extra_fields=["decided_by", "decided_at", "comment"],
            )
            request.approvals.filter(status=ApprovalStep.Status.WAITING).update(
                status=ApprovalStep.Status.CANCELLED
            )
            request.decided_at = now
            transition(request, request_status, by=by, note=comment, extra_fields=["decided_at"])
    return step


def po_create_from_request(
    *,
    request: PurchaseRequest,
    vendor: Vendor,
    by: AbstractBaseUser,
    payment_terms: PaymentTerms | None = None,
    ship_to: str = "",
) -> PurchaseOrder:
    """Turn an approved request into a draft PO for a vendor, copying lines and coding."""
    roles.require_role(by, roles.BUYER)
    with transaction.atomic():
        request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
        if request.status != PurchaseRequest.Status.APPROVED:
            raise DomainError(f"{request.number} must be approved before it can be ordered.")
        if vendor.currency != request.currency:
            raise DomainError(
                f"{vendor.name} invoices in {vendor.currency}; the request is in {request.currency}."
            )
        match_type = (
            PurchaseOrderLine.MatchType.TWO_WAY
            if request.category == Category.SERVICES
            else PurchaseOrderLine.MatchType.THREE_WAY
        )
        po = PurchaseOrder.objects.create(
            number=next_number("PO"),
            vendor=vendor,
            buyer=by,
            request=request,
            currency=request.currency,
            payment_terms=payment_terms or vendor.payment_terms,
            ship_to=ship_to,
            total_amount=request.total_amount,
        )
        PurchaseOrderLine.objects.bulk_create(
            PurchaseOrderLine(
                purchase_order=po,
                line_no=line.line_no,
                request_line=line,
                description=line.description,
                quantity=line.quantity,
                uom=line.uom,
                unit_price=line.unit_price,
                amount=line.amount,
                gl_account_id=request.gl_account_id,
                cost_center_id=request.cost_center_id,
                match_type=match_type,
            )
            for line in request.lines.all()
        )
        audit_record(
            obj=po,
            action="created",
            by=by,
            to_status=po.status,
            changes={"request": request.number, "vendor": vendor.name, "total": po.total_amount},
        )
        transition(request, PurchaseRequest.Status.ORDERED, by=by, note=f"Ordered on {po.number}")
    return po


def po_issue(*, po: PurchaseOrder, by: AbstractBaseUser) -> PurchaseOrder:
    """Issue a draft PO to its vendor; from here it is read-only and AP matches against it."""
    roles.require_role(by, roles.BUYER)
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().select_related("vendor").get(pk=po.pk)
        if not po.vendor.is_payable:
            raise DomainError(
                f"{po.vendor.name} is {po.vendor.get_status_display().lower()}; "
                "only active vendors can receive purchase orders."
            )
        lines = list(po.lines.all())
        if not lines:
            raise DomainError("A purchase order needs at least one line.")
        if any(line.gl_account_id is None or line.cost_center_id is None for line in lines):
            raise DomainError(
                "Every line needs a GL account and cost center before the PO is issued."
            )
        if po.request_id and po.total_amount > po.request.total_amount:
            raise DomainError("The PO exceeds the approved request amount; it needs re-approval.")
        po.issued_at = timezone.now()
        transition(po, PurchaseOrder.Status.ISSUED, by=by, extra_fields=["issued_at"])
    return po


@dataclass(frozen=True)
class ReceiptLineInput:
    """Quantities received and returned for one PO line."""

    po_line_id: int
    received_qty: Decimal = ZERO
    returned_qty: Decimal = ZERO


def receipt_post(
    *,
    po: PurchaseOrder,
    by: AbstractBaseUser,
    lines: list[ReceiptLineInput],
    received_on: dt.date | None = None,
    note: str = "",
) -> Receipt:
    """Record what arrived (or went back) on a PO, then re-match invoices waiting for it."""
    roles.require_role(by, roles.REQUESTER, roles.BUYER)
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
        if po.status not in PurchaseOrder.RECEIVABLE_STATUSES:
            raise DomainError(
                f"{po.number} is {po.get_status_display().lower()}; nothing can be received on it."
            )
        if (
            roles.has_role(by, roles.REQUESTER)
            and not roles.has_role(by, roles.BUYER)
            and po.request_id
            and po.request.requester_id != by.pk
        ):
            raise NotAllowed("Only the requester of this PO or a buyer can record receipts on it.")
        po_lines = {line.pk: line for line in po.lines.select_for_update().order_by("pk")}
        wanted = []
        for entry in lines:
            received = round_quantity(_as_decimal(entry.received_qty or 0, "Received quantity"))
            returned = round_quantity(_as_decimal(entry.returned_qty or 0, "Returned quantity"))
            if received < 0 or returned < 0:
                raise DomainError(
                    "Quantities cannot be negative; record goods sent back as a return."
                )
            if received == 0 and returned == 0:
                continue
            po_line = po_lines.get(entry.po_line_id)
            if po_line is None:
                raise DomainError("A receipt line does not belong to this purchase order.")
            net = po_line.received_qty + received - returned
            if net < 0:
                raise DomainError(f"Line {po_line.line_no}: cannot return more than was received.")
            ceiling = po_line.quantity * (1 + RECEIPT_OVER_TOLERANCE_PCT / 100)
            if net > ceiling:
                raise DomainError(
                    f"Line {po_line.line_no}: {net.normalize():f} {po_line.uom} would exceed the ordered "
                    f"{po_line.quantity.normalize():f} by more than {RECEIPT_OVER_TOLERANCE_PCT}%."
                )
            wanted.append((po_line, received, returned, net))
        if not wanted:
            raise DomainError("Enter a received or returned quantity on at least one line.")
        receipt = Receipt.objects.create(
            number=next_number("GR"),
            purchase_order=po,
            received_by=by,
            received_on=received_on or timezone.localdate(),
            note=note,
        )
        ReceiptLine.objects.bulk_create(
            ReceiptLine(
                receipt=receipt, po_line=po_line, received_qty=received, returned_qty=returned
            )
            for po_line, received, returned, _ in wanted
        )
        for po_line, _, _, net in wanted:
            po_line.received_qty = net
        PurchaseOrderLine.objects.bulk_update([w[0] for w in wanted], ["received_qty"])
        audit_record(
            obj=receipt,
            action="created",
            by=by,
            to_status=receipt.status,
            changes={
                f"line {po_line.line_no}": f"+{received.normalize():f} / -{returned.normalize():f}"
                for po_line, received, returned, _ in wanted
            },
        )
        totals = po.lines.aggregate(ordered=Coalesce(Sum("quantity"), ZERO))
        fully = not po.lines.filter(received_qty__lt=F("quantity")).exists()
        target = PurchaseOrder.Status.RECEIVED if fully else PurchaseOrder.Status.PARTIALLY_RECEIVED
        if totals["ordered"] and po.status != target:
            transition(po, target, by=by, note=f"Receipt {receipt.number}")
        po_id = po.pk
        transaction.on_commit(lambda: _rematch_po(po_id))
    return receipt


def _rematch_po(po_id: int) -> None:
    from payables.tasks import enqueue_match_for_po

    enqueue_match_for_po(po_id)
