"""Roles as groups, an append-only audit table enforced by the database, document sequences."""

from django.db import migrations

ROLES = ("requester", "approver", "buyer", "ap_clerk", "ap_manager", "finance_leader", "admin")

AUDIT_GUARD = """
CREATE OR REPLACE FUNCTION p2p_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER p2p_auditevent_append_only
    BEFORE UPDATE OR DELETE ON p2p_auditevent
    FOR EACH ROW EXECUTE FUNCTION p2p_audit_append_only();
"""
AUDIT_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS p2p_auditevent_append_only ON p2p_auditevent;
DROP FUNCTION IF EXISTS p2p_audit_append_only();
"""
SEQUENCES = ("purchase_request", "purchase_order", "receipt", "payment_run")


def create_roles(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("p2p", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_roles, drop_roles),
        migrations.RunSQL(AUDIT_GUARD, AUDIT_GUARD_REVERSE),
        migrations.RunSQL(
            [f"CREATE SEQUENCE IF NOT EXISTS p2p_seq_{name}" for name in SEQUENCES],
            [f"DROP SEQUENCE IF EXISTS p2p_seq_{name}" for name in SEQUENCES],
        ),
    ]
