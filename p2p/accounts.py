"""Sign-in protection and API tokens: what happens around a password, in one place."""

import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from knox.models import AuthToken

from p2p import roles
from p2p.audit import audit_record

# Session keys (epoch seconds): when the user signed in, last typed their password, and
# last made a request.
SIGNED_IN_AT = "p2p_signed_in_at"
PASSWORD_CONFIRMED_AT = "p2p_password_confirmed_at"
LAST_SEEN = "p2p_last_seen"


def lockout_message() -> str:
    """What a locked-out user reads: why, for how long, and who can lift it."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed sign-ins for this account or from this address. "
        f"Try again in {minutes} minutes, or ask an administrator to unlock the account."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials=None
) -> HttpResponse:
    """Axes' answer to a locked-out sign-in: JSON for API clients, the lockout page otherwise."""
    # 429 so scripts back off; the same status on every login surface.
    if request.path_info.startswith("/api/"):
        return JsonResponse({"detail": lockout_message()}, status=429)
    return render(
        request, "registration/locked_out.html", {"message": lockout_message()}, status=429
    )


def api_token_issue(*, user: AbstractBaseUser) -> tuple[AuthToken, str]:
    """A new API token for the user, expiring after REST_KNOX's TOKEN_TTL; the secret is shown once."""
    with transaction.atomic():
        token, secret = AuthToken.objects.create(user=user)
        audit_record(obj=user, action="api_token_issued", by=user, note=token.token_key)
    return token, secret


def api_tokens_of(user: AbstractBaseUser):
    """The user's tokens that still work, newest first."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


def api_token_revoke(*, user: AbstractBaseUser, token_key: str, by: AbstractBaseUser) -> int:
    """Revoke one of the user's tokens by its visible prefix; only the user's own are touched."""
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
        if revoked:
            audit_record(obj=user, action="api_token_revoked", by=by, note=token_key)
    return revoked


def api_tokens_revoke_all(*, user: AbstractBaseUser, by: AbstractBaseUser | None, why: str) -> int:
    """Revoke every token of the user (sign out everywhere, a new password)."""
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user=user).delete()
        if revoked:
            audit_record(
                obj=user, action="api_tokens_revoked", by=by, note=f"{revoked} tokens: {why}"
            )
    return revoked


class RevokeTokensOnPasswordChange:
    """Listed with the password validators because Django calls their password_changed hook
    after every saved password change — admin form, password views, `changepassword` or
    set_password() + save() — so no path can keep a token issued under the old password."""

    def validate(self, password: str, user: AbstractBaseUser | None = None) -> None:
        return None

    def password_changed(self, password: str, user: AbstractBaseUser | None = None) -> None:
        if user is not None and user.pk is not None:
            api_tokens_revoke_all(user=user, by=None, why="password changed")

    def get_help_text(self) -> str:
        return "Changing the password revokes every API token of the account."


def stamp_sign_in(
    sender: type, request: HttpRequest, user: AbstractBaseUser, **kwargs: Any
) -> None:
    """Receiver of user_logged_in: the session remembers when the password was typed."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        # Signing in is activity: the idle clock starts now, not at the next page.
        request.session[LAST_SEEN] = now


def idle_minutes_for(user: AbstractBaseUser) -> int:
    """The shortest idle timeout among the user's roles, or the general one."""
    by_role = [
        minutes
        for role, minutes in settings.SESSION_IDLE_MINUTES_BY_ROLE.items()
        if role in roles.roles_of(user)
    ]
    return min(by_role, default=settings.SESSION_IDLE_MINUTES)


def password_recently_entered(request: HttpRequest) -> bool:
    """True within REAUTH_MINUTES of signing in or of confirming the password."""
    entered_at = max(
        request.session.get(SIGNED_IN_AT, 0), request.session.get(PASSWORD_CONFIRMED_AT, 0)
    )
    return time.time() - entered_at <= settings.REAUTH_MINUTES * 60


def password_confirm(*, request: HttpRequest, password: str) -> bool:
    """Check the signed-in user's password again (wrong ones count towards the lockout)."""
    user = authenticate(request, username=request.user.get_username(), password=password)
    if user is None or user.pk != request.user.pk:
        return False
    request.session[PASSWORD_CONFIRMED_AT] = time.time()
    return True


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """Where to go back to after confirming: a page of this site, else home."""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return reverse("home")


def password_confirmation_required(view: Callable) -> Callable:
    """View decorator for acts that move money: ask for the password again unless it was
    typed in the last REAUTH_MINUTES, so an unattended signed-in browser cannot approve."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if password_recently_entered(request):
            return view(request, *args, **kwargs)
        messages.info(request, "Confirm your password, then repeat the approval.")
        back = safe_next(request, request.headers.get("Referer"))
        return redirect(f"{reverse('password_confirm')}?{urlencode({'next': back})}")

    return wrapped
