"""Platform-level pages: the home redirect and the API token endpoint."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from rest_framework.authtoken.views import ObtainAuthToken

from p2p import accounts, roles


def home(request: HttpRequest) -> HttpResponse:
    """Send each user to the page their role starts from."""
    user = request.user
    if roles.has_role(user, roles.FINANCE_LEADER) and not user.is_superuser:
        return redirect("metrics:dashboard")
    if roles.has_role(user, roles.AP_CLERK, roles.AP_MANAGER) and not user.is_superuser:
        return redirect("payables:exception_list")
    if roles.has_role(user, roles.APPROVER) and not user.is_superuser:
        return redirect("procurement:approval_inbox")
    if roles.has_role(user, roles.BUYER) and not user.is_superuser:
        return redirect("procurement:po_list")
    if roles.has_role(user, roles.REQUESTER) and not user.is_superuser:
        return redirect("procurement:request_list")
    return redirect("metrics:dashboard")


class ObtainToken(ObtainAuthToken):
    """POST username and password, get an API token (for scripts and integrations)."""

    def handle_exception(self, exc: Exception) -> HttpResponse:
        # Axes marks DRF's request wrapper, which its middleware never sees.
        if getattr(self.request, "axes_locked_out", False):
            return accounts.lockout_response(self.request)
        return super().handle_exception(exc)
