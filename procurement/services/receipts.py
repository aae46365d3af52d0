"""Goods receipts: posting received and returned quantities against PO lines."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditAction
from p2p.money import ZERO, parse_decimal, round_quantity
from p2p.numbering import next_number
from p2p.roles import Perm
from procurement import invoicing
from procurement.models import PurchaseOrder, PurchaseOrderLine, Receipt, ReceiptLine
from procurement.services.common import _num

# Over-receipt allowed above the ordered quantity (vendors round up pallet quantities).
RECEIPT_OVER_TOLERANCE_PCT = Decimal("10")


@dataclass(frozen=True)
class ReceiptLineInput:
    """Quantities received and returned for one PO line."""

    po_line_id: int
    received_qty: Decimal = ZERO
    returned_qty: Decimal = ZERO


def receipt_post(
    *,
    po: PurchaseOrder,
    by: User,
    lines: list[ReceiptLineInput],
    received_on: dt.date | None = None,
    note: str = "",
) -> Receipt:
    """Record what arrived (or went back) on a PO, then re-match invoices waiting for it."""
    roles.require(by, Perm.RECEIVE_GOODS)
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
        if po.status not in PurchaseOrder.RECEIVABLE_STATUSES:
            raise DomainError(
                f"{po.number} is {po.get_status_display().lower()}; nothing can be received on it."
            )
        if (
            roles.may(by, Perm.RAISE_REQUEST)
            and not roles.may(by, Perm.MANAGE_ORDERS)
            and not po.requests.filter(requester=by).exists()
            and not (po.request is not None and po.request.requester_id == by.pk)
        ):
            raise NotAllowed("Only the requester of this PO or a buyer can record receipts on it.")
        if received_on and received_on > timezone.localdate():
            raise DomainError("A receipt cannot be dated in the future.")
        po_lines = {line.pk: line for line in po.lines.select_for_update().order_by("pk")}
        wanted = []
        for entry in lines:
            received = round_quantity(parse_decimal(entry.received_qty or 0, "Received quantity"))
            returned = round_quantity(parse_decimal(entry.returned_qty or 0, "Returned quantity"))
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
                    f"Line {po_line.line_no}: {_num(net)} {po_line.uom} would exceed the ordered "
                    f"{_num(po_line.quantity)} by more than {RECEIPT_OVER_TOLERANCE_PCT}%."
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
            action=AuditAction.CREATED,
            by=by,
            to_status=receipt.status,
            changes={
                f"line {po_line.line_no}": f"+{_num(received)} / -{_num(returned)}"
                for po_line, received, returned, _ in wanted
            },
        )
        fully = not po.lines.filter(received_qty__lt=F("quantity")).exists()
        target = PurchaseOrder.Status.RECEIVED if fully else PurchaseOrder.Status.PARTIALLY_RECEIVED
        if po.status != target:
            transition(po, target, by=by, note=f"Receipt {receipt.number}")
        po_id = po.pk
        transaction.on_commit(lambda: invoicing.rematch_po(po_id))
    return receipt
