"""KPI targets: finance leaders set them (audited), everyone sees them, bad values are refused."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from metrics import services
from metrics.models import KpiTarget
from p2p.exceptions import DomainError
from p2p.models import AuditAction, AuditEvent

pytestmark = pytest.mark.django_db

TARGETS = reverse("metrics:targets")


def test_a_finance_leader_sets_and_changes_a_target_with_an_audit_trail(people):
    fiona = people["finance_leader"]
    services.kpi_target_set(kpi="first_pass", target=Decimal("85"), by=fiona)
    target = services.kpi_target_set(kpi="first_pass", target=Decimal("87.5"), by=fiona)
    assert KpiTarget.objects.get().target == Decimal("87.5")
    events = AuditEvent.objects.filter(object_type="metrics.kpitarget", object_id=target.pk)
    assert [e.changes for e in events.order_by("id")] == [
        {"kpi": "first_pass", "from": None, "to": "85.00"},
        {"kpi": "first_pass", "from": "85.00", "to": "87.50"},
    ]
    assert events.first().actor == fiona


def test_an_empty_target_removes_it(people):
    fiona = people["finance_leader"]
    target = services.kpi_target_set(kpi="on_time", target=Decimal("95"), by=fiona)
    assert services.kpi_target_set(kpi="on_time", target=None, by=fiona) is None
    assert not KpiTarget.objects.exists()
    assert AuditEvent.objects.for_object(target).filter(action=AuditAction.TARGET_REMOVED).exists()


@pytest.mark.parametrize("role", ["ap_manager", "ap_clerk", "buyer", "requester"])
def test_only_finance_leaders_set_targets(people, role):
    with pytest.raises(PermissionDenied):
        services.kpi_target_set(kpi="first_pass", target=Decimal("80"), by=people[role])


@pytest.mark.parametrize(
    ("kpi", "target", "message"),
    [
        ("first_pass", "120", "must lie between 0% and 100%"),
        ("first_pass", "-1", "must lie between 0% and 100%"),
        ("cycle_time", "400", "must lie between 0 days and 365 days"),
        ("open_exceptions", "2.5", "is a whole number"),
        ("vendor_accuracy", "90", "headline KPIs only"),
    ],
)
def test_bad_targets_are_refused(people, kpi, target, message):
    with pytest.raises(DomainError, match=message):
        services.kpi_target_set(kpi=kpi, target=Decimal(target), by=people["finance_leader"])
    assert not KpiTarget.objects.exists()


def test_the_targets_page_saves_with_htmx(client, people):
    client.force_login(people["finance_leader"])
    response = client.post(TARGETS, {"kpi": "touchless", "target": "70"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Target for Touchless rate saved." in page
    assert 'id="target-touchless"' in page and 'value="70"' in page
    assert KpiTarget.objects.get(kpi="touchless").target == Decimal("70")


def test_the_targets_page_works_as_a_plain_form(client, people):
    client.force_login(people["finance_leader"])
    response = client.post(TARGETS, {"kpi": "touchless", "target": "170"}, follow=True)
    assert "must lie between 0% and 100%" in response.content.decode()
    assert not KpiTarget.objects.exists()
    response = client.post(TARGETS, {"kpi": "touchless", "target": "seventy"}, follow=True)
    assert "Enter the target as a number" in response.content.decode()


@pytest.mark.parametrize("role", ["ap_manager", "buyer", "requester"])
def test_the_targets_page_is_for_finance_leaders(client, people, role):
    client.force_login(people[role])
    assert client.get(TARGETS).status_code == 403
    assert client.post(TARGETS, {"kpi": "touchless", "target": "70"}).status_code == 403
    assert not KpiTarget.objects.exists()
