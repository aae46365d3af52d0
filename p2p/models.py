"""The audit trail: one append-only store for every document's life.

The database refuses UPDATE and DELETE on this table (a trigger created by migration
0002), so the trail holds even against code that bypasses the services.
"""

from django.conf import settings
from django.db import models


class AuditAction(models.TextChoices):
    """What happened to a document; segregation-of-duties checks read these back.

    The table is append-only (a trigger refuses UPDATE), so a value once written can never be
    renamed: every member keeps the exact string already stored, spaces and all. Values no
    longer written stay listed so old rows still read with a label.
    """

    # Every document
    CREATED = "created", "Created"
    UPDATED = "updated", "Updated"
    EDITED = "edited", "Edited"
    STATUS = "status", "Status changed"
    CANCELLED = "cancelled", "Cancelled"
    # Attachments. Requests wrote "attached" until every document used one word; the trail
    # keeps those rows (they cannot be rewritten), so the old value stays listed. Nothing
    # reads it back: a reader that ever looks for added attachments must match both.
    ATTACHMENT_ADDED = "attachment_added", "Attachment added"
    ATTACHED = "attached", "Attachment added (before attachment_added)"
    ATTACHMENT_REMOVED = "attachment removed", "Attachment removed"
    # Purchase requests and orders
    REROUTED = "rerouted", "Re-routed"
    SENT_TO_VENDOR = "sent to vendor", "Sent to vendor"
    REAPPROVAL_REQUESTED = "re-approval requested", "Re-approval requested"
    REAPPROVED = "re-approved", "Re-approved"
    REAPPROVAL_DECLINED = "re-approval declined", "Re-approval declined"
    CHANGE_ORDER_SUBMITTED = "change order submitted", "Change order submitted"
    PO_CHANGE_SUBMITTED = "po change submitted", "PO change submitted"
    REVISED = "revised", "Revised"
    # Invoice exceptions
    CLAIMED = "claimed", "Claimed"
    RELEASED = "released", "Released"
    COMMENTED = "commented", "Commented"
    RECODED = "recoded", "Re-coded"
    # Payments
    PAYMENT_HOLD = "payment_hold", "Payment held"
    PAYMENT_HOLD_RELEASED = "payment_hold_released", "Payment hold released"
    INVOICE_ADDED = "invoice_added", "Invoice added to run"
    INVOICE_REMOVED = "invoice_removed", "Invoice removed from run"
    BANK_FILE_REPLACED = "bank_file_replaced", "Bank file replaced"
    BANK_CONFIRMED = "bank_confirmed", "Bank answer recorded"
    PAYMENT_VOIDED = "payment_voided", "Payment voided"
    REMITTANCE_SENT = "remittance_sent", "Remittance advice sent"
    # Retired: written by earlier versions of the payment run, kept for their rows.
    EXPORTED_AGAIN = "exported_again", "Bank file exported again"
    TRANSFER_VOIDED = "transfer_voided", "Transfer voided"
    # Metrics
    TARGET_SET = "target_set", "Target set"
    TARGET_REMOVED = "target_removed", "Target removed"
    ACTIONS_SAVED = "actions_saved", "Actions saved"
    REPORT_EMAILED = "report_emailed", "Report emailed"
    # Exchange rates entered by hand
    RATE_ENTERED = "rate_entered", "Exchange rate entered"
    RATE_CHANGED = "rate_changed", "Exchange rate changed"
    # Accounts
    API_TOKEN_ISSUED = "api_token_issued", "API token issued"
    API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"
    API_TOKENS_REVOKED = "api_tokens_revoked", "API tokens revoked"
    MFA_ENROLLED = "mfa_enrolled", "Two-factor enrolled"
    MFA_REMOVED = "mfa_removed", "Two-factor removed"
    # The Django admin
    ADMIN_ADDED = "admin_added", "Added in the admin"
    ADMIN_CHANGED = "admin_changed", "Changed in the admin"
    ADMIN_DELETED = "admin_deleted", "Deleted in the admin"


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
    action = models.CharField(max_length=40, choices=AuditAction.choices)
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
