"""Audit actions are AuditAction members: the values people and checks read back are fixed."""

import ast
from pathlib import Path

import pytest

from p2p.audit import audit_record
from p2p.models import AuditAction, AuditEvent

ROOT = Path(__file__).resolve().parents[2]
APPS = ("p2p", "vendors", "procurement", "payables", "metrics", "demo")
WRITERS = {"audit_record", "audit_event", "AuditEvent"}


def _literal_actions() -> list[str]:
    """Every call that writes an audit event with a string spelled out for its action."""
    found = []
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                for keyword in node.keywords:
                    if (
                        name in WRITERS
                        and keyword.arg == "action"
                        and isinstance(keyword.value, ast.Constant)
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_service_spells_an_audit_action_out():
    assert _literal_actions() == []


def test_stored_spellings_are_kept_for_rows_the_trail_cannot_rewrite():
    # The table refuses UPDATE: these values are in existing rows and must stay as written.
    assert AuditAction.ATTACHMENT_REMOVED == "attachment removed"
    assert AuditAction.ATTACHED == "attached"
    assert AuditAction.SENT_TO_VENDOR == "sent to vendor"
    assert AuditAction.ADMIN_CHANGED == "admin_changed"
    assert all(
        len(value) <= AuditEvent._meta.get_field("action").max_length
        for value in AuditAction.values
    )


@pytest.mark.django_db
def test_a_trail_row_reads_its_action_as_a_label(people):
    event = audit_record(obj=people["requester"], action=AuditAction.MFA_ENROLLED, by=None)
    event.refresh_from_db()
    assert event.action == AuditAction.MFA_ENROLLED
    assert event.get_action_display() == "Two-factor enrolled"
