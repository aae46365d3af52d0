"""Change orders on an issued PO: revise quantities and prices, and apply or decline the
change when its re-approval round ends."""

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import ZERO, format_money, line_amount, parse_decimal, round_quantity
from p2p.roles import Perm
from procurement import invoicing
from procurement.models import ApprovalStep, PurchaseOrder, PurchaseOrderLine, PurchaseOrderRevision
from procurement.services.common import _lock_po, _money, _num
from procurement.services.notifications import _notify_buyer
from procurement.services.orders import _snapshot
from procurement.services.routing import _start_po_round


@dataclass(frozen=True)
class PoLineChange:
    """A change order on one issued PO line; None leaves that value as it is."""

    po_line_id: int
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


def _po_round_approved(po: PurchaseOrder, step: ApprovalStep, by: User) -> None:
    if step.revision_id:
        revision = PurchaseOrderRevision.objects.select_for_update().get(pk=step.revision_id)
        _apply_change(po, revision=revision, by=by)
    po.approved_amount = max(po.approved_amount, step.amount)
    po.awaiting_reapproval = False
    po.save(update_fields=["approved_amount", "awaiting_reapproval"])
    audit_record(
        obj=po,
        action=AuditAction.REAPPROVED,
        by=by,
        changes={"approved amount": po.approved_amount},
    )
    transaction.on_commit(lambda: _notify_buyer(po.pk, "the change is approved"))


def _po_round_declined(po: PurchaseOrder, step: ApprovalStep, by: User, comment: str) -> None:
    if step.revision_id:
        revision = PurchaseOrderRevision.objects.select_for_update().get(pk=step.revision_id)
        revision.decided_at = timezone.now()
        transition(
            revision,
            PurchaseOrderRevision.Status.REJECTED,
            by=by,
            note=comment,
            extra_fields=["decided_at"],
        )
    po.awaiting_reapproval = False
    po.save(update_fields=["awaiting_reapproval"])
    audit_record(obj=po, action=AuditAction.REAPPROVAL_DECLINED, by=by, note=comment)
    transaction.on_commit(lambda: _notify_buyer(po.pk, f"the change was not approved: {comment}"))


def _reconcile_receiving_status(po: PurchaseOrder, by: User, note: str) -> None:
    if po.status not in PurchaseOrder.RECEIVABLE_STATUSES:
        return
    lines = po.lines.all()
    fully = not lines.filter(received_qty__lt=F("quantity")).exists()
    some = lines.filter(received_qty__gt=0).exists()
    target: str | None
    if fully:
        target = PurchaseOrder.Status.RECEIVED
    elif some:
        target = PurchaseOrder.Status.PARTIALLY_RECEIVED
    else:
        target = po.status if po.status == PurchaseOrder.Status.ISSUED else None
    if target and target != po.status and target in po.TRANSITIONS.get(po.status, ()):
        transition(po, target, by=by, note=note)


def _apply_change(po: PurchaseOrder, *, revision: PurchaseOrderRevision, by: User) -> None:
    """Write a change order's new quantities and prices on the PO's lines (ids unchanged)."""
    po_lines = {line.pk: line for line in po.lines.select_for_update().order_by("pk")}
    for change in revision.changes:
        line = po_lines.get(change["po_line_id"])
        if line is None:
            raise DomainError("A line of this change order no longer exists on the PO.")
        quantity = Decimal(change["quantity"][1])
        if quantity < line.received_qty:
            raise DomainError(
                f"Line {line.line_no}: {_num(line.received_qty)} {line.uom} has been received "
                "since the change was proposed; the quantity cannot go below that."
            )
        line.quantity = quantity
        line.unit_price = Decimal(change["unit_price"][1])
        line.amount = line_amount(line.quantity, line.unit_price, po.currency)
    PurchaseOrderLine.objects.bulk_update(
        list(po_lines.values()), ["quantity", "unit_price", "amount"]
    )
    po.total_amount = sum((line.amount for line in po_lines.values()), ZERO)
    po.revision += 1
    po.save(update_fields=["total_amount", "revision"])
    lines = list(po.lines.select_related("gl_account", "cost_center"))
    revision.number = po.revision
    revision.snapshot = _snapshot(po, lines)
    revision.total_amount = po.total_amount
    revision.decided_at = timezone.now()
    if revision.pk and revision.status == PurchaseOrderRevision.Status.PENDING_APPROVAL:
        revision.save(update_fields=["number", "snapshot", "total_amount", "decided_at"])
        transition(revision, PurchaseOrderRevision.Status.APPLIED, by=by)
    else:
        # A change within the approved amount is created applied (see po_revise).
        revision.save()
    audit_record(
        obj=po,
        action=AuditAction.REVISED,
        by=by,
        note=revision.reason,
        changes={"revision": po.revision, "total": format_money(po.total_amount, po.currency)},
    )
    _reconcile_receiving_status(po, by, note=f"Revision {po.revision}")
    po_id = po.pk
    transaction.on_commit(lambda: invoicing.rematch_po(po_id))


def po_revise(
    *, po: PurchaseOrder, by: User, lines: list[PoLineChange], reason: str
) -> PurchaseOrder:
    """Change order on an issued PO: new quantities and/or prices on existing lines.

    Creates a new revision (the old ones stay readable), keeps line ids, and re-matches
    the PO's waiting invoices after commit. When the new total is above the approved
    amount the change waits for re-approval and the lines change only once approved.
    """
    roles.require(by, Perm.MANAGE_ORDERS)
    if not (reason or "").strip():
        raise DomainError("Say why the order changes; the vendor and AP will see it.")
    if not lines:
        raise DomainError("Enter a new quantity or price on at least one line.")
    with transaction.atomic():
        po = _lock_po(po)
        if po.status == PurchaseOrder.Status.DRAFT:
            raise DomainError(f"{po.number} is still a draft; edit it directly.")
        if po.status not in PurchaseOrder.OPEN_STATUSES:
            raise DomainError(
                f"{po.number} is {po.get_status_display().lower()}; it can no longer change."
            )
        if po.awaiting_reapproval:
            raise DomainError(
                f"A change to {po.number} is waiting for approval; it must be decided first."
            )
        po_lines = {line.pk: line for line in po.lines.select_for_update().order_by("pk")}
        seen: set[int] = set()
        changes: list[dict[str, Any]] = []
        new_total = po.total_amount
        for change in lines:
            line = po_lines.get(change.po_line_id)
            if line is None:
                raise DomainError("A line of the change order does not belong to this PO.")
            if line.pk in seen:
                raise DomainError(f"Line {line.line_no} is changed twice; change it once.")
            seen.add(line.pk)
            quantity, unit_price = line.quantity, line.unit_price
            if change.quantity is not None:
                quantity = round_quantity(
                    parse_decimal(change.quantity, f"Line {line.line_no} quantity")
                )
                if quantity <= 0:
                    raise DomainError(f"Line {line.line_no}: quantity must be greater than zero.")
                if quantity < line.received_qty:
                    raise DomainError(
                        f"Line {line.line_no}: {_num(line.received_qty)} {line.uom} already "
                        "received; the quantity cannot go below that."
                    )
            if change.unit_price is not None:
                unit_price = round_quantity(
                    parse_decimal(change.unit_price, f"Line {line.line_no} unit price")
                )
                if unit_price < 0:
                    raise DomainError(f"Line {line.line_no}: unit price cannot be negative.")
            if quantity == line.quantity and unit_price == line.unit_price:
                continue
            amount = line_amount(quantity, unit_price, po.currency)
            new_total += amount - line.amount
            changes.append(
                {
                    "po_line_id": line.pk,
                    "line_no": line.line_no,
                    "description": line.description,
                    "quantity": [str(line.quantity), str(quantity)],
                    "unit_price": [str(line.unit_price), str(unit_price)],
                }
            )
        if not changes:
            raise DomainError("Nothing changes: enter a different quantity or price.")
        needs_approval = new_total > po.approved_amount
        revision = PurchaseOrderRevision(
            purchase_order=po,
            # Above the approved amount the change waits for approvers; within it, it applies now.
            status=PurchaseOrderRevision.Status.PENDING_APPROVAL
            if needs_approval
            else PurchaseOrderRevision.Status.APPLIED,
            reason=reason.strip(),
            changes=changes,
            total_amount=new_total,
            created_by=by,
        )
        if needs_approval:
            proposed = {c["po_line_id"]: c for c in changes}
            shown = []
            for line in po_lines.values():
                entry = proposed.get(line.pk)
                shown.append(
                    PurchaseOrderLine(
                        pk=line.pk,
                        line_no=line.line_no,
                        item_code=line.item_code,
                        description=line.description,
                        quantity=Decimal(entry["quantity"][1]) if entry else line.quantity,
                        uom=line.uom,
                        unit_price=Decimal(entry["unit_price"][1]) if entry else line.unit_price,
                        amount=line_amount(
                            Decimal(entry["quantity"][1]) if entry else line.quantity,
                            Decimal(entry["unit_price"][1]) if entry else line.unit_price,
                            po.currency,
                        ),
                        gl_account=line.gl_account,
                        cost_center=line.cost_center,
                        match_type=line.match_type,
                    )
                )
            snapshot = _snapshot(po, shown)
            snapshot["total"] = str(new_total)
            revision.snapshot = snapshot
            revision.save()
            why = (
                f"Change order raises {po.number} to {_money(new_total, po.currency)}; "
                f"{_money(po.approved_amount, po.currency)} was approved."
            )
            _start_po_round(po, by=by, amount=new_total, reason=why, revision=revision)
            audit_record(
                obj=po,
                action=AuditAction.CHANGE_ORDER_SUBMITTED,
                by=by,
                note=f"{reason.strip()}\n{why}",
            )
        else:
            _apply_change(po, revision=revision, by=by)
    return po
