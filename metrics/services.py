"""Metrics state changes: KPI targets and the weekly sync's agreed actions, both audited."""

import datetime as dt
import smtplib
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.utils import timezone

from metrics import kpis
from metrics.models import KpiTarget, WeeklySyncNote
from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.roles import Perm

ACTIONS_MAX_LENGTH = 10_000
_TARGET_LIMITS = {
    "rate": (Decimal("0"), Decimal("100")),
    "days": (Decimal("0"), Decimal("365")),
    "count": (Decimal("0"), Decimal("1000000")),
}


def kpi_target_set(*, kpi: str, target: Decimal | None, by: User) -> KpiTarget | None:
    """Set (or, with None, remove) the target of a headline KPI; returns the target row."""
    roles.require(by, Perm.SET_TARGETS)
    if kpi not in {k.key for k in kpis.HEADLINE}:
        raise DomainError("Targets can be set for the headline KPIs only.")
    definition = kpis.BY_KEY[kpi]
    if target is not None:
        target = target.quantize(Decimal("0.01"))
        low, high = _TARGET_LIMITS[definition.unit]
        if not low <= target <= high:
            unit = "%" if definition.unit == "rate" else f" {definition.target_unit}"
            raise DomainError(
                f"The target for {definition.label.lower()} must lie between "
                f"{low:,.0f}{unit} and {high:,.0f}{unit}."
            )
        if definition.unit == "count" and target != target.to_integral():
            raise DomainError(f"The target for {definition.label.lower()} is a whole number.")
    with transaction.atomic():
        existing = KpiTarget.objects.select_for_update().filter(kpi=kpi).first()
        before = existing.target if existing else None
        if target is None:
            if existing is None:
                return None
            audit_record(
                obj=existing,
                action=AuditAction.TARGET_REMOVED,
                by=by,
                changes={"kpi": kpi, "from": before},
            )
            existing.delete()
            return None
        if existing is None:
            existing = KpiTarget.objects.create(
                kpi=kpi, target=target, set_by=by, set_at=timezone.now()
            )
        else:
            existing.target, existing.set_by, existing.set_at = target, by, timezone.now()
            existing.save(update_fields=["target", "set_by", "set_at"])
        audit_record(
            obj=existing,
            action=AuditAction.TARGET_SET,
            by=by,
            changes={"kpi": kpi, "from": before, "to": target},
        )
    return existing


def weekly_actions_save(*, week: dt.date, actions: str, by: User) -> WeeklySyncNote:
    """Record the actions agreed in one week's AP–procurement sync (the week's Monday)."""
    roles.require(by, Perm.EDIT_KPI_ACTIONS)
    if week.weekday() != 0:
        raise DomainError("Actions are saved per week: choose the week's Monday.")
    if week > timezone.localdate():
        raise DomainError("That week has not started yet.")
    actions = actions.strip()
    if len(actions) > ACTIONS_MAX_LENGTH:
        raise DomainError(f"Keep the actions under {ACTIONS_MAX_LENGTH:,} characters.")
    with transaction.atomic():
        note = WeeklySyncNote.objects.select_for_update().filter(week=week).first()
        if note is not None and note.actions == actions:
            return note
        before = note.actions if note else ""
        if note is None:
            note = WeeklySyncNote.objects.create(
                week=week, actions=actions, updated_by=by, updated_at=timezone.now()
            )
        else:
            note.actions, note.updated_by, note.updated_at = actions, by, timezone.now()
            note.save(update_fields=["actions", "updated_by", "updated_at"])
        audit_record(
            obj=note,
            action=AuditAction.ACTIONS_SAVED,
            by=by,
            changes={"week": week, "actions": actions, "previous": before},
        )
    return note


def weekly_report_send(
    *,
    week: dt.date,
    recipients: list[str],
    subject: str,
    html: str,
    text: str,
    pdf: tuple[str, bytes] | None = None,
    by: User,
) -> int:
    """Email the weekly sync report (HTML, a plain-text part, the PDF) and note it in the trail."""
    roles.require(by, Perm.READ_REPORT)
    if not recipients:
        raise DomainError("Enter at least one email address.")
    if week.weekday() != 0 or week > timezone.localdate():
        raise DomainError("Choose a week that has started.")
    message = EmailMultiAlternatives(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        reply_to=[by.email] if by.email else None,
    )
    message.attach_alternative(html, "text/html")
    if pdf is not None:
        message.attach(pdf[0], pdf[1], "application/pdf")
    try:
        sent = message.send()
    except (smtplib.SMTPException, OSError) as exc:
        raise DomainError(f"The mail server did not accept the report ({exc}); try again.") from exc
    with transaction.atomic():
        # The trail hangs on the week's note, created empty if nobody wrote actions yet.
        note, _created = WeeklySyncNote.objects.get_or_create(
            week=week, defaults={"actions": "", "updated_by": by, "updated_at": timezone.now()}
        )
        audit_record(obj=note, action=AuditAction.REPORT_EMAILED, by=by, changes={"to": recipients})
    return sent
