"""Purchase orders: create from approved requests, edit the draft, re-approval of the draft,
issue, close and cancel."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import ProtectedError, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.celery import enqueue
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import ZERO, format_money, line_amount, parse_decimal, round_quantity
from p2p.numbering import next_number
from p2p.roles import Perm
from procurement import invoicing, selectors
from procurement.models import (
    ApprovalStep,
    Category,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRevision,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
)
from procurement.services.common import _lock_po, _money
from procurement.services.routing import _start_po_round
from vendors.models import PaymentTerms, Vendor


@dataclass(frozen=True)
class OrderSelection:
    """One approved request and the vendor a buyer orders it from."""

    request: PurchaseRequest
    vendor: Vendor


@dataclass(frozen=True)
class PoLineEdit:
    """A draft PO line as the buyer leaves it: price, quantity, coding and match type."""

    po_line_id: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    gl_account_id: int | None
    cost_center_id: int | None
    match_type: str
    remove: bool = False


def po_create_from_requests(
    *,
    selections: list[OrderSelection],
    by: User,
    payment_terms: PaymentTerms | None = None,
    ship_to: str = "",
) -> list[PurchaseOrder]:
    """Turn approved requests into draft POs, one per vendor, copying lines and coding."""
    roles.require(by, Perm.MANAGE_ORDERS)
    if not selections:
        raise DomainError("Choose at least one approved request to order.")
    request_ids = [selection.request.pk for selection in selections]
    if len(set(request_ids)) != len(request_ids):
        raise DomainError("A request was chosen twice; order each request once.")
    vendor_of = {selection.request.pk: selection.vendor for selection in selections}
    orders: list[PurchaseOrder] = []
    with transaction.atomic():
        locked = {
            request.pk: request
            for request in PurchaseRequest.objects.select_for_update()
            .filter(pk__in=request_ids)
            .order_by("pk")
        }
        groups: dict[int, list[PurchaseRequest]] = {}
        for request_id in request_ids:
            request = locked[request_id]
            vendor = vendor_of[request_id]
            if request.status != PurchaseRequest.Status.APPROVED:
                raise DomainError(f"{request.number} must be approved before it can be ordered.")
            if vendor.currency != request.currency:
                raise DomainError(
                    f"{vendor.name} invoices in {vendor.currency}; {request.number} is in "
                    f"{request.currency}."
                )
            groups.setdefault(vendor.pk, []).append(request)
        lines_of: dict[int, list[PurchaseRequestLine]] = {}
        for line in PurchaseRequestLine.objects.filter(request__in=request_ids).order_by(
            "request_id", "line_no"
        ):
            lines_of.setdefault(line.request_id, []).append(line)
        for requests in groups.values():
            vendor = vendor_of[requests[0].pk]
            total = sum((request.total_amount for request in requests), ZERO)
            po = PurchaseOrder.objects.create(
                number=next_number("PO"),
                vendor=vendor,
                buyer=by,
                request=requests[0],
                currency=vendor.currency,
                payment_terms=payment_terms or vendor.payment_terms,
                ship_to=ship_to,
                total_amount=total,
                approved_amount=total,
            )
            po.requests.set(requests)
            po_lines: list[PurchaseOrderLine] = []
            for request in requests:
                match_type = (
                    PurchaseOrderLine.MatchType.TWO_WAY
                    if request.category == Category.SERVICES
                    else PurchaseOrderLine.MatchType.THREE_WAY
                )
                for line in lines_of.get(request.pk, []):
                    po_lines.append(
                        PurchaseOrderLine(
                            purchase_order=po,
                            line_no=len(po_lines) + 1,
                            request_line=line,
                            item_code=line.item_code,
                            description=line.description,
                            quantity=line.quantity,
                            uom=line.uom,
                            unit_price=line.unit_price,
                            amount=line.amount,
                            gl_account_id=request.gl_account_id,
                            cost_center_id=request.cost_center_id,
                            match_type=match_type,
                        )
                    )
            PurchaseOrderLine.objects.bulk_create(po_lines)
            numbers = ", ".join(request.number for request in requests)
            audit_record(
                obj=po,
                action=AuditAction.CREATED,
                by=by,
                to_status=po.status,
                changes={
                    ("requests" if len(requests) > 1 else "request"): numbers,
                    "vendor": vendor.name,
                    "total": format_money(po.total_amount, po.currency),
                },
            )
            for request in requests:
                transition(
                    request, PurchaseRequest.Status.ORDERED, by=by, note=f"Ordered on {po.number}"
                )
            orders.append(po)
    return orders


def po_create_from_request(
    *,
    request: PurchaseRequest,
    vendor: Vendor,
    by: User,
    payment_terms: PaymentTerms | None = None,
    ship_to: str = "",
) -> PurchaseOrder:
    """Turn one approved request into a draft PO for a vendor."""
    (po,) = po_create_from_requests(
        selections=[OrderSelection(request=request, vendor=vendor)],
        by=by,
        payment_terms=payment_terms,
        ship_to=ship_to,
    )
    return po


def po_update_draft(
    *,
    po: PurchaseOrder,
    by: User,
    lines: list[PoLineEdit],
    payment_terms: PaymentTerms | None = None,
    ship_to: str = "",
) -> PurchaseOrder:
    """Edit a draft PO: terms (None = the vendor's default), ship-to, and each line's
    quantity, price, coding and match type; lines may be removed, not added."""
    roles.require(by, Perm.MANAGE_ORDERS)
    with transaction.atomic():
        po = _lock_po(po)
        if po.status != PurchaseOrder.Status.DRAFT:
            raise DomainError(
                f"{po.number} is {po.get_status_display().lower()}; "
                "issued orders change through a change order."
            )
        if po.awaiting_reapproval:
            raise DomainError(f"{po.number} is waiting for re-approval; it cannot change now.")
        po_lines = {line.pk: line for line in po.lines.select_for_update().order_by("pk")}
        edits = {edit.po_line_id: edit for edit in lines}
        if set(edits) - set(po_lines):
            raise DomainError("A line does not belong to this purchase order.")
        keep = [pk for pk in po_lines if not (pk in edits and edits[pk].remove)]
        if not keep:
            raise DomainError("A purchase order needs at least one line; cancel it instead.")
        gl_ids = {e.gl_account_id for e in edits.values() if e.gl_account_id and not e.remove}
        cc_ids = {e.cost_center_id for e in edits.values() if e.cost_center_id and not e.remove}
        gl_accounts = GLAccount.objects.in_bulk(gl_ids)
        cost_centers = CostCenter.objects.in_bulk(cc_ids)
        changed: list[PurchaseOrderLine] = []
        diff: dict[str, str] = {}
        for pk, edit in edits.items():
            line = po_lines[pk]
            if edit.remove:
                continue
            label = f"line {line.line_no}"
            quantity = round_quantity(parse_decimal(edit.quantity, f"Line {line.line_no} quantity"))
            unit_price = round_quantity(
                parse_decimal(edit.unit_price, f"Line {line.line_no} unit price")
            )
            if quantity <= 0:
                raise DomainError(f"Line {line.line_no}: quantity must be greater than zero.")
            if unit_price < 0:
                raise DomainError(f"Line {line.line_no}: unit price cannot be negative.")
            if edit.match_type not in PurchaseOrderLine.MatchType.values:
                raise DomainError(f"Line {line.line_no}: choose 3-way or 2-way matching.")
            if not edit.description.strip():
                raise DomainError(f"Line {line.line_no} needs a description.")
            if edit.gl_account_id and edit.gl_account_id not in gl_accounts:
                raise DomainError(f"Line {line.line_no}: unknown GL account.")
            if edit.cost_center_id and edit.cost_center_id not in cost_centers:
                raise DomainError(f"Line {line.line_no}: unknown cost center.")
            new = {
                "description": edit.description.strip()[:200],
                "quantity": quantity,
                "unit_price": unit_price,
                "gl_account_id": edit.gl_account_id,
                "cost_center_id": edit.cost_center_id,
                "match_type": edit.match_type,
            }
            moved = [key for key, value in new.items() if getattr(line, key) != value]
            if moved:
                for key in moved:
                    diff[f"{label} {key.removesuffix('_id').replace('_', ' ')}"] = (
                        f"{getattr(line, key) or '—'} → {new[key] or '—'}"
                    )
                    setattr(line, key, new[key])
                line.amount = line_amount(line.quantity, line.unit_price, po.currency)
                changed.append(line)
        removed = [po_lines[pk] for pk in po_lines if pk not in keep]
        if removed:
            try:
                with transaction.atomic():
                    PurchaseOrderLine.objects.filter(pk__in=[line.pk for line in removed]).delete()
            except ProtectedError:
                raise DomainError(
                    "A removed line is already referenced by an invoice; keep it."
                ) from None
            diff["removed"] = ", ".join(f"line {line.line_no}" for line in removed)
        if changed:
            PurchaseOrderLine.objects.bulk_update(
                changed,
                [
                    "description",
                    "quantity",
                    "unit_price",
                    "amount",
                    "gl_account_id",
                    "cost_center_id",
                    "match_type",
                ],
            )
        terms = payment_terms or po.vendor.payment_terms
        if terms.pk != po.payment_terms_id:
            diff["payment terms"] = f"{po.payment_terms} → {terms}"
            po.payment_terms = terms
        if ship_to != po.ship_to:
            diff["ship to"] = "changed"
            po.ship_to = ship_to
        total = po.lines.aggregate(total=Coalesce(Sum("amount"), ZERO))["total"]
        if total != po.total_amount:
            diff["total"] = f"{po.total_amount} → {total}"
            po.total_amount = total
        po.save(update_fields=["payment_terms", "ship_to", "total_amount"])
        if diff:
            audit_record(obj=po, action=AuditAction.EDITED, by=by, changes=diff)
    return po


def po_request_reapproval(*, po: PurchaseOrder, by: User) -> PurchaseOrder:
    """Send a draft PO whose total is above what was approved back to the approvers."""
    roles.require(by, Perm.MANAGE_ORDERS)
    with transaction.atomic():
        po = _lock_po(po)
        if po.status != PurchaseOrder.Status.DRAFT:
            raise DomainError(f"{po.number} is not a draft; change it with a change order.")
        if po.awaiting_reapproval:
            raise DomainError(f"{po.number} is already waiting for re-approval.")
        if po.total_amount <= po.approved_amount:
            raise DomainError(f"{po.number} is within its approved amount; no approval needed.")
        reason = (
            f"{po.number} totals {_money(po.total_amount, po.currency)}; "
            f"{_money(po.approved_amount, po.currency)} was approved."
        )
        _start_po_round(po, by=by, amount=po.total_amount, reason=reason)
        audit_record(obj=po, action=AuditAction.REAPPROVAL_REQUESTED, by=by, note=reason)
    return po


def _snapshot(po: PurchaseOrder, lines: list[PurchaseOrderLine]) -> dict[str, Any]:
    """Header and lines as they read in one version of the PO, JSON-ready."""
    return {
        "number": po.number,
        "revision": po.revision,
        "vendor": po.vendor.name,
        "currency": po.currency,
        "payment_terms": str(po.payment_terms),
        "ship_to": po.ship_to,
        "total": str(po.total_amount),
        "lines": [
            {
                "id": line.pk,
                "line_no": line.line_no,
                "item_code": line.item_code,
                "description": line.description,
                "quantity": str(line.quantity),
                "uom": line.uom,
                "unit_price": str(line.unit_price),
                "amount": str(line.amount),
                "gl_account": line.gl_account.code if line.gl_account is not None else "",
                "cost_center": line.cost_center.code if line.cost_center is not None else "",
                "match_type": line.match_type,
            }
            for line in sorted(lines, key=lambda line: line.line_no)
        ],
    }


def po_issue(
    *,
    po: PurchaseOrder,
    by: User,
    confirm_contract_prices: bool = False,
    send_to_vendor: bool = False,
) -> PurchaseOrder:
    """Issue a draft PO to its vendor; from here it is read-only and AP matches against it.

    Refused with incomplete or closed coding, to a vendor that is not active, above the
    approved amount without re-approval, or — unless confirmed — with prices that differ
    from the contract in force.
    """
    roles.require(by, Perm.MANAGE_ORDERS)
    with transaction.atomic():
        po = (
            PurchaseOrder.objects.select_for_update()
            .select_related("vendor", "payment_terms")
            .get(pk=po.pk)
        )
        if po.status != PurchaseOrder.Status.DRAFT:
            transition(po, PurchaseOrder.Status.ISSUED, by=by)  # words the refusal
        if not po.vendor.is_payable:
            raise DomainError(
                f"{po.vendor.name} is {po.vendor.get_status_display().lower()}; "
                "only active vendors can receive purchase orders."
            )
        lines = list(po.lines.select_related("gl_account", "cost_center"))
        if not lines:
            raise DomainError("A purchase order needs at least one line.")
        uncoded = [
            line.line_no for line in lines if not (line.gl_account_id and line.cost_center_id)
        ]
        if uncoded:
            raise DomainError(
                "Every line needs a GL account and cost center before the PO is issued "
                f"(line {', '.join(map(str, uncoded))})."
            )
        for line in lines:
            assert line.gl_account is not None and line.cost_center is not None  # coded above
            if not line.gl_account.active or not line.cost_center.active:
                raise DomainError(
                    f"Line {line.line_no} is coded to a closed cost center or GL account."
                )
        if po.awaiting_reapproval:
            raise DomainError(f"{po.number} is waiting for re-approval; issue it once approved.")
        if po.total_amount > po.approved_amount:
            raise DomainError(
                f"The PO total {_money(po.total_amount, po.currency)} exceeds the approved "
                f"{_money(po.approved_amount, po.currency)}; it needs re-approval before issue."
            )
        deviations = selectors.contract_price_deviations(po, lines)
        if deviations and not confirm_contract_prices:
            listing = "; ".join(
                f"line {d.line.line_no} {_money(d.line.unit_price, po.currency)} vs contract "
                f"{_money(d.contract_price, po.currency)}"
                for d in deviations
            )
            raise DomainError(
                f"Prices differ from the contract ({listing}). Check them and confirm to issue."
            )
        po.issued_at = timezone.now()
        transition(
            po,
            PurchaseOrder.Status.ISSUED,
            by=by,
            extra_fields=["issued_at"],
            changes={
                f"line {d.line.line_no} price vs contract": (
                    f"{d.line.unit_price} vs {d.contract_price} (confirmed)"
                )
                for d in deviations
            }
            or None,
        )
        PurchaseOrderRevision.objects.create(
            purchase_order=po,
            number=0,
            status=PurchaseOrderRevision.Status.APPLIED,
            reason="Issued",
            snapshot=_snapshot(po, lines),
            total_amount=po.total_amount,
            created_by=by,
        )
        if send_to_vendor and po.vendor.email:
            po_id, user_id = po.pk, by.pk
            transaction.on_commit(lambda: _enqueue_send(po_id, user_id))
    return po


def _enqueue_send(po_id: int, user_id: int) -> None:
    enqueue("procurement.tasks.send_purchase_order", po_id, user_id)


def po_close(*, po: PurchaseOrder, by: User, reason: str = "") -> PurchaseOrder:
    """Close an issued PO: nothing more is expected, and its open commitment is released."""
    roles.require(by, Perm.MANAGE_ORDERS)
    with transaction.atomic():
        po = _lock_po(po)
        if po.awaiting_reapproval:
            raise DomainError(f"A change to {po.number} is waiting for approval; decide it first.")
        if po.status not in PurchaseOrder.OPEN_STATUSES:
            transition(po, PurchaseOrder.Status.CLOSED, by=by)  # words the refusal
        released = selectors.po_open_commitment(po.pk)
        po.closed_at = timezone.now()
        transition(
            po,
            PurchaseOrder.Status.CLOSED,
            by=by,
            note=reason.strip(),
            extra_fields=["closed_at"],
            changes={"commitment released": _money(released, po.currency)},
        )
    return po


def po_cancel(*, po: PurchaseOrder, by: User, reason: str) -> PurchaseOrder:
    """Cancel a draft, or an issued PO nothing was received or invoiced on; its requests
    go back to the buyers to order again, and its commitment is released."""
    roles.require(by, Perm.MANAGE_ORDERS)
    if not (reason or "").strip():
        raise DomainError("Say why the order is cancelled.")
    with transaction.atomic():
        po = _lock_po(po)
        if po.status not in (PurchaseOrder.Status.DRAFT, PurchaseOrder.Status.ISSUED):
            raise DomainError(
                f"{po.number} is {po.get_status_display().lower()}; "
                + (
                    "close it instead."
                    if po.status in PurchaseOrder.OPEN_STATUSES
                    else "it cannot be cancelled."
                )
            )
        if po.receipts.filter(status=Receipt.Status.POSTED).exists():
            raise DomainError(f"Goods were received on {po.number}; close it instead.")
        if invoicing.live_invoices(po).exists():
            raise DomainError(f"{po.number} has invoices; close it instead.")
        cancelled = f"{po.number} cancelled"
        transition_many(
            ApprovalStep.objects.filter(
                purchase_order=po,
                status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING],
            ).select_related("request"),
            ApprovalStep.Status.CANCELLED,
            by=by,
            note=cancelled,
        )
        transition_many(
            po.revisions.filter(
                status=PurchaseOrderRevision.Status.PENDING_APPROVAL
            ).select_related("purchase_order"),
            PurchaseOrderRevision.Status.REJECTED,
            by=by,
            values={"decided_at": timezone.now()},
            note=cancelled,
        )
        po.awaiting_reapproval = False
        transition(
            po,
            PurchaseOrder.Status.CANCELLED,
            by=by,
            note=reason.strip(),
            extra_fields=["awaiting_reapproval"],
        )
        for request in (
            po.requests.select_for_update()
            .filter(status=PurchaseRequest.Status.ORDERED)
            .order_by("pk")
        ):
            transition(
                request,
                PurchaseRequest.Status.APPROVED,
                by=by,
                note=f"{po.number} cancelled; ready to order again",
            )
    return po
