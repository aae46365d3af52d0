import pytest
from django.conf import settings
from django.db import connection

from p2p import dbroles
from tests import factories
from tests.dbroles import ROLE_KEYS, role_settings

pytest_plugins = ["tests.suite"]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """The test database is created and migrated by the owner role, as in a deployment.

    Flushing between transactional tests truncates every table, the audit trail included:
    the owner's sessions here may (see migration p2p 0007); the app role's never can.
    """
    owner = role_settings("owner")
    options = dict(owner["OPTIONS"])
    # The suite runs on the connection pool production runs on (p2p/settings.py).
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool")
    if pool:
        options["pool"] = pool
    options["options"] = f"{options.get('options', '')} -c {dbroles.AUDIT_TRUNCATE_SETTING}=on"
    settings.DATABASES["default"].update(
        {**{key: owner[key] for key in ROLE_KEYS}, "OPTIONS": options}
    )
    connection.close()


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Grant the app role its privileges, so tests that run as it see any missing grant."""
    with django_db_blocker.unblock():
        connection.ensure_connection()
        dbroles.grant_app_privileges(connection.connection, role_settings("app")["USER"])
        connection.close()


@pytest.fixture
def people(db):
    """One user per role, named like the demo."""
    return {
        "requester": factories.make_user("rita", "requester"),
        "approver": factories.make_user("alex", "approver"),
        "buyer": factories.make_user("bob", "buyer"),
        "ap_clerk": factories.make_user("carla", "ap_clerk"),
        "ap_manager": factories.make_user("martin", "ap_manager"),
        "finance_leader": factories.make_user("fiona", "finance_leader"),
    }


@pytest.fixture
def setup_org(db):
    factories.make_rules()
    factories.make_policy()
    cost_center, gl_account = factories.make_coding()
    return {"cost_center": cost_center, "gl_account": gl_account}


@pytest.fixture(autouse=True)
def eager_celery():
    """Tasks run in-process unless a test asks for the real worker."""
    from p2p.celery import app

    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = False


@pytest.fixture(autouse=True)
def invoice_date_window(settings):
    """The official EN 16931 examples the suite imports are dated 2013: widen the window."""
    settings.INVOICE_DATE_YEARS_BACK = 20


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
