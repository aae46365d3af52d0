"""The audit trail refuses TRUNCATE too, and nobody but its owner may change or remove rows.

Row triggers do not fire on TRUNCATE, so 0002's guard let a whole-table wipe through. The
statement trigger below stops it even for the owner unless the session sets
p2p.allow_audit_truncate, which only throwaway databases do (the test database between tests,
a benchmark's own database); the app role lacks the TRUNCATE privilege whatever it sets.

The revoke undoes what default privileges gave other roles when the table was created (the
app role gets SELECT, INSERT, UPDATE, DELETE on every new table; scripts/db_roles.py).
"""

from django.db import migrations

TRUNCATE_GUARD = """
CREATE OR REPLACE FUNCTION p2p_audit_no_truncate() RETURNS trigger AS $$
BEGIN
    IF current_setting('p2p.allow_audit_truncate', true) = 'on' THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'the audit trail is append-only: TRUNCATE is not allowed'
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER p2p_auditevent_no_truncate
    BEFORE TRUNCATE ON p2p_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION p2p_audit_no_truncate();
"""
TRUNCATE_GUARD_REVERSE = """
DROP TRIGGER IF EXISTS p2p_auditevent_no_truncate ON p2p_auditevent;
DROP FUNCTION IF EXISTS p2p_audit_no_truncate();
"""

# Every role other than the owner keeps at most SELECT and INSERT on the audit table.
NARROW_GRANTS = """
DO $$
DECLARE
    grantee_name text;
BEGIN
    FOR grantee_name IN
        SELECT DISTINCT g.grantee::regrole::text
        FROM pg_class c, aclexplode(c.relacl) g
        WHERE c.oid = 'p2p_auditevent'::regclass
          AND g.grantee <> 0 AND g.grantee <> c.relowner
    LOOP
        EXECUTE format(
            'REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON p2p_auditevent FROM %s',
            grantee_name
        );
    END LOOP;
    REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON p2p_auditevent FROM PUBLIC;
END;
$$;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("p2p", "0006_audit_actor_without_database_key"),
    ]

    operations = [
        migrations.RunSQL(TRUNCATE_GUARD, TRUNCATE_GUARD_REVERSE),
        migrations.RunSQL(NARROW_GRANTS, migrations.RunSQL.noop),
    ]
