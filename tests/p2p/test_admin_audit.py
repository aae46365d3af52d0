"""Whatever the Django admin may still change lands in the audit trail with its diff."""

from decimal import Decimal

import pytest
from axes.models import AccessAttempt
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from p2p.models import AuditEvent
from payables.models import MatchPolicy
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
        "category": "",
        "item_code": "",
        "combine": policy.combine,
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


def test_the_admin_never_shows_or_sets_an_authenticator_secret(admin_client, people):
    # Whoever reads the secret can produce the user's codes: two-factor sign-in would be
    # one factor for them.
    device = TOTPDevice.objects.create(user=people["ap_manager"], name="phone", confirmed=True)

    page = admin_client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))

    assert page.status_code == 200
    assert device.key not in page.content.decode()
    assert admin_client.get(reverse("admin:otp_totp_totpdevice_add")).status_code == 403


def test_removing_an_authenticator_app_in_the_admin_is_audited(admin_client, people):
    device = TOTPDevice.objects.create(user=people["ap_manager"], name="phone", confirmed=True)
    device_pk = device.pk

    response = admin_client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device_pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device_pk).exists()
    [event] = AuditEvent.objects.filter(object_type="otp_totp.totpdevice", object_id=device_pk)
    assert (event.action, event.actor_name) == ("admin_deleted", "ada")
    assert event.changes["user"] == ["martin", ""]
    assert "key" not in event.changes


def test_the_admin_cannot_mint_an_api_token_for_someone_else(admin_client, people):
    # A token made here would act as the user, past their two-factor sign-in, unrecorded.
    assert admin_client.get(reverse("admin:knox_authtoken_add")).status_code == 403


def test_revoking_a_token_or_unlocking_a_sign_in_in_the_admin_is_audited(admin_client, people):
    token, _ = AuthToken.objects.create(user=people["ap_clerk"])
    attempt = AccessAttempt.objects.create(
        username="carla", ip_address="192.0.2.10", failures_since_start=5, get_data="", post_data=""
    )

    admin_client.post(reverse("admin:knox_authtoken_delete", args=[token.pk]), {"post": "yes"})
    admin_client.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )

    assert not AuthToken.objects.filter(pk=token.pk).exists()
    revoked = AuditEvent.objects.get(action="api_token_revoked")
    assert (revoked.object_id, revoked.actor_name, revoked.note) == (
        people["ap_clerk"].pk,
        "ada",
        token.token_key,
    )
    unlocked = AuditEvent.objects.get(object_type="axes.accessattempt", action="admin_deleted")
    assert unlocked.changes["username"] == ["carla", ""]
    assert unlocked.changes["ip_address"] == ["192.0.2.10", ""]


def category_policy_form(**changes) -> dict:
    return {
        "name": "IT hardware",
        "scope": "category",
        "vendor": "",
        "category": "it",
        "item_code": "",
        "combine": "tighter",
        "active": "on",
        "price_tolerance_pct": "3",
        "price_tolerance_abs": "10.00",
        "qty_tolerance_pct": "0",
        "total_tolerance_abs": "0.05",
        **changes,
    }


def test_a_category_match_policy_is_added_in_the_admin(admin_client):
    response = admin_client.post(reverse("admin:payables_matchpolicy_add"), category_policy_form())
    assert response.status_code == 302
    policy = MatchPolicy.objects.get(name="IT hardware")
    assert (policy.scope, policy.category, policy.vendor_id) == ("category", "it", None)
    assert policy.combine == MatchPolicy.Combine.TIGHTER


def test_a_category_match_policy_without_a_category_is_a_form_error(admin_client):
    response = admin_client.post(
        reverse("admin:payables_matchpolicy_add"), category_policy_form(category="")
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "category": ["A category policy needs this."]
    }
    assert not MatchPolicy.objects.filter(name="IT hardware").exists()
