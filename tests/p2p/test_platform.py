"""Cross-cutting guarantees: the audit trail is append-only, production settings pass deploy checks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError, transaction
from django.db.models import ProtectedError

from p2p.audit import audit_record
from p2p.models import AuditEvent
from tests.flow import issued_po

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_audit_store_rejects_update_and_delete(people, setup_org):
    po = issued_po(people, setup_org)
    event = AuditEvent.objects.filter(
        object_type="procurement.purchaseorder", object_id=po.pk
    ).first()
    assert event is not None and event.actor == people["buyer"]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(note="tampered")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.note == ""


@pytest.mark.django_db
def test_a_user_with_a_trail_cannot_be_deleted(setup_org):
    # A user whose only footprint is one audit entry (the trail is its sole reference).
    clerk = User.objects.create_user("temp.clerk")
    audit_record(obj=setup_org["cost_center"], action="updated", by=clerk, note="renamed")
    with pytest.raises(ProtectedError), transaction.atomic():
        clerk.delete()
    assert AuditEvent.objects.get(actor=clerk).actor_name == "temp.clerk"


@pytest.mark.django_db
def test_every_transition_of_the_flow_is_audited(people, setup_org):
    po = issued_po(people, setup_org)
    trail = AuditEvent.objects.for_objects(
        [("procurement.purchaseorder", po.pk), ("procurement.purchaserequest", po.request_id)]
    )
    assert [(e.object_type, e.action, e.to_status) for e in trail] == [
        ("procurement.purchaserequest", "created", "draft"),
        ("procurement.purchaserequest", "status", "pending_approval"),
        ("procurement.purchaserequest", "status", "approved"),
        ("procurement.purchaseorder", "created", "draft"),
        ("procurement.purchaserequest", "status", "ordered"),
        ("procurement.purchaseorder", "status", "issued"),
    ]
    assert trail[2].actor == people["approver"]


def test_production_settings_pass_deploy_checks():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "k8#x2!vQz9-production-like-secret-key-for-the-deploy-check-4Hq7",
        "ALLOWED_HOSTS": "p2p.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_a_secret_key():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "",
        "ALLOWED_HOSTS": "p2p.example.com",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
