"""The role matrix is the one answer to "who may do what": every guarded page, API action and
template asks it, and each permission lets its holders in and turns everyone else away."""

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from p2p import roles
from p2p.roles import MATRIX, Perm

pytestmark = pytest.mark.django_db

# Any id: the role check comes before the document is looked up, so a missing one is a 404.
MISSING_ID = 999_999


def _guarded_urls(patterns=None, prefix: str = "/"):
    """(path, permission) for every page behind `role_required`, ids filled with MISSING_ID."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from _guarded_urls(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            perm = getattr(pattern.callback, "required_perm", None)
            if perm is not None:
                path = prefix + str(pattern.pattern)
                for converter in pattern.pattern.converters:
                    path = path.replace(f"<int:{converter}>", str(MISSING_ID))
                yield path, perm


GUARDED = sorted(set(_guarded_urls()))


def _answer(client, path: str) -> int:
    """The status of the first method the page accepts (a page for POST refuses GET with 405)."""
    for method in (client.get, client.post):
        status = method(path).status_code
        if status != 405:
            return status
    return 405


def test_every_permission_has_holders_among_the_roles():
    assert set(MATRIX) == set(Perm)
    for perm, holders in MATRIX.items():
        assert holders, perm
        assert holders <= set(roles.ALL_ROLES), perm


def test_every_page_is_guarded_by_a_permission_of_the_matrix():
    assert len(GUARDED) > 80
    assert {perm for _path, perm in GUARDED} <= set(Perm)


@pytest.mark.parametrize(("path", "perm"), GUARDED, ids=[path for path, _perm in GUARDED])
def test_holders_are_let_in_and_everyone_else_gets_403(client, people, path, perm):
    for role, person in people.items():
        client.force_login(person)
        status = _answer(client, path)
        if role in MATRIX[perm]:
            assert status != 403, f"{role} holds {perm} but {path} refused"
        else:
            assert status == 403, f"{role} lacks {perm} but {path} answered {status}"


def test_superusers_hold_every_permission(django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    assert all(roles.may(root, perm) for perm in Perm)


def test_require_raises_not_allowed_for_a_non_holder(people):
    roles.require(people["ap_clerk"], Perm.CAPTURE_INVOICE)
    with pytest.raises(roles.NotAllowed):
        roles.require(people["buyer"], Perm.CAPTURE_INVOICE)


@pytest.mark.parametrize(
    ("path", "perm"),
    [
        ("/api/invoices/", Perm.READ_INVOICES),
        ("/api/payment-runs/", Perm.READ_PAYMENTS),
        ("/api/exceptions/", Perm.READ_EXCEPTIONS),
        ("/api/purchase-orders/", Perm.READ_PURCHASING),
    ],
)
def test_api_reads_the_same_matrix(people, path, perm):
    api = APIClient()
    for role, person in people.items():
        api.force_authenticate(person)
        status = api.get(path).status_code
        assert (status == 200) == (role in MATRIX[perm]), (role, path, status)
        assert status in (200, 403)


def test_templates_ask_the_matrix_by_name(client, people):
    client.force_login(people["ap_clerk"])
    perms = client.get("/payables/invoices/").context["perms_p2p"]
    assert perms["capture_invoice"] is True
    assert perms["approve_run"] is False
    with pytest.raises(KeyError):
        perms["no_such_permission"]


def test_dashboard_tabs_follow_the_kpi_permissions(client, people):
    client.force_login(people["ap_clerk"])
    assert client.get("/metrics/dashboard/?view=ap").status_code == 200
    assert client.get("/metrics/dashboard/?view=buyers").status_code == 403
    client.force_login(people["buyer"])
    assert client.get("/metrics/dashboard/?view=buyers").status_code == 200
    assert client.get("/metrics/dashboard/?view=ap").status_code == 403
