"""Request types for views: every page and endpoint sits behind login, so `request.user` is
a signed-in User, not the `User | AnonymousUser` the framework stubs promise."""

from typing import cast

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails
from knox.models import AuthToken
from rest_framework.request import Request


class AuthenticatedHttpRequest(HttpRequest):
    """A request that passed LoginRequiredEverywhere; HtmxMiddleware added `htmx`."""

    user: User
    htmx: HtmxDetails


class AuthenticatedRequest(Request):
    """A DRF request whose permission classes require authentication."""

    user: User
    # The knox token a script authenticated with; None for a browser session.
    auth: AuthToken | None


def request_user(request: HttpRequest | Request) -> User:
    """The signed-in user, where a framework signature fixes the request type (ModelAdmin and
    ViewSet overrides): login, the admin site or the permission classes let in no one else."""
    return cast(User, request.user)
