"""The audit trail: one append-only store for every document's life.

The database refuses UPDATE and DELETE on this table (a trigger created by migration
0002), so the trail holds even against code that bypasses the services.
"""

from django.conf import settings
from django.db import models


class AuditEventQuerySet(models.QuerySet):
    def for_object(self, obj: models.Model) -> "AuditEventQuerySet":
        """Events of one document: ids alone repeat across tables, the type tells them apart."""
        return self.filter(object_type=obj._meta.label_lower, object_id=obj.pk)

    def for_objects(self, refs: list[tuple[str, int]]) -> "AuditEventQuerySet":
        """Events of several documents, e.g. everything around one purchase order."""
        condition = models.Q(pk__in=[])
        by_type: dict[str, list[int]] = {}
        for object_type, object_id in refs:
            by_type.setdefault(object_type, []).append(object_id)
        for object_type, ids in by_type.items():
            condition |= models.Q(object_type=object_type, object_id__in=ids)
        return self.filter(condition).select_related("actor").order_by("at", "id")


class AuditEvent(models.Model):
    """Who did what to which document, when, and what changed."""

    at = models.DateTimeField(auto_now_add=True)
    # No database-level key: it would queue a deferred check for every row, and the engines
    # write most of the trail (a row per matched invoice) with no actor at all. The id is
    # always the signed-in user's; Django still refuses to delete a user with a trail
    # (PROTECT, through audit_actor_idx), and actor_name keeps the name regardless.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    # Kept as text too: the trail must read the same if a user is later renamed.
    actor_name = models.CharField(max_length=150, blank=True)
    object_type = models.CharField(max_length=60)
    object_id = models.BigIntegerField()
    object_repr = models.CharField(max_length=200)
    action = models.CharField(max_length=40)
    from_status = models.CharField(max_length=30, blank=True)
    to_status = models.CharField(max_length=30, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    note = models.TextField(blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["object_type", "object_id", "at"]),
            models.Index(fields=["at"], name="audit_at_idx"),
            # Most of the trail is written by the engines with no actor; only people's
            # entries are looked up by actor, so the others stay out of this index.
            models.Index(
                fields=["actor"], name="audit_actor_idx", condition=models.Q(actor__isnull=False)
            ),
        ]
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action} {self.object_repr}"
