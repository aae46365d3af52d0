"""Procurement state changes: requests, approvals, budgets, purchase orders and receipts.

Each function is one transaction that checks the role and segregation of duties, locks
what it changes, writes the audit trail and schedules side effects after commit.
"""

import datetime as dt
import smtplib
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.core.mail import EmailMessage, send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import F, ProtectedError, Q, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.text import get_valid_filename

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.exceptions import DomainError, NotAllowed, SegregationOfDutiesError
from p2p.models import AuditEvent
from p2p.money import ZERO, format_money, line_amount, parse_decimal, round_money, round_quantity
from p2p.numbering import next_number
from procurement import contracts, selectors
from procurement.models import (
    ApprovalDelegation,
    ApprovalRule,
    ApprovalStep,
    Budget,
    Category,
    CostCenter,
    GLAccount,
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseOrderRevision,
    PurchaseRequest,
    PurchaseRequestLine,
    Receipt,
    ReceiptLine,
    RequestAttachment,
)
from vendors.models import PaymentTerms, Vendor

# Over-receipt allowed above the ordered quantity (vendors round up pallet quantities).
RECEIPT_OVER_TOLERANCE_PCT = Decimal("10")

# Quotes and specs: small office documents and images, never executables or archives.
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ATTACHMENT_MAX_COUNT = 20
ATTACHMENT_TYPES = {
    ".pdf": "application/pdf",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".csv": "text/csv",
    ".txt": "text/plain",
}
# The first bytes each binary type must start with, so a renamed executable is refused.
_SIGNATURES = {
    ".pdf": (b"%PDF-",),
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".jpg": (b"\xff\xd8\xff",),
    ".jpeg": (b"\xff\xd8\xff",),
    ".docx": (b"PK\x03\x04",),
    ".xlsx": (b"PK\x03\x04",),
    ".odt": (b"PK\x03\x04",),
    ".ods": (b"PK\x03\x04",),
    ".doc": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
    ".xls": (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",),
}

# Who takes the extra step when a request goes over budget (policy "approve").
BUDGET_APPROVER_ROLE = roles.FINANCE_LEADER
# Roles that may be named as a delegate: only someone who can already work an inbox.
DELEGATE_ROLES = (roles.APPROVER, roles.FINANCE_LEADER)


# ---------- inputs ----------


@dataclass(frozen=True)
class LineInput:
    """One requested line as typed: free text, or a contract item whose price the contract sets."""

    description: str
    quantity: Decimal
    unit_price: Decimal | None
    uom: str = "EA"
    item_code: str = ""
    needed_by: dt.date | None = None


@dataclass(frozen=True)
class ReceiptLineInput:
    """Quantities received and returned for one PO line."""

    po_line_id: int
    received_qty: Decimal = ZERO
    returned_qty: Decimal = ZERO


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


@dataclass(frozen=True)
class PoLineChange:
    """A change order on one issued PO line; None leaves that value as it is."""

    po_line_id: int
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


class Decision:
    APPROVE = "approve"
    REJECT = "reject"
    RETURN = "return"
    ALL = (APPROVE, REJECT, RETURN)


# ---------- small helpers ----------


def _name(user: AbstractBaseUser | None) -> str:
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


def _money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _check_coding(cost_center: CostCenter, gl_account: GLAccount) -> None:
    if not cost_center.active:
        raise DomainError(f"Cost center {cost_center.code} is closed; choose another.")
    if not gl_account.active:
        raise DomainError(f"GL account {gl_account.code} is closed; choose another.")


def _check_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise DomainError(f"'{currency}' is not a currency code; use three letters such as EUR.")
    return code


def _clean_lines(
    lines: list[LineInput], currency: str, vendor: Vendor | None = None
) -> list[tuple[LineInput, Decimal]]:
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
        cleaned_line = LineInput(
            description[:200], quantity, unit_price, uom[:10], item_code[:40], line.needed_by
        )
        cleaned.append((cleaned_line, line_amount(quantity, unit_price, currency)))
    return cleaned


def _save_lines(request: PurchaseRequest, cleaned: list[tuple[LineInput, Decimal]]) -> None:
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


# ---------- attachments ----------


def _check_upload(upload: UploadedFile) -> tuple[str, str]:
    """The safe display name and content type of an upload, or a clerk-readable refusal."""
    original = (upload.name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    safe_name = get_valid_filename(original)[:200] if original.strip(". ") else ""
    if not safe_name:
        raise DomainError("An attachment has no file name.")
    suffix = ("." + safe_name.rsplit(".", 1)[-1].lower()) if "." in safe_name else ""
    if suffix not in ATTACHMENT_TYPES:
        allowed = ", ".join(sorted({s.lstrip(".").upper() for s in ATTACHMENT_TYPES}))
        raise DomainError(f"{safe_name}: this file type is not accepted; use {allowed}.")
    if upload.size is None or upload.size == 0:
        raise DomainError(f"{safe_name} is empty.")
    if upload.size > ATTACHMENT_MAX_BYTES:
        raise DomainError(
            f"{safe_name} is {upload.size / 1024 / 1024:.1f} MB; attachments may be at most "
            f"{ATTACHMENT_MAX_BYTES // 1024 // 1024} MB."
        )
    upload.seek(0)
    head = upload.read(2048)
    upload.seek(0)
    signatures = _SIGNATURES.get(suffix)
    if signatures and not head.startswith(signatures):
        raise DomainError(f"{safe_name} is not a real {suffix.lstrip('.').upper()} file.")
    if not signatures and b"\x00" in head:
        raise DomainError(f"{safe_name} is not a text file.")
    return safe_name, ATTACHMENT_TYPES[suffix]


def _attach(
    request: PurchaseRequest,
    by: AbstractBaseUser,
    uploads: list[UploadedFile],
    stored: list[tuple[object, str]],
) -> list[RequestAttachment]:
    """Save uploads on `request`; `stored` collects the files written, for cleanup on failure."""
    checked = [(upload, *_check_upload(upload)) for upload in uploads]
    existing = request.attachments.current().count()
    if existing + len(checked) > ATTACHMENT_MAX_COUNT:
        raise DomainError(f"A request holds at most {ATTACHMENT_MAX_COUNT} attachments.")
    saved = []
    for upload, safe_name, content_type in checked:
        attachment = RequestAttachment(
            request=request,
            original_name=safe_name,
            content_type=content_type,
            size=upload.size,
            uploaded_by=by,
        )
        attachment.file.save(safe_name, upload, save=False)
        stored.append((attachment.file.storage, attachment.file.name))
        attachment.save()
        saved.append(attachment)
    return saved


def _discard(stored: list[tuple[object, str]]) -> None:
    """Files are written before their rows commit; remove them when the rows never do."""
    for storage, name in stored:
        storage.delete(name)


# A buyer keeps quotes with a request that is still alive; a rejected or withdrawn request
# is closed, and a draft is the requester's own until it is submitted.
BUYER_ATTACHMENT_STATUSES = (
    PurchaseRequest.Status.PENDING_APPROVAL,
    PurchaseRequest.Status.APPROVED,
    PurchaseRequest.Status.ORDERED,
)


def can_change_attachments(request: PurchaseRequest, user: AbstractBaseUser) -> bool:
    """Whether the user may attach files to the request, or remove them, now."""
    if request.requester_id == user.pk and request.status in PurchaseRequest.EDITABLE_STATUSES:
        return True
    return request.status in BUYER_ATTACHMENT_STATUSES and roles.has_role(user, roles.BUYER)


def _check_may_change_attachments(request: PurchaseRequest, by: AbstractBaseUser) -> None:
    if not can_change_attachments(request, by):
        raise NotAllowed(
            f"{request.number} is {request.get_status_display().lower()}; "
            "you cannot change its attachments now."
        )


def request_attachment_add(
    *, request: PurchaseRequest, by: AbstractBaseUser, uploads: list[UploadedFile]
) -> list[RequestAttachment]:
    """Attach quotes or specs to a request: its requester until it is decided, or a buyer
    while it is in approval, approved or ordered."""
    if not uploads:
        raise DomainError("Choose a file to attach.")
    stored: list[tuple[object, str]] = []
    try:
        with transaction.atomic():
            request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
            _check_may_change_attachments(request, by)
            saved = _attach(request, by, uploads, stored)
            audit_record(
                obj=request,
                action="attached",
                by=by,
                changes={"files": ", ".join(a.original_name for a in saved)},
            )
    except BaseException:
        _discard(stored)
        raise
    return saved


def request_attachment_remove(
    *, attachment: RequestAttachment, by: AbstractBaseUser, reason: str
) -> RequestAttachment:
    """Take an attachment off the request's lists; the row and the file stay for auditors,
    with who removed it, when and why."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError("Say why the file is removed; the reason is kept in the audit trail.")
    with transaction.atomic():
        request = PurchaseRequest.objects.select_for_update().get(pk=attachment.request_id)
        attachment = RequestAttachment.objects.select_for_update().get(pk=attachment.pk)
        _check_may_change_attachments(request, by)
        if attachment.removed_at is not None:
            raise DomainError(f"{attachment.original_name} was already removed.")
        attachment.removed_at = timezone.now()
        attachment.removed_by = by
        attachment.removal_reason = reason[:300]
        attachment.save(update_fields=["removed_at", "removed_by", "removal_reason"])
        audit_record(
            obj=request,
            action="attachment removed",
            by=by,
            changes={"file": attachment.original_name},
            note=attachment.removal_reason,
        )
    return attachment


# ---------- requests ----------


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
    attachments: list[UploadedFile] = (),
    note: str = "",
) -> PurchaseRequest:
    """Save a draft request with its lines and attachments (all or nothing)."""
    roles.require_role(by, roles.REQUESTER)
    if not title.strip():
        raise DomainError("Give the request a short title.")
    currency = _check_currency(currency)
    _check_coding(cost_center, gl_account)
    cleaned = _clean_lines(lines, currency, preferred_vendor)
    stored: list[tuple[object, str]] = []
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
                action="created",
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


def _may_edit(request: PurchaseRequest, by: AbstractBaseUser) -> bool:
    if request.requester_id == by.pk:
        return request.status in PurchaseRequest.EDITABLE_STATUSES
    if request.status != PurchaseRequest.Status.PENDING_APPROVAL:
        return False
    # An approver the request waits on may correct it; they then cannot approve it.
    pending = request.approvals.filter(
        status=ApprovalStep.Status.PENDING, purchase_order__isnull=True
    ).select_related("approver_group")
    return any(decision_capacity(step, by)[0] for step in pending)


def can_edit_request(request: PurchaseRequest, user: AbstractBaseUser) -> bool:
    """Whether the user may change the request now (for showing the Edit button)."""
    return _may_edit(request, user)


def request_update(
    *,
    request: PurchaseRequest,
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
    attachments: list[UploadedFile] = (),
) -> PurchaseRequest:
    """Change a request: its requester while draft, returned or in approval, or an approver
    it waits on. A change during approval starts the approval again, and an approver who
    changed it may not approve it (segregation of duties)."""
    if not title.strip():
        raise DomainError("Give the request a short title.")
    currency = _check_currency(currency)
    _check_coding(cost_center, gl_account)
    cleaned = _clean_lines(lines, currency, preferred_vendor)
    stored: list[tuple[object, str]] = []
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
                action="edited",
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


def request_copy(*, request: PurchaseRequest, by: AbstractBaseUser) -> PurchaseRequest:
    """A new draft for `by` with the same header and lines (attachments are not copied:
    quotes expire). Past needed-by dates are cleared."""
    roles.require_role(by, roles.REQUESTER)
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


# ---------- approval routing ----------


def _specificity(rule: ApprovalRule) -> tuple[bool, bool, bool]:
    return (rule.cost_center_id is not None, bool(rule.department), bool(rule.category))


def route_rules(*, cost_center: CostCenter, category: str, amount: Decimal) -> list[ApprovalRule]:
    """The approval rules that apply, one per step in step order: at each step the most
    specific rule whose band, cost center, department and category all fit wins."""
    rules = (
        ApprovalRule.objects.filter(active=True, min_amount__lte=amount)
        .filter(Q(max_amount__isnull=True) | Q(max_amount__gt=amount))
        .filter(Q(cost_center__isnull=True) | Q(cost_center=cost_center.pk))
        .filter(Q(department="") | Q(department__iexact=cost_center.department))
        .filter(Q(category="") | Q(category=category))
        .select_related("approver_group", "approver_user")
        .order_by("step", "id")
    )
    chosen: dict[int, ApprovalRule] = {}
    for rule in rules:
        best = chosen.get(rule.step)
        if best is None or _specificity(rule) > _specificity(best):
            chosen[rule.step] = rule
    return [chosen[step] for step in sorted(chosen)]


def _route(request: PurchaseRequest) -> list[ApprovalRule]:
    """The approval rules for a request, one per step."""
    return route_rules(
        cost_center=request.cost_center, category=request.category, amount=request.total_amount
    )


def _group(name: str) -> Group:
    return Group.objects.get_or_create(name=name)[0]


def _plan_steps(
    rules: list[ApprovalRule], *, requester_id: int, **step_fields
) -> list[ApprovalStep]:
    """Unsaved steps for the rules; the first is pending, the rest wait their turn."""
    steps = []
    for i, rule in enumerate(rules):
        group, user, reason = rule.approver_group, rule.approver_user, ""
        if user is not None and user.pk == requester_id:
            # Nobody approves their own request: the step falls to the rule's group.
            group, user = rule.approver_group or _group(roles.APPROVER), None
            reason = f"{_name(rule.approver_user)} raised it, so any {group.name} decides."
        steps.append(
            ApprovalStep(
                step=rule.step,
                rule=rule,
                approver_group=group,
                approver_user=user,
                status=ApprovalStep.Status.PENDING if i == 0 else ApprovalStep.Status.WAITING,
                reason=reason,
                **step_fields,
            )
        )
    return steps


def _budget_step(request: PurchaseRequest, after_step: int) -> ApprovalStep | None:
    """An extra finance step when the request does not fit its budget; raises when blocked."""
    position = selectors.budget_position_for(
        cost_center_id=request.cost_center_id,
        gl_account_id=request.gl_account_id,
        on_date=timezone.localdate(),
    )
    if position is None:
        return None
    budget = position.budget
    if budget.currency != request.currency:
        # No exchange rates here: a person checks a request the budget cannot measure.
        reason = (
            f"Budget {budget} is kept in {budget.currency}; the request is in "
            f"{request.currency}, so finance checks it."
        )
    elif request.total_amount <= position.available:
        return None
    else:
        short = request.total_amount - position.available
        if budget.overrun_policy == Budget.Overrun.BLOCK:
            raise DomainError(
                f"Over budget: {request.cost_center.code} has "
                f"{_money(position.available, budget.currency)} available until "
                f"{budget.period_end:%d %b %Y}; this request needs "
                f"{_money(request.total_amount, request.currency)}. The budget does not allow "
                "overruns: reduce the request or ask finance to raise the budget."
            )
        reason = (
            f"{_money(short, budget.currency)} more than the "
            f"{_money(position.available, budget.currency)} available in {budget}."
        )
    return ApprovalStep(
        step=after_step + 1,
        kind=ApprovalStep.Kind.BUDGET,
        approver_group=_group(BUDGET_APPROVER_ROLE),
        status=ApprovalStep.Status.WAITING,
        reason=reason,
    )


def _start_round(request: PurchaseRequest, *, by: AbstractBaseUser, restart: bool = False) -> None:
    """Cancel open steps and route the request afresh; the first step is notified."""
    rules = _route(request)
    if not rules:
        raise DomainError("No approval rule covers this request; ask an administrator to add one.")
    steps = _plan_steps(
        rules, requester_id=request.requester_id, request=request, amount=request.total_amount
    )
    budget_step = _budget_step(request, after_step=steps[-1].step)
    if budget_step is not None:
        budget_step.request = request
        budget_step.amount = request.total_amount
        steps.append(budget_step)
    request.approvals.filter(
        status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING],
        purchase_order__isnull=True,
    ).update(status=ApprovalStep.Status.CANCELLED)
    steps = ApprovalStep.objects.bulk_create(steps)
    note = f"Routed to {len(steps)} approval step(s)"
    if budget_step is not None:
        note += f"; over budget: {budget_step.reason}"
    if restart:
        audit_record(obj=request, action="rerouted", by=by, note=note)
    else:
        request.submitted_at = timezone.now()
        transition(
            request,
            PurchaseRequest.Status.PENDING_APPROVAL,
            by=by,
            extra_fields=["submitted_at"],
            note=note,
        )
    first_id = steps[0].pk
    transaction.on_commit(lambda: _notify_approvers(first_id))


def request_submit(*, request: PurchaseRequest, by: AbstractBaseUser) -> PurchaseRequest:
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


# ---------- who may decide ----------


def _holds(step: ApprovalStep, user: AbstractBaseUser) -> bool:
    if not user.is_active:
        return False
    if step.approver_user_id:
        return step.approver_user_id == user.pk
    return roles.has_role(user, step.approver_group.name) if step.approver_group_id else False


def decision_capacity(
    step: ApprovalStep, user: AbstractBaseUser
) -> tuple[bool, AbstractBaseUser | None]:
    """(may decide, on whose behalf): the user's own authority, or a delegation in force today."""
    if _holds(step, user):
        return True, None
    delegations = ApprovalDelegation.objects.active_on(timezone.localdate()).filter(to_user=user.pk)
    for delegation in delegations.select_related("from_user"):
        if _holds(step, delegation.from_user):
            return True, delegation.from_user
    return False, None


def can_decide(step: ApprovalStep, user: AbstractBaseUser) -> bool:
    """Whether the user is an approver this step is waiting for (or stands in for one)."""
    return decision_capacity(step, user)[0]


# ---------- notifications ----------


def _recipients_for(step: ApprovalStep) -> list[str]:
    User = get_user_model()
    if step.approver_user_id:
        approvers = User.objects.filter(pk=step.approver_user_id, is_active=True)
    elif step.approver_group_id:
        approvers = User.objects.filter(groups=step.approver_group_id, is_active=True)
    else:
        return []
    approver_ids = list(approvers.values_list("pk", flat=True))
    delegate_ids = ApprovalDelegation.objects.active_on(timezone.localdate()).filter(
        from_user__in=approver_ids
    )
    emails = User.objects.filter(
        Q(pk__in=approver_ids) | Q(pk__in=delegate_ids.values("to_user")), is_active=True
    ).values_list("email", flat=True)
    return sorted({email for email in emails if email})


def _send(subject: str, body: str, recipients: list[str]) -> None:
    if recipients:
        send_mail(
            subject=subject,
            message=body,
            from_email=settings.DEFAULT_FROM_EMAIL,
            recipient_list=recipients,
            fail_silently=True,
        )


def _notify_approvers(step_id: int) -> None:
    """Email everyone who may decide a step that now waits (delegates included)."""
    step = (
        ApprovalStep.objects.select_related(
            "request__requester", "purchase_order", "approver_group", "approver_user"
        )
        .filter(pk=step_id, status=ApprovalStep.Status.PENDING)
        .first()
    )
    if step is None:
        return
    request = step.request
    inbox = f"{settings.SITE_URL}{reverse('procurement:approval_inbox')}"
    if step.purchase_order_id:
        po = step.purchase_order
        subject = f"Approval needed: {po.number} is above its approved amount"
        body = (
            f"{_name(step.raised_by)} asks to raise {po.number} ({po.vendor}) to "
            f"{_money(step.amount, po.currency)}; approved so far "
            f"{_money(po.approved_amount, po.currency)}.\n{step.reason}\nReview it: {inbox}"
        )
    else:
        subject = f"Approval needed: {request.number} {request.title}"
        body = (
            f"{_name(request.requester)} asks for "
            f"{_money(request.total_amount, request.currency)}.\n"
            + (f"{step.reason}\n" if step.reason else "")
            + f"Review it: {inbox}"
        )
    _send(subject, body, _recipients_for(step))


def _notify_requester(request_id: int) -> None:
    request = PurchaseRequest.objects.select_related("requester").get(pk=request_id)
    last = (
        request.approvals.filter(decided_at__isnull=False, purchase_order__isnull=True)
        .select_related("decided_by")
        .order_by("-decided_at", "-id")
        .first()
    )
    comment = (
        f"\nComment from {_name(last.decided_by)}: {last.comment}" if last and last.comment else ""
    )
    link = f"{settings.SITE_URL}{reverse('procurement:request_detail', args=[request.pk])}"
    _send(
        f"{request.number} {request.get_status_display().lower()}",
        f"Your request {request.number} ({request.title}) is "
        f"{request.get_status_display().lower()}.{comment}\n{link}",
        [request.requester.email] if request.requester.email else [],
    )


def _notify_requester_of_change(event_id: int) -> None:
    """Tell the requester who changed their request and what changed, old → new."""
    event = AuditEvent.objects.select_related("actor").get(pk=event_id)
    request = PurchaseRequest.objects.select_related("requester").get(pk=event.object_id)
    editor = _name(event.actor) if event.actor else event.actor_name
    body = [f"{editor} changed your request {request.number} ({request.title}):"]
    body += [f"  {field}: {value}" for field, value in event.changes.items()]
    body += [event.note] if event.note else []
    body.append(f"{settings.SITE_URL}{reverse('procurement:request_detail', args=[request.pk])}")
    _send(
        f"{request.number} changed by {editor}",
        "\n".join(body),
        [request.requester.email] if request.requester.email else [],
    )


def _notify_buyer(po_id: int, outcome: str) -> None:
    po = PurchaseOrder.objects.select_related("buyer").get(pk=po_id)
    link = f"{settings.SITE_URL}{reverse('procurement:po_detail', args=[po.pk])}"
    _send(
        f"{po.number}: {outcome}",
        f"{po.number} ({po.vendor}): {outcome}.\n{link}",
        [po.buyer.email] if po.buyer.email else [],
    )


# ---------- deciding ----------


def approval_decide(
    *, step: ApprovalStep, by: AbstractBaseUser, decision: str, comment: str = ""
) -> ApprovalStep:
    """Approve, reject or return one step; the last approval approves the request (or the
    PO change). Any rejection ends the round; a return sends it back for changes."""
    if decision not in Decision.ALL:
        raise DomainError("Choose approve, reject or return.")
    with transaction.atomic():
        # Lock the request first, then the PO, then the step: the same order everywhere.
        request = PurchaseRequest.objects.select_for_update().get(pk=step.request_id)
        po = None
        if step.purchase_order_id:
            po = PurchaseOrder.objects.select_for_update().get(pk=step.purchase_order_id)
        step = (
            ApprovalStep.objects.select_for_update(of=("self",))
            .select_related("approver_group", "revision")
            .get(pk=step.pk)
        )
        if request.requester_id == by.pk:
            raise SegregationOfDutiesError("You cannot approve a request you raised.")
        may_decide, on_behalf_of = decision_capacity(step, by)
        if not may_decide:
            raise NotAllowed("This approval is not assigned to you.")
        if on_behalf_of is not None and on_behalf_of.pk == request.requester_id:
            raise SegregationOfDutiesError(
                "You stand in for the requester, so you cannot decide their request."
            )
        if po is None and request.status != PurchaseRequest.Status.PENDING_APPROVAL:
            raise DomainError(
                f"{request.number} is {request.get_status_display().lower()}, not awaiting approval."
            )
        if step.status != ApprovalStep.Status.PENDING:
            raise DomainError(
                f"This step is {step.get_status_display().lower()}, not awaiting a decision."
            )
        if decision == Decision.APPROVE:
            deciders = {by.pk} | ({on_behalf_of.pk} if on_behalf_of else set())
            if po is None and request.editors.filter(pk__in=deciders).exists():
                raise SegregationOfDutiesError(
                    "You changed this request, so another approver must approve it."
                )
            if po is not None and step.raised_by_id in deciders:
                raise SegregationOfDutiesError(
                    f"You changed {po.number}, so another approver must approve the change."
                )
        if decision in (Decision.REJECT, Decision.RETURN) and not comment.strip():
            raise DomainError("Say why in a comment, so the requester knows what to change.")
        step.decided_by = by
        step.decided_at = timezone.now()
        step.comment = comment
        step.on_behalf_of = on_behalf_of
        fields = ["decided_by", "decided_at", "comment", "on_behalf_of"]
        behalf = {"on behalf of": _name(on_behalf_of)} if on_behalf_of else None
        round_steps = ApprovalStep.objects.filter(
            request=request, purchase_order=po, revision=step.revision_id
        )
        if decision == Decision.APPROVE:
            transition(
                step,
                ApprovalStep.Status.APPROVED,
                by=by,
                note=comment,
                extra_fields=fields,
                changes=behalf,
            )
            following = (
                round_steps.select_for_update()
                .filter(status=ApprovalStep.Status.WAITING)
                .order_by("step", "id")
                .first()
            )
            if following is not None:
                transition(following, ApprovalStep.Status.PENDING, by=by)
                following_id = following.pk
                transaction.on_commit(lambda: _notify_approvers(following_id))
            elif po is not None:
                _po_round_approved(po, step, by)
            else:
                request.decided_at = step.decided_at
                transition(
                    request, PurchaseRequest.Status.APPROVED, by=by, extra_fields=["decided_at"]
                )
                transaction.on_commit(lambda: _notify_requester(request.pk))
        else:
            step_status = (
                ApprovalStep.Status.REJECTED
                if decision == Decision.REJECT
                else ApprovalStep.Status.RETURNED
            )
            transition(step, step_status, by=by, note=comment, extra_fields=fields, changes=behalf)
            round_steps.filter(status=ApprovalStep.Status.WAITING).update(
                status=ApprovalStep.Status.CANCELLED
            )
            if po is not None:
                _po_round_declined(po, step, by, comment)
            else:
                request_status = (
                    PurchaseRequest.Status.REJECTED
                    if decision == Decision.REJECT
                    else PurchaseRequest.Status.RETURNED
                )
                request.decided_at = step.decided_at
                transition(
                    request, request_status, by=by, note=comment, extra_fields=["decided_at"]
                )
                transaction.on_commit(lambda: _notify_requester(request.pk))
    return step


# ---------- delegation ----------


def delegation_create(
    *,
    by: AbstractBaseUser,
    to_user: AbstractBaseUser,
    start_date: dt.date,
    end_date: dt.date,
    from_user: AbstractBaseUser | None = None,
    reason: str = "",
) -> ApprovalDelegation:
    """Hand one's approvals to a colleague for a period; administrators may set it for anyone."""
    from_user = from_user or by
    if from_user.pk != by.pk and not roles.has_role(by, roles.ADMIN):
        raise NotAllowed("You can only delegate your own approvals.")
    if not roles.has_role(from_user, *DELEGATE_ROLES):
        raise NotAllowed("Only approvers and finance leaders have approvals to delegate.")
    if to_user.pk == from_user.pk:
        raise DomainError("Choose someone other than yourself to stand in.")
    if not to_user.is_active or not roles.has_role(to_user, *DELEGATE_ROLES):
        raise DomainError(f"{_name(to_user)} is not an approver and cannot stand in.")
    if end_date < start_date:
        raise DomainError("The last day is before the first day.")
    if end_date < timezone.localdate():
        raise DomainError("The period is already over.")
    with transaction.atomic():
        overlapping = (
            ApprovalDelegation.objects.select_for_update()
            .filter(
                from_user=from_user,
                cancelled_at__isnull=True,
                start_date__lte=end_date,
                end_date__gte=start_date,
            )
            .first()
        )
        if overlapping is not None:
            raise DomainError(
                f"{_name(overlapping.to_user)} already stands in from "
                f"{overlapping.start_date:%d %b %Y} to {overlapping.end_date:%d %b %Y}; "
                "cancel that delegation first."
            )
        delegation = ApprovalDelegation.objects.create(
            from_user=from_user,
            to_user=to_user,
            start_date=start_date,
            end_date=end_date,
            reason=reason.strip()[:200],
            created_by=by,
        )
        audit_record(
            obj=delegation,
            action="created",
            by=by,
            changes={
                "from": from_user.get_username(),
                "to": to_user.get_username(),
                "start": start_date,
                "end": end_date,
            },
        )
    return delegation


def delegation_cancel(*, delegation: ApprovalDelegation, by: AbstractBaseUser) -> None:
    """End a delegation early (the person is back)."""
    with transaction.atomic():
        delegation = ApprovalDelegation.objects.select_for_update().get(pk=delegation.pk)
        if delegation.from_user_id != by.pk and not roles.has_role(by, roles.ADMIN):
            raise NotAllowed("Only the person who delegated can cancel it.")
        if delegation.cancelled_at is not None:
            raise DomainError("This delegation is already cancelled.")
        delegation.cancelled_at = timezone.now()
        delegation.save(update_fields=["cancelled_at"])
        audit_record(obj=delegation, action="cancelled", by=by)


# ---------- rules and budgets (kept by finance) ----------


def approval_rule_save(
    *,
    by: AbstractBaseUser,
    name: str,
    step: int,
    min_amount: Decimal,
    max_amount: Decimal | None = None,
    cost_center: CostCenter | None = None,
    department: str = "",
    category: str = "",
    approver_group: Group | None = None,
    approver_user: AbstractBaseUser | None = None,
    active: bool = True,
    rule: ApprovalRule | None = None,
) -> ApprovalRule:
    """Create or change an approval rule (finance leaders and administrators)."""
    roles.require_role(by, roles.FINANCE_LEADER, roles.ADMIN)
    if not name.strip():
        raise DomainError("Give the rule a name.")
    if step < 1:
        raise DomainError("Steps are numbered from 1.")
    min_amount = round_money(parse_decimal(min_amount, "The lower bound"))
    if min_amount < 0:
        raise DomainError("The lower bound cannot be negative.")
    if max_amount is not None:
        max_amount = round_money(parse_decimal(max_amount, "The upper bound"))
        if max_amount <= min_amount:
            raise DomainError("The upper bound must be above the lower bound.")
    if approver_group is None and approver_user is None:
        raise DomainError("Name an approver: a group, a person, or both.")
    if approver_user is not None and not approver_user.is_active:
        raise DomainError(f"{_name(approver_user)} is no longer active.")
    if category and category not in Category.values:
        raise DomainError("Choose a category from the list.")
    values = {
        "name": name.strip()[:100],
        "step": step,
        "min_amount": min_amount,
        "max_amount": max_amount,
        "cost_center": cost_center,
        "department": department.strip()[:100],
        "category": category,
        "approver_group": approver_group,
        "approver_user": approver_user,
        "active": active,
    }
    with transaction.atomic():
        if rule is None:
            rule = ApprovalRule.objects.create(**values)
            audit_record(obj=rule, action="created", by=by, changes=values)
        else:
            rule = ApprovalRule.objects.select_for_update().get(pk=rule.pk)
            changes = {
                key: f"{getattr(rule, key) if getattr(rule, key) not in (None, '') else '—'} → "
                f"{value if value not in (None, '') else '—'}"
                for key, value in values.items()
                if getattr(rule, key) != value
            }
            for key, value in values.items():
                setattr(rule, key, value)
            rule.save()
            audit_record(obj=rule, action="edited", by=by, changes=changes)
    return rule


def budget_set(
    *,
    by: AbstractBaseUser,
    cost_center: CostCenter,
    period_start: dt.date,
    period_end: dt.date,
    amount: Decimal,
    currency: str = "EUR",
    gl_account: GLAccount | None = None,
    overrun_policy: str = Budget.Overrun.APPROVE,
    note: str = "",
    budget: Budget | None = None,
) -> Budget:
    """Create or change a budget for a cost center (optionally one GL account) and period."""
    roles.require_role(by, roles.FINANCE_LEADER, roles.ADMIN)
    currency = _check_currency(currency)
    amount = round_money(parse_decimal(amount, "The budget"), currency)
    if amount < 0:
        raise DomainError("A budget cannot be negative.")
    if period_end < period_start:
        raise DomainError("The period ends before it starts.")
    if overrun_policy not in Budget.Overrun.values:
        raise DomainError("Choose what happens when a request goes over budget.")
    with transaction.atomic():
        overlapping = (
            Budget.objects.select_for_update(of=("self",))
            .filter(
                cost_center=cost_center,
                gl_account=gl_account,
                period_start__lte=period_end,
                period_end__gte=period_start,
            )
            .order_by("pk")
        )
        if budget is not None:
            overlapping = overlapping.exclude(pk=budget.pk)
        clash = overlapping.first()
        if clash is not None:
            raise DomainError(
                f"{clash} already covers part of this period; change that budget instead."
            )
        values = {
            "cost_center": cost_center,
            "gl_account": gl_account,
            "period_start": period_start,
            "period_end": period_end,
            "amount": amount,
            "currency": currency,
            "overrun_policy": overrun_policy,
            "note": note.strip()[:200],
        }
        if budget is None:
            budget = Budget.objects.create(updated_by=by, **values)
            audit_record(obj=budget, action="created", by=by, changes=values)
        else:
            budget = Budget.objects.select_for_update().get(pk=budget.pk)
            changes = {
                key: f"{getattr(budget, key)} → {value}"
                for key, value in values.items()
                if getattr(budget, key) != value
            }
            for key, value in values.items():
                setattr(budget, key, value)
            budget.updated_by = by
            budget.save()
            audit_record(obj=budget, action="edited", by=by, changes=changes)
    return budget


# ---------- purchase orders ----------


def po_create_from_requests(
    *,
    selections: list[OrderSelection],
    by: AbstractBaseUser,
    payment_terms: PaymentTerms | None = None,
    ship_to: str = "",
) -> list[PurchaseOrder]:
    """Turn approved requests into draft POs, one per vendor, copying lines and coding."""
    roles.require_role(by, roles.BUYER)
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
            po_lines = []
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
                action="created",
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
    by: AbstractBaseUser,
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


def _lock_po(po: PurchaseOrder) -> PurchaseOrder:
    return PurchaseOrder.objects.select_for_update().select_related("vendor").get(pk=po.pk)


def po_update_draft(
    *,
    po: PurchaseOrder,
    by: AbstractBaseUser,
    lines: list[PoLineEdit],
    payment_terms: PaymentTerms | None = None,
    ship_to: str = "",
) -> PurchaseOrder:
    """Edit a draft PO: terms (None = the vendor's default), ship-to, and each line's
    quantity, price, coding and match type; lines may be removed, not added."""
    roles.require_role(by, roles.BUYER)
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
            audit_record(obj=po, action="edited", by=by, changes=diff)
    return po


def _po_route(po: PurchaseOrder, amount: Decimal) -> list[ApprovalRule]:
    request = po.request
    if request is None:
        raise DomainError(f"{po.number} has no request to route its re-approval through.")
    rules = route_rules(cost_center=request.cost_center, category=request.category, amount=amount)
    if not rules:
        raise DomainError("No approval rule covers this amount; ask an administrator to add one.")
    return rules


def _start_po_round(
    po: PurchaseOrder,
    *,
    by: AbstractBaseUser,
    amount: Decimal,
    reason: str,
    revision: PurchaseOrderRevision | None = None,
) -> None:
    steps = _plan_steps(
        _po_route(po, amount),
        requester_id=po.request.requester_id,
        request_id=po.request_id,
        purchase_order=po,
        revision=revision,
        kind=ApprovalStep.Kind.PO_CHANGE,
        amount=amount,
        raised_by=by,
    )
    for step in steps:
        step.reason = step.reason or reason
    steps = ApprovalStep.objects.bulk_create(steps)
    po.awaiting_reapproval = True
    po.save(update_fields=["awaiting_reapproval"])
    first_id = steps[0].pk
    transaction.on_commit(lambda: _notify_approvers(first_id))


def po_request_reapproval(*, po: PurchaseOrder, by: AbstractBaseUser) -> PurchaseOrder:
    """Send a draft PO whose total is above what was approved back to the approvers."""
    roles.require_role(by, roles.BUYER)
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
        audit_record(obj=po, action="re-approval requested", by=by, note=reason)
    return po


def _po_round_approved(po: PurchaseOrder, step: ApprovalStep, by: AbstractBaseUser) -> None:
    if step.revision_id:
        revision = PurchaseOrderRevision.objects.select_for_update().get(pk=step.revision_id)
        _apply_change(po, revision=revision, by=by)
    po.approved_amount = max(po.approved_amount, step.amount)
    po.awaiting_reapproval = False
    po.save(update_fields=["approved_amount", "awaiting_reapproval"])
    audit_record(
        obj=po,
        action="re-approved",
        by=by,
        changes={"approved amount": po.approved_amount},
    )
    transaction.on_commit(lambda: _notify_buyer(po.pk, "the change is approved"))


def _po_round_declined(
    po: PurchaseOrder, step: ApprovalStep, by: AbstractBaseUser, comment: str
) -> None:
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
    audit_record(obj=po, action="re-approval declined", by=by, note=comment)
    transaction.on_commit(lambda: _notify_buyer(po.pk, f"the change was not approved: {comment}"))


def _snapshot(po: PurchaseOrder, lines: list[PurchaseOrderLine]) -> dict:
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
                "gl_account": line.gl_account.code if line.gl_account_id else "",
                "cost_center": line.cost_center.code if line.cost_center_id else "",
                "match_type": line.match_type,
            }
            for line in sorted(lines, key=lambda line: line.line_no)
        ],
    }


def po_issue(
    *,
    po: PurchaseOrder,
    by: AbstractBaseUser,
    confirm_contract_prices: bool = False,
    send_to_vendor: bool = False,
) -> PurchaseOrder:
    """Issue a draft PO to its vendor; from here it is read-only and AP matches against it.

    Refused with incomplete or closed coding, to a vendor that is not active, above the
    approved amount without re-approval, or — unless confirmed — with prices that differ
    from the contract in force.
    """
    roles.require_role(by, roles.BUYER)
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
    from procurement.tasks import send_purchase_order

    send_purchase_order.delay(po_id, user_id)


def po_send(
    *, po: PurchaseOrder, by: AbstractBaseUser, recipients: list[str] | None = None
) -> PurchaseOrder:
    """Email the PO document (PDF attached) to the vendor, or to the given addresses."""
    from procurement import documents

    roles.require_role(by, roles.BUYER)
    po = PurchaseOrder.objects.select_related("vendor", "buyer", "payment_terms").get(pk=po.pk)
    if po.status not in (*PurchaseOrder.OPEN_STATUSES, PurchaseOrder.Status.CLOSED):
        raise DomainError(
            f"{po.number} is {po.get_status_display().lower()}; only issued orders are sent."
        )
    recipients = [r.strip() for r in (recipients or [po.vendor.email]) if r and r.strip()]
    if not recipients:
        raise DomainError(
            f"{po.vendor.name} has no email address; add one to the vendor or enter an address."
        )
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError:
            raise DomainError(f"'{address}' is not an email address.") from None
    document = selectors.po_document(po.pk)
    message = EmailMessage(
        subject=f"Purchase order {po.number}"
        + (f" (revision {po.revision})" if po.revision else ""),
        body=(
            f"Dear {po.vendor.name},\n\nPlease find attached purchase order {po.number} "
            f"for {_money(po.total_amount, po.currency)}. Quote the PO number and line "
            f"numbers on your invoice.\n\nKind regards,\n{_name(po.buyer)}"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[po.buyer.email] if po.buyer.email else None,
    )
    message.attach(f"{po.number}.pdf", documents.render_po_pdf(document), "application/pdf")
    try:
        message.send(fail_silently=False)
    except (smtplib.SMTPException, OSError) as exc:
        raise DomainError(f"The email could not be sent: {exc}") from None
    with transaction.atomic():
        po = PurchaseOrder.objects.select_for_update().get(pk=po.pk)
        po.sent_at = timezone.now()
        po.save(update_fields=["sent_at"])
        audit_record(
            obj=po,
            action="sent to vendor",
            by=by,
            changes={"to": ", ".join(recipients), "revision": po.revision},
        )
    return po


def _reconcile_receiving_status(po: PurchaseOrder, by: AbstractBaseUser, note: str) -> None:
    if po.status not in PurchaseOrder.RECEIVABLE_STATUSES:
        return
    lines = po.lines.all()
    fully = not lines.filter(received_qty__lt=F("quantity")).exists()
    some = lines.filter(received_qty__gt=0).exists()
    if fully:
        target = PurchaseOrder.Status.RECEIVED
    elif some:
        target = PurchaseOrder.Status.PARTIALLY_RECEIVED
    else:
        target = po.status if po.status == PurchaseOrder.Status.ISSUED else None
    if target and target != po.status and target in po.TRANSITIONS.get(po.status, ()):
        transition(po, target, by=by, note=note)


def _apply_change(
    po: PurchaseOrder, *, revision: PurchaseOrderRevision, by: AbstractBaseUser
) -> None:
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
        revision.status = PurchaseOrderRevision.Status.APPLIED
        revision.save()
    audit_record(
        obj=po,
        action="revised",
        by=by,
        note=revision.reason,
        changes={"revision": po.revision, "total": format_money(po.total_amount, po.currency)},
    )
    _reconcile_receiving_status(po, by, note=f"Revision {po.revision}")
    po_id = po.pk
    transaction.on_commit(lambda: _rematch_po(po_id))


def po_revise(
    *, po: PurchaseOrder, by: AbstractBaseUser, lines: list[PoLineChange], reason: str
) -> PurchaseOrder:
    """Change order on an issued PO: new quantities and/or prices on existing lines.

    Creates a new revision (the old ones stay readable), keeps line ids, and re-matches
    the PO's waiting invoices after commit. When the new total is above the approved
    amount the change waits for re-approval and the lines change only once approved.
    """
    roles.require_role(by, roles.BUYER)
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
        changes = []
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
        revision = PurchaseOrderRevision(
            purchase_order=po,
            reason=reason.strip(),
            changes=changes,
            total_amount=new_total,
            created_by=by,
        )
        if new_total > po.approved_amount:
            revision.status = PurchaseOrderRevision.Status.PENDING_APPROVAL
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
                obj=po, action="change order submitted", by=by, note=f"{reason.strip()}\n{why}"
            )
        else:
            _apply_change(po, revision=revision, by=by)
    return po


def po_close(*, po: PurchaseOrder, by: AbstractBaseUser, reason: str = "") -> PurchaseOrder:
    """Close an issued PO: nothing more is expected, and its open commitment is released."""
    roles.require_role(by, roles.BUYER)
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


def po_cancel(*, po: PurchaseOrder, by: AbstractBaseUser, reason: str) -> PurchaseOrder:
    """Cancel a draft, or an issued PO nothing was received or invoiced on; its requests
    go back to the buyers to order again, and its commitment is released."""
    from payables.models.invoices import Invoice

    roles.require_role(by, roles.BUYER)
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
        live = po.invoices.exclude(status=Invoice.Status.REJECTED)
        if live.exists():
            raise DomainError(f"{po.number} has invoices; close it instead.")
        ApprovalStep.objects.filter(
            purchase_order=po,
            status__in=[ApprovalStep.Status.WAITING, ApprovalStep.Status.PENDING],
        ).update(status=ApprovalStep.Status.CANCELLED)
        po.revisions.filter(status=PurchaseOrderRevision.Status.PENDING_APPROVAL).update(
            status=PurchaseOrderRevision.Status.REJECTED, decided_at=timezone.now()
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


# ---------- receipts ----------


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
            and not po.requests.filter(requester=by).exists()
            and not (po.request_id and po.request.requester_id == by.pk)
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
            action="created",
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
        transaction.on_commit(lambda: _rematch_po(po_id))
    return receipt


def _rematch_po(po_id: int) -> None:
    from payables.tasks import enqueue_match_for_po

    enqueue_match_for_po(po_id)
