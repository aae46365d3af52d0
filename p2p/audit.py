"""Writing the audit trail and moving documents through their states."""

import json
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any, ClassVar, Protocol, cast

from django.contrib.auth.models import User
from django.db import connection, models
from django.utils import timezone

from p2p.exceptions import InvalidTransition
from p2p.models import AuditAction, AuditEvent


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


def _actor(by: User | None) -> tuple[User | None, str]:
    """Who the trail names: the signed-in user, or "system" for workers and sweeps."""
    if by is not None and by.is_authenticated:
        return by, by.get_username()
    return None, "system"


def _jsonable_changes(changes: dict[str, Any] | None) -> dict[str, Any]:
    return {k: _jsonable(v) for k, v in (changes or {}).items()}


def object_type_of(obj: models.Model | type[models.Model]) -> str:
    return obj._meta.label_lower


def audit_record(
    *,
    obj: models.Model,
    action: AuditAction,
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
    action: AuditAction,
    by: User | None,
    changes: dict[str, Any] | None = None,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
) -> AuditEvent:
    """One unsaved event, for services that write the trail of many documents with audit_bulk."""
    actor, actor_name = _actor(by)
    return AuditEvent(
        actor=actor,
        actor_name=actor_name,
        object_type=object_type_of(obj),
        object_id=obj.pk,
        object_repr=str(obj)[:200],
        action=action,
        from_status=from_status,
        to_status=to_status,
        changes=_jsonable_changes(changes),
        note=note,
    )


def audit_bulk(events: Iterable[AuditEvent]) -> None:
    """Append many events at once, for documents created in bulk (imports); status changes
    of many rows go through transition_many instead."""
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
    _check_transition(document, from_status, to_status, subject=f"This {obj._meta.verbose_name}")
    document.status = to_status
    obj.save(update_fields=["status", *extra_fields])
    audit_record(
        obj=obj,
        action=AuditAction.STATUS,
        by=by,
        from_status=from_status,
        to_status=to_status,
        note=note,
        changes=changes,
    )


def _check_transition(
    document: StatusDocument, from_status: str, to_status: str, *, subject: str
) -> None:
    """Refuse a move the document's TRANSITIONS table does not list, in the words people read."""
    if to_status in document.TRANSITIONS.get(from_status, ()):
        return
    labels = dict(document.Status.choices)
    raise InvalidTransition(
        f"{subject} is {labels[from_status].lower()} and cannot move to "
        f"'{labels[to_status].lower()}'."
    )


# One statement moves the rows and writes their trail, so neither happens without the other
# and the trail costs no round trip per row. The status guard in WHERE is a second line
# behind the checks made under the lock.
_TRANSITION_MANY = """
WITH moved AS (
    UPDATE {table} AS t SET {assignments}
    FROM unnest(%(ids)s::bigint[], %(from_statuses)s::text[], %(reprs)s::text[])
         AS m(id, from_status, object_repr)
    WHERE t.{pk} = m.id AND t.{status} = m.from_status
    RETURNING m.id, m.from_status, m.object_repr
)
INSERT INTO p2p_auditevent (at, actor_id, actor_name, object_type, object_id, object_repr,
                            action, from_status, to_status, changes, note)
SELECT %(at)s, %(actor_id)s, %(actor_name)s, %(object_type)s, id, object_repr,
       %(action)s, from_status, %(to_status)s, %(changes)s::jsonb, %(note)s
FROM moved
ORDER BY id
RETURNING object_id
"""


def transition_many(
    documents: models.QuerySet,
    to_status: str,
    *,
    by: User | None,
    note: str = "",
    changes: dict[str, Any] | None = None,
    values: Mapping[str, Any] | None = None,
) -> list[int]:
    """Move every document of the queryset to `to_status`, set-based, and audit each one.

    The rows are locked in primary-key order and each one's move is checked against the
    model's TRANSITIONS table first: one illegal move refuses them all, before anything is
    written. Then a single statement updates the rows (with any other `values`, by field
    name) and appends one audit event per row. Returns the ids moved, in order. Pass a
    queryset with select_related for whatever the model's __str__ reads, and lock it yourself
    (e.g. skip_locked) if the default FOR UPDATE OF the documents does not fit.
    """
    model = documents.model
    if not documents.query.select_for_update:
        # Only the documents: a select_related for __str__ must not lock the rows it reads.
        documents = documents.select_for_update(of=("self",))
    locked = documents.order_by("pk")
    # A queryset over a join may name a row twice; FOR UPDATE refuses DISTINCT.
    rows = list({row.pk: row for row in locked}.values())
    if not rows:
        return []
    for row in rows:
        document = cast(StatusDocument, row)
        subject = f"{model._meta.verbose_name.capitalize()} {row}"
        _check_transition(document, document.status, to_status, subject=subject)
    meta = model._meta
    fields = {"status": to_status, **(values or {})}
    assignments = []
    params: dict[str, Any] = {}
    for index, (name, value) in enumerate(fields.items()):
        field = meta.get_field(name)
        if isinstance(value, models.Model):
            value = value.pk
        params[f"v{index}"] = field.get_db_prep_save(value, connection)
        assignments.append(f"{connection.ops.quote_name(field.column)} = %(v{index})s")
    actor, actor_name = _actor(by)
    params.update(
        ids=[row.pk for row in rows],
        from_statuses=[cast(StatusDocument, row).status for row in rows],
        reprs=[str(row)[:200] for row in rows],
        at=timezone.now(),
        actor_id=actor.pk if actor is not None else None,
        actor_name=actor_name,
        object_type=object_type_of(model),
        action=AuditAction.STATUS.value,
        to_status=to_status,
        changes=json.dumps(_jsonable_changes(changes)),
        note=note,
    )
    sql = _TRANSITION_MANY.format(
        table=connection.ops.quote_name(meta.db_table),
        pk=connection.ops.quote_name(meta.pk.column),
        status=connection.ops.quote_name(meta.get_field("status").column),
        assignments=", ".join(assignments),
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [object_id for (object_id,) in cursor.fetchall()]
