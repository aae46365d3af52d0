"""The application runs as a role that can append to the audit trail but never wipe it."""

from decimal import Decimal

import dj_database_url
import psycopg
import pytest
from django.db import connection
from django.urls import reverse

from p2p.dbroles import url_from_settings
from p2p.models import AuditEvent
from payables.models.invoices import Invoice
from payables.services.matching import run_matching
from tests.dbroles import ROLE_KEYS, role_settings
from tests.flow import invoice, issued_po, receive
from tests.worker import Worker


def _connect(role: str) -> psycopg.Connection:
    db = role_settings(role)
    return psycopg.connect(
        dbname=db["NAME"],
        user=db["USER"],
        password=db["PASSWORD"] or None,
        host=db["HOST"] or None,
        port=db["PORT"] or None,
        autocommit=True,
        **db["OPTIONS"],
    )


def _refused(conn: psycopg.Connection, statement: str) -> str:
    with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
        conn.execute(statement)
    return str(refused.value)


@pytest.mark.django_db
def test_app_role_may_read_and_append_the_audit_trail_but_not_change_or_wipe_it():
    with _connect("app") as app:
        assert not app.execute(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone()[0]
        with app.transaction(force_rollback=True):
            app.execute(
                "INSERT INTO p2p_auditevent (at, actor_name, object_type, object_id,"
                " object_repr, action, from_status, to_status, changes, note)"
                " VALUES (now(), 'carla', 'payables.invoice', 1, 'INV-2026-1788', 'created',"
                " '', 'pending_match', '{}', '')"
            )
            assert app.execute("SELECT COUNT(*) FROM p2p_auditevent").fetchone()[0] >= 1

        assert "permission denied" in _refused(app, "UPDATE p2p_auditevent SET action = 'x'")
        assert "permission denied" in _refused(app, "DELETE FROM p2p_auditevent")
        assert "permission denied" in _refused(app, "TRUNCATE p2p_auditevent")
        assert "must be owner" in _refused(
            app, "ALTER TABLE p2p_auditevent DISABLE TRIGGER p2p_auditevent_append_only"
        )
        assert "must be owner" in _refused(app, "ALTER TABLE p2p_auditevent DISABLE TRIGGER ALL")
        assert "must be owner" in _refused(app, "DROP TABLE p2p_auditevent")


@pytest.mark.django_db
def test_even_the_owner_cannot_truncate_the_audit_trail_by_accident():
    with _connect("owner") as owner:
        message = _refused(owner, "TRUNCATE p2p_auditevent")
    assert "the audit trail is append-only: TRUNCATE is not allowed" in message


@pytest.fixture
def as_app_role():
    """Django's own connection switched to the app role for the test, back to the owner after
    (so the flush between tests runs as the owner). Needs a transactional test: the app role's
    connection sees only what was committed."""
    db = connection.settings_dict
    saved = {key: db[key] for key in ROLE_KEYS}
    app = role_settings("app")
    connection.close()
    db.update({key: app[key] for key in ROLE_KEYS})
    yield
    connection.close()
    db.update(saved)


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_purchase_flow_runs_as_the_app_role(as_app_role, people, setup_org, client):
    """Every table, sequence and temporary table the flow touches is granted to the app role."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == role_settings("app")["USER"]
    po = issued_po(people, setup_org, lines=(("Ergonomic office chair", "4", "447.00"),))
    receive(po, people, {1: "4"})
    inv = invoice(po, people, "INV-2026-1788", {1: ("4", "447.00")})
    run_matching([inv.pk])
    inv.refresh_from_db()
    assert inv.status == Invoice.Status.APPROVED
    assert (inv.total_amount - inv.tax_amount, inv.currency) == (Decimal("1788.00"), "EUR")
    assert AuditEvent.objects.for_object(inv).filter(action="created").exists()

    client.force_login(people["ap_clerk"])
    assert client.get(reverse("payables:invoice_detail", args=[inv.pk])).status_code == 200


def test_the_test_worker_connects_as_the_app_role_with_its_password(db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://p2p_app:s3cr%40t%2Fpw@127.0.0.1:5432/p2p")
    env = Worker().environment()
    parsed = dj_database_url.parse(env["DATABASE_URL"])
    assert (parsed["USER"], parsed["PASSWORD"]) == ("p2p_app", "s3cr@t/pw")
    assert parsed["NAME"] == connection.settings_dict["NAME"]
    assert env["DATABASE_ROLE"] == "app"


def test_url_from_settings_keeps_password_socket_and_options(db):
    db = {
        "NAME": "p2p",
        "USER": "p2p_app",
        "PASSWORD": "p@ss:w/rd",
        "HOST": "/var/run/postgresql",
        "PORT": 5433,
        "OPTIONS": {"sslmode": "require"},
    }
    parsed = dj_database_url.parse(url_from_settings(db))
    assert {key: parsed[key] for key in db} == {**db, "HOST": "", "PORT": 5433} | {
        "OPTIONS": {"sslmode": "require", "host": "/var/run/postgresql"}
    }
    with psycopg.connect(url_from_settings(role_settings("app")), autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == role_settings("app")["USER"]
