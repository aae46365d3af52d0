"""One "forbidden": NotAllowed is PermissionDenied, a styled 403 page in HTML and 403 JSON in the API."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from rest_framework.test import APIClient

from p2p import roles
from p2p.exceptions import DomainError, NotAllowed

pytestmark = pytest.mark.django_db


def test_not_allowed_is_the_one_forbidden():
    refusal = NotAllowed("Your role does not allow this.")
    assert isinstance(refusal, PermissionDenied)
    assert isinstance(refusal, DomainError)
    assert refusal.status_code == 403


def test_role_check_raises_not_allowed(people):
    with pytest.raises(NotAllowed, match="Your role does not allow this"):
        roles.require(people["requester"], roles.Perm.CAPTURE_INVOICE)


def test_requester_opening_an_ap_page_gets_the_styled_403_with_navigation(client, people):
    client.force_login(people["requester"])
    response = client.get(reverse("payables:invoice_list"))
    assert response.status_code == 403
    page = response.content.decode()
    assert "Not allowed" in page
    assert "Your role does not allow this." in page
    # The normal layout: the sidebar with what she may open, her requests among them.
    assert 'aria-label="Main"' in page
    assert reverse("procurement:request_list") in page
    assert reverse("payables:invoice_list") not in page.split("</nav>")[0]


def test_requester_calling_an_ap_endpoint_gets_403_json(people):
    api = APIClient()
    api.force_login(people["requester"])
    response = api.get("/api/invoices/")
    assert response.status_code == 403
    assert response.json() == {"detail": "Your role does not allow this."}
