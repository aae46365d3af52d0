"""Writing the audit trail and moving documents through their states."""

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Protocol, cast

from django.contrib.auth.models import User
from django.db import models

from p2p.exceptions import InvalidTransition
from p2p.models import AuditEvent


class StatusDocument(Protocol):
    """What transition() reads from a document model besides the Model API: each declares a
    status field, its Status choices and the TRANSITIONS table, without a common base class."""

    status: str
    Status: ClassVar[type[models.TextChoices]]
    TRANSITIONS: ClassVar[Mapping[str, Iterable[str]]]

    def get_status_display(self) -> str: ...


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def object_type_of(obj: models.Model) -> str:
    return obj._meta.label_lower


def audit_record(
    *,
    obj: models.Model,
    action: str,
    by: User | None,
    changes: dict[str, Any] | None = None,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
) -> AuditEvent:
    """Append one event to the trail; called by every service that creates or changes a document."""
    event = audit_event(
        obj=obj,
        action=action,
        by=by,
        changes=changes,
        from_status=from_status,
        to_status=to_status,
        note=note,
    )
    event.save()
    return event


def audit_event(
    *,
    obj: models.Model,
    action: str,
    by: User | None,
    changes: dict[str, Any] | None = None,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
) -> AuditEvent:
    """One unsaved event, for services that write the trail of many documents with audit_bulk."""
    return AuditEvent(
        actor=by if by is not None and by.is_authenticated else None,
        actor_name=by.get_username() if by is not None and by.is_authenticated else "system",
        object_type=object_type_of(obj),
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        action=action,
        from_status=from_status,
        to_status=to_status,
        changes={k: _jsonable(v) for k, v in (changes or {}).items()},
        note=note,
    )


def audit_bulk(events: Iterable[AuditEvent]) -> None:
    """Append many system events at once (set-based matching, payment runs)."""
    AuditEvent.objects.bulk_create(list(events), batch_size=2000)


def transition(
    obj: models.Model,
    to_status: str,
    *,
    by: User | None,
    note: str = "",
    extra_fields: Iterable[str] = (),
    changes: dict[str, Any] | None = None,
) -> None:
    """Move a document to `to_status` if its TRANSITIONS table allows it, save and audit."""
    document = cast(StatusDocument, obj)
    from_status = document.status
    allowed = document.TRANSITIONS.get(from_status, ())
    if to_status not in allowed:
        label = obj._meta.verbose_name
        raise InvalidTransition(
            f"This {label} is {document.get_status_display().lower()} and cannot move to "
            f"'{dict(document.Status.choices)[to_status].lower()}'."
        )
    document.status = to_status
    obj.save(update_fields=["status", *extra_fields])
    audit_record(
        obj=obj,
        action="status",
        by=by,
        from_status=from_status,
        to_status=to_status,
        note=note,
        changes=changes,
    )
