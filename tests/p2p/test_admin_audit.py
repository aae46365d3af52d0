"""Whatever the Django admin may still change lands in the audit trail with its diff."""

from decimal import Decimal

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from p2p.models import AuditEvent
from procurement.models import CostCenter, GLAccount, PurchaseRequest
from tests import factories
from tests.procurement.conftest import raise_request


@pytest.fixture
def admin_client(db) -> Client:
    superuser = factories.make_user("ada", "admin")
    superuser.is_staff = superuser.is_superuser = True
    superuser.save(update_fields=["is_staff", "is_superuser"])
    client = Client()
    client.force_login(superuser)
    return client


def trail(obj) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(object_type=obj._meta.label_lower, object_id=obj.pk).order_by(
            "id"
        )
    )


def test_a_cost_center_changed_in_the_admin_records_who_and_old_to_new(admin_client):
    cost_center = CostCenter.objects.create(code="CC-410", name="Marketing", department="Sales")
    url = reverse("admin:procurement_costcenter_change", args=[cost_center.pk])
    response = admin_client.post(
        url, {"code": "CC-410", "name": "Marketing & Events", "department": "Sales", "active": ""}
    )
    assert response.status_code == 302

    [event] = trail(cost_center)
    assert (event.action, event.actor_name) == ("admin_changed", "ada")
    assert event.changes == {
        "name": ["Marketing", "Marketing & Events"],
        "active": ["True", "False"],
    }
    # Saving again without a change adds nothing to the trail.
    admin_client.post(
        url, {"code": "CC-410", "name": "Marketing & Events", "department": "Sales", "active": ""}
    )
    assert len(trail(cost_center)) == 1


def test_additions_and_deletions_in_the_admin_are_audited(admin_client):
    response = admin_client.post(
        reverse("admin:procurement_glaccount_add"),
        {"code": "6100", "name": "Office supplies", "active": "on"},
    )
    assert response.status_code == 302
    account = GLAccount.objects.get(code="6100")
    admin_client.post(
        reverse("admin:procurement_glaccount_delete", args=[account.pk]), {"post": "yes"}
    )

    assert not GLAccount.objects.filter(code="6100").exists()
    added, deleted = trail(account)
    assert added.action == "admin_added"
    assert added.changes == {
        "code": ["", "6100"],
        "name": ["", "Office supplies"],
        "active": ["", "True"],
    }
    assert deleted.action == "admin_deleted" and deleted.object_repr == "6100 Office supplies"
    assert deleted.changes["name"] == ["Office supplies", ""]


def test_a_match_policy_tolerance_changed_in_the_admin_is_audited(admin_client):
    policy = factories.make_policy()
    data = {
        "name": policy.name,
        "scope": policy.scope,
        "vendor": "",
        "active": "on",
        "price_tolerance_pct": "5",  # from 2 %
        "price_tolerance_abs": str(policy.price_tolerance_abs),
        "qty_tolerance_pct": str(policy.qty_tolerance_pct),
        "total_tolerance_abs": str(policy.total_tolerance_abs),
    }
    response = admin_client.post(
        reverse("admin:payables_matchpolicy_change", args=[policy.pk]), data
    )
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.price_tolerance_pct == Decimal("5")
    [event] = trail(policy)
    assert event.changes == {"price_tolerance_pct": ["2.000", "5.000"]}


def test_a_role_granted_in_the_admin_is_audited_without_the_password(admin_client):
    carla = factories.make_user("carla", "ap_clerk")
    joined = timezone.localtime(carla.date_joined).replace(microsecond=0)
    User.objects.filter(pk=carla.pk).update(date_joined=joined)
    manager = Group.objects.get_or_create(name="ap_manager")[0]
    clerk = Group.objects.get(name="ap_clerk")
    response = admin_client.post(
        reverse("admin:auth_user_change", args=[carla.pk]),
        {
            "username": "carla",
            "first_name": "Carla",
            "last_name": "",
            "email": "carla@example.com",
            "is_active": "on",
            "groups": [clerk.pk, manager.pk],
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    [event] = trail(carla)
    assert event.action == "admin_changed"
    assert event.changes == {"groups": ["ap_clerk", "ap_clerk, ap_manager"]}

    admin_client.post(
        reverse("admin:auth_user_password_change", args=[carla.pk]),
        {"password1": "Winter-Tulip-2026", "password2": "Winter-Tulip-2026"},
    )
    changed = trail(carla)[-1]
    assert changed.changes == {"password": ["", "set by an administrator"]}
    assert "Winter-Tulip-2026" not in str(changed.changes) and "pbkdf2" not in str(changed.changes)


def test_documents_whose_status_matters_are_read_only_in_the_admin(admin_client, people, setup_org):
    request = raise_request(people, setup_org, amount="1788.00")
    url = reverse("admin:procurement_purchaserequest_change", args=[request.pk])
    assert admin_client.post(url, {"status": "approved"}).status_code == 403
    request.refresh_from_db()
    assert request.status == PurchaseRequest.Status.PENDING_APPROVAL
