"""Quotes and specs attached to a purchase request: what files are accepted, who may add or
remove them and when."""

from django.contrib.auth.models import User
from django.core.files.storage import Storage
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError, NotAllowed
from p2p.models import AuditAction
from p2p.roles import Perm
from procurement.models import PurchaseRequest, RequestAttachment

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


def _check_upload(upload: UploadedFile) -> tuple[str, str, int]:
    """The safe display name, content type and size of an upload, or a clerk-readable refusal."""
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
    return safe_name, ATTACHMENT_TYPES[suffix], upload.size


def _attach(
    request: PurchaseRequest,
    by: User,
    uploads: list[UploadedFile],
    stored: list[tuple[Storage, str]],
) -> list[RequestAttachment]:
    """Save uploads on `request`; `stored` collects the files written, for cleanup on failure."""
    checked = [(upload, *_check_upload(upload)) for upload in uploads]
    existing = request.attachments.current().count()
    if existing + len(checked) > ATTACHMENT_MAX_COUNT:
        raise DomainError(f"A request holds at most {ATTACHMENT_MAX_COUNT} attachments.")
    saved = []
    for upload, safe_name, content_type, size in checked:
        attachment = RequestAttachment(
            request=request,
            original_name=safe_name,
            content_type=content_type,
            size=size,
            uploaded_by=by,
        )
        attachment.file.save(safe_name, upload, save=False)
        stored.append((attachment.file.storage, attachment.file.name))
        attachment.save()
        saved.append(attachment)
    return saved


def _discard(stored: list[tuple[Storage, str]]) -> None:
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


def can_change_attachments(request: PurchaseRequest, user: User) -> bool:
    """Whether the user may attach files to the request, or remove them, now."""
    if request.requester_id == user.pk and request.status in PurchaseRequest.EDITABLE_STATUSES:
        return True
    return request.status in BUYER_ATTACHMENT_STATUSES and roles.may(user, Perm.MANAGE_ORDERS)


def _check_may_change_attachments(request: PurchaseRequest, by: User) -> None:
    if not can_change_attachments(request, by):
        raise NotAllowed(
            f"{request.number} is {request.get_status_display().lower()}; "
            "you cannot change its attachments now."
        )


def request_attachment_add(
    *, request: PurchaseRequest, by: User, uploads: list[UploadedFile]
) -> list[RequestAttachment]:
    """Attach quotes or specs to a request: its requester until it is decided, or a buyer
    while it is in approval, approved or ordered."""
    if not uploads:
        raise DomainError("Choose a file to attach.")
    stored: list[tuple[Storage, str]] = []
    try:
        with transaction.atomic():
            request = PurchaseRequest.objects.select_for_update().get(pk=request.pk)
            _check_may_change_attachments(request, by)
            saved = _attach(request, by, uploads, stored)
            audit_record(
                obj=request,
                action=AuditAction.ATTACHMENT_ADDED,
                by=by,
                changes={"files": ", ".join(a.original_name for a in saved)},
            )
    except BaseException:
        _discard(stored)
        raise
    return saved


def request_attachment_remove(
    *, attachment: RequestAttachment, by: User, reason: str
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
            action=AuditAction.ATTACHMENT_REMOVED,
            by=by,
            changes={"file": attachment.original_name},
            note=attachment.removal_reason,
        )
    return attachment
