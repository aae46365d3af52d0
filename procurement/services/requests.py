"""Purchase requests: create, edit, copy, submit for approval and withdraw."""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition, transition_many
from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditAction
from p2p.money import ZERO, line_amount, parse_decimal, round_quantity
from p2p.numbering import next_number
from p2p.roles import Perm
from procurement import contracts, selectors
from procurement.models import (
    ApprovalStep,
    Category,
    CostCenter,
    GLAccount,
    PurchaseRequest,
    PurchaseRequestLine,
)
from procurement.services.approvals import decision_capacity
from procurement.services.attachments import _attach, _discard
from procurement.services.common import _check_currency, _money
from procurement.services.notifications import _notify_requester_of_change
from procurement.services.routing import _start_round
from vendors.models import Vendor


@dataclass(frozen=True)
class LineInput:
    """One requested line as typed: free text, or a contract item whose price the contract sets."""

    description: str
    quantity: Decimal
    unit_price: Decimal | None
    uom: str = "EA"
    item_code: str = ""
    needed_by: dt.date | None = None


def _check_coding(cost_center: CostCenter, gl_account: GLAccount) -> None:
    if not cost_center.active:
        raise DomainError(f"Cost center {cost_center.code} is closed; choose another.")
    if not gl_account.active:
        raise DomainError(f"GL account {gl_account.code} is closed; choose another.")


@dataclass(frozen=True)
class CleanLine(LineInput):
    """A line that passed validation: its unit price is known."""

    unit_price: Decimal


def _clean_lines(
    lines: list[LineInput], currency: str, vendor: Vendor | None = None
) -> list[tuple[CleanLine, Decimal]]:
    """Validate the lines, price contract items from the contract, and compute amounts."""
    if not lines:
        raise DomainError("Add at least one line to the request.")
    today = timezone.localdate()
    catalogue: dict[str, contracts.ContractItem] | None = None
    cleaned = []
    for number, line in enumerate(lines, start=1):
        quantity = round_quantity(parse_decimal(line.quantity, f"Line {number} quantity"))
        item_code = contracts.normalize_item_code(line.item_code)
        description = (line.description or "").strip()
        unit_price = (
            None
            if line.unit_price is None or line.unit_price == ""
            else round_quantity(parse_decimal(line.unit_price, f"Line {number} unit price"))
        )
        uom = (line.uom or "").strip() or "EA"
        if item_code:
            if vendor is None:
                raise DomainError(
                    f"Line {number} is a contract item; choose the preferred vendor whose "
                    "contract it is on."
                )
            contract_unit_price = contracts.contract_price(
                vendor_id=vendor.pk, item_code=item_code, on_date=today, currency=currency
            )
            if contract_unit_price is None:
                raise DomainError(
                    f"Line {number}: {item_code} has no contract price in force with "
                    f"{vendor.name} in {currency}."
                )
            contract_unit_price = round_quantity(contract_unit_price)
            if unit_price is None:
                unit_price = contract_unit_price
            elif unit_price != contract_unit_price:
                raise DomainError(
                    f"Line {number}: the contract price of {item_code} is "
                    f"{_money(contract_unit_price, currency)}, not {_money(unit_price, currency)}."
                )
            if not description:
                if catalogue is None:
                    catalogue = {i.item_code: i for i in contracts.contract_items(vendor)}
                item = catalogue.get(item_code)
                description = item.description if item else item_code
        if unit_price is None:
            raise DomainError(f"Line {number}: enter a unit price.")
        if not description:
            raise DomainError(f"Line {number} needs a description.")
        if quantity <= 0:
            raise DomainError(f"Line {number}: quantity must be greater than zero.")
        if unit_price < 0:
            raise DomainError(f"Line {number}: unit price cannot be negative.")
        cleaned_line = CleanLine(
            description[:200], quantity, unit_price, uom[:10], item_code[:40], line.needed_by
        )
        cleaned.append((cleaned_line, line_amount(quantity, unit_price, currency)))
    return cleaned


def _save_lines(request: PurchaseRequest, cleaned: list[tuple[CleanLine, Decimal]]) -> None:
    PurchaseRequestLine.objects.bulk_create(
        PurchaseRequestLine(
            request=request,
            line_no=n,
            item_code=line.item_code,
            description=line.description,
            quantity=line.quantity,
            uom=line.uom,
            unit_price=line.unit_price,
            amount=amount,
            needed_by=line.needed_by,
        )
        for n, (line, amount) in enumerate(cleaned, start=1)
    )


def request_create(
    *,
    by: User,
    title: str,
    cost_center: CostCenter,
    gl_account: GLAccount,
    lines: list[LineInput],
    category: str = Category.GOODS,
    currency: str = "EUR",
    needed_by: dt.date | None = None,
    justification: str = "",
    preferred_vendor: Vendor | None = None,
    attachments: Sequence[UploadedFile] = (),
    note: str = "",
) -> PurchaseRequest:
    """Save a draft request with its lines and attachments (all or nothing)."""
    roles.require(by, Perm.RAISE_REQUEST)
    if not title.strip():
        raise DomainError("Give the request a short title.")
    currency = _check_currency(currency)
    _check_coding(cost_center, gl_account)
    cleaned = _clean_lines(lines, currency, preferred_vendor)
    stored: list[tuple[Storage, str]] = []
    try:
        with transaction.atomic():
            request = PurchaseRequest.objects.create(
                number=next_number("PR"),
                title=title.strip()[:200],
                requester=by,
                cost_center=cost_center,
                gl_account=gl_account,
                category=category,
                currency=currency,
                needed_by=needed_by,
                justification=justification,
                preferred_vendor=preferred_vendor,
                total_amount=sum((amount for _, amount in cleaned), ZERO),
            )
            _save_lines(request, cleaned)
            saved = _attach(request, by, list(attachments), stored) if attachments else []
            audit_record(
                obj=request,
                action=AuditAction.CREATED,
                by=by,
                to_status=request.status,
                note=note,
                changes={
                    "total": _money(request.total_amount, request.currency),
                    "lines": len(cleaned),
                    **({"attachments": len(saved)} if saved else {}),
                },
            )
    except BaseException:
        _discard(stored)
        raise
    return request


def _may_edit(request: PurchaseRequest, by: User) -> bool:
    if request.requester_id == by.pk:
        return request.status in PurchaseRequest.EDITABLE_STATUSES
    if request.status != PurchaseRequest.Status.PENDING_APPROVAL:
        return False
    # An approver the request waits on may correct it; they then cannot approve it.
    pending = request.approvals.filter(
        status=ApprovalStep.Status.PENDING, purchase_order__isnull=True
    ).select_related("approver_group")
    return any(decision_capacity(step, by)[0] for step in pending)


def can_edit_request(request: PurchaseRequest, user: User) -> bool:
    """Whether the user may change the request now (for showing the Edit button)."""
    return _may_edit(request, user)


def request_update(
    *,
    request: PurchaseRequest,
    by: User,
    title: str,
    cost_center: CostCenter,
    gl_account: GLAccount,
    lines: list[LineInput],
    category: str = Category.GOODS,
    currency: str = "EUR",
    needed_by: dt.date | None = None,
    justification: str = "",
    preferred_vendor: Vendor | None = None,
    attachments: Sequence[UploadedFile] = (),
) -> PurchaseRequest:
    """Change a request: its requester while draft, returned or in approval, or an approver
    it waits on. A change during approval starts the approval again, and an approver who
    changed it may not approve it (segregation of duties)."""
    if not title.strip():
        raise DomainError("Give the request a short title.")
    currency = _check_currency(currency)
    _check_coding(cost_center, gl_account)
    cleaned = _clean_lines(lines, currency, preferred_vendor)
    stored: list[tuple[Storage, str]] = []
    try:
        with transaction.atomic():
            request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
            if not _may_edit(request, by):
                raise NotAllowed(
                    f"{request.number} is {request.get_status_display().lower()}; "
                    "you cannot change it now."
                )
            before = {
                "title": request.title,
                "total": _money(request.total_amount, request.currency),
                "cost center": request.cost_center.code,
                "GL account": request.gl_account.code,
                "lines": request.lines.count(),
            }
            request.title = title.strip()[:200]
            request.cost_center = cost_center
            request.gl_account = gl_account
            request.category = category
            request.currency = currency
            request.needed_by = needed_by
            request.justification = justification
            request.preferred_vendor = preferred_vendor
            request.total_amount = sum((amount for _, amount in cleaned), ZERO)
            request.save(
                update_fields=[
                    "title",
                    "cost_center",
                    "gl_account",
                    "category",
                    "currency",
                    "needed_by",
                    "justification",
                    "preferred_vendor",
                    "total_amount",
                ]
            )
            request.lines.all().delete()
            _save_lines(request, cleaned)
            if attachments:
                _attach(request, by, list(attachments), stored)
            after = {
                "title": request.title,
                "total": _money(request.total_amount, request.currency),
                "cost center": cost_center.code,
                "GL account": gl_account.code,
                "lines": len(cleaned),
            }
            changes = {
                key: f"{before[key]} → {after[key]}"
                for key in after
                if str(before[key]) != str(after[key])
            }
            restart = request.status == PurchaseRequest.Status.PENDING_APPROVAL
            event = audit_record(
                obj=request,
                action=AuditAction.EDITED,
                by=by,
                changes=changes,
                note="Changed during approval; approval starts again." if restart else "",
            )
            if request.requester_id != by.pk:
                request.editors.add(by)
                # The requester answers for the request, so a change they did not make must
                # never go unnoticed (an approver raising 1,788.00 to 2,980.00 EUR).
                transaction.on_commit(lambda: _notify_requester_of_change(event.pk))
            if restart:
                _start_round(request, by=by, restart=True)
    except BaseException:
        _discard(stored)
        raise
    return request


def request_copy(*, request: PurchaseRequest, by: User) -> PurchaseRequest:
    """A new draft for `by` with the same header and lines (attachments are not copied:
    quotes expire). Past needed-by dates are cleared."""
    roles.require(by, Perm.RAISE_REQUEST)
    if request.requester_id != by.pk and not selectors.sees_everything(by):
        raise NotAllowed("You can only copy requests you can see.")
    today = timezone.localdate()
    source_lines = list(request.lines.all())
    return request_create(
        by=by,
        title=request.title,
        cost_center=request.cost_center,
        gl_account=request.gl_account,
        category=request.category,
        currency=request.currency,
        needed_by=request.needed_by if request.needed_by and request.needed_by >= today else None,
        justification=request.justification,
        preferred_vendor=request.preferred_vendor,
        lines=[
            LineInput(
                description=line.description,
                quantity=line.quantity,
                # A contract item is re-priced from the contract in force today.
                unit_price=None if line.item_code else line.unit_price,
                uom=line.uom,
                item_code=line.item_code,
                needed_by=line.needed_by if line.needed_by and line.needed_by >= today else None,
            )
            for line in source_lines
        ],
        note=f"Copied from {request.number}",
    )


def request_submit(*, request: PurchaseRequest, by: User) -> PurchaseRequest:
    """Send a draft (or returned) request into approval, routed by the rules and its budget."""
    with transaction.atomic():
        request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
        if request.requester_id != by.pk:
            raise NotAllowed("Only the requester can submit this request.")
        if request.status not in (PurchaseRequest.Status.DRAFT, PurchaseRequest.Status.RETURNED):
            # Let transition() word the refusal the same way for every document.
            transition(request, PurchaseRequest.Status.PENDING_APPROVAL, by=by)
        if not request.lines.exists():
            raise DomainError("Add at least one line before submitting.")
        _check_coding(request.cost_center, request.gl_account)
        _start_round(request, by=by)
    return request


def request_withdraw(*, request: PurchaseRequest, by: User) -> PurchaseRequest:
    """The requester takes back a request that has not been ordered."""
    with transaction.atomic():
        request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
        if request.requester_id != by.pk:
            raise NotAllowed("Only the requester can withdraw this request.")
        transition_many(
            request.approvals.filter(
                status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING]
            ).select_related("request"),
            ApprovalStep.Status.CANCELLED,
            by=by,
            note="Request withdrawn",
        )
        transition(request, PurchaseRequest.Status.WITHDRAWN, by=by)
    return request
