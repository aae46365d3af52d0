"""Import batches: a set of uploaded files captured in the background."""

from django.conf import settings
from django.db import models


class ImportBatchStatus(models.TextChoices):
    """ImportBatch.Status; defined outside the model so its Meta constraints can name the values."""

    QUEUED = "queued", "Waiting to start"
    RUNNING = "running", "Importing"
    DONE = "done", "Done"
    FAILED = "failed", "Stopped"


class ImportBatch(models.Model):
    """One browser upload of e-invoice and CSV files, imported by a Celery task.

    The task reports progress on this row while it works; `report` then holds, in file order,
    the outcome of the first REPORT_ENTRIES_KEPT imported and rejected invoices (or files that
    yielded none): a file of 100,000 invoices is counted whole but listed in part.
    """

    Status = ImportBatchStatus

    TRANSITIONS = {
        Status.QUEUED: (Status.RUNNING, Status.FAILED),
        Status.RUNNING: (Status.DONE, Status.FAILED),
    }

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    # Import the valid invoices of a file and report the rest, instead of all-or-nothing.
    valid_only = models.BooleanField(default=False)
    # Check everything, write nothing (the command line's --dry-run).
    dry_run = models.BooleanField(default=False)
    # The CSVs' decimal mark as the clerk chose it ("point" or "comma"); empty: read from the file.
    decimal_mark = models.CharField(max_length=5, blank=True)
    # [{"name", "size", "path" (in private storage, until imported), "error" (refused on upload)}]
    files = models.JSONField(default=list)
    files_total = models.PositiveIntegerField(default=0)
    files_done = models.PositiveIntegerField(default=0)
    current_file = models.CharField(max_length=255, blank=True)
    # Invoices written so far inside the current CSV (its own transaction, so counted apart).
    current_done = models.PositiveIntegerField(default=0)
    current_total = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    rejected_count = models.PositiveIntegerField(default=0)
    # Of imported_count, how many were credit notes (as stored: a negative invoice is one).
    credit_note_count = models.PositiveIntegerField(default=0)
    report = models.JSONField(default=list)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "import batches"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=ImportBatchStatus.values),
                name="import_batch_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Import #{self.pk}"

    @property
    def percent_done(self) -> int:
        """Share of the work done, counting progress inside the current CSV."""
        if self.status in (self.Status.DONE, self.Status.FAILED):
            return 100
        if not self.files_total:
            return 0
        within = self.current_done / self.current_total if self.current_total else 0
        return min(99, int(100 * (self.files_done + within) / self.files_total))
