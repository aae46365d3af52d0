"""Sign-in protection, sessions, API tokens and two-factor sign-in: what happens around a
password, in one place."""

import base64
import time
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

import segno
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from knox.models import AuthToken

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import NotAllowed
from p2p.http import AuthenticatedHttpRequest
from p2p.models import AuditAction

# Session keys (epoch seconds): when the user signed in, last typed their password, and
# last made a request.
SIGNED_IN_AT = "p2p_signed_in_at"
PASSWORD_CONFIRMED_AT = "p2p_password_confirmed_at"
LAST_SEEN = "p2p_last_seen"
# Whether the signed-in user has an authenticator app: read at sign-in and kept up to date
# by enrolment, so the two-factor check costs no query per page.
MFA_ENROLLED = "p2p_mfa_enrolled"


def client_ip(request: HttpRequest) -> str:
    """The address lockouts count against. Behind PROXY_COUNT reverse proxies, each of which
    appends to X-Forwarded-For, the client is that many entries from the end; entries further
    left were written by the client itself and prove nothing."""
    forwarded = [
        part.strip()
        for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")
        if part.strip()
    ]
    if settings.PROXY_COUNT and len(forwarded) >= settings.PROXY_COUNT:
        return forwarded[-settings.PROXY_COUNT]
    return request.META.get("REMOTE_ADDR", "")


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


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler, but a successful sign-in clears only that account's failures.

    Axes would also clear every failure counted on the client's address, including the guesses
    at other accounts: someone could guess at a colleague's password from their own desk
    without end, signing in as themselves between rounds.
    """

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        username = get_client_username(request, credentials)
        deleted, _ = AccessAttempt.objects.filter(username=username).delete()
        return deleted


def api_token_issue(*, user: User) -> tuple[AuthToken, str]:
    """A new API token for the user, expiring after REST_KNOX's TOKEN_TTL; the secret is shown once."""
    with transaction.atomic():
        token, secret = AuthToken.objects.create(user=user)
        audit_record(obj=user, action=AuditAction.API_TOKEN_ISSUED, by=user, note=token.token_key)
    return token, secret


def api_tokens_of(user: User):
    """The user's tokens that still work, newest first."""
    return AuthToken.objects.filter(user=user, expiry__gt=timezone.now()).order_by("-created")


def api_token_revoke(*, user: User, token_key: str, by: User) -> int:
    """Revoke one of the user's tokens by its visible prefix; only the user's own are touched."""
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user=user, token_key=token_key).delete()
        if revoked:
            audit_record(obj=user, action=AuditAction.API_TOKEN_REVOKED, by=by, note=token_key)
    return revoked


def api_tokens_revoke_all(*, user: User, by: User | None, why: str) -> int:
    """Revoke every token of the user (sign out everywhere, a new password)."""
    with transaction.atomic():
        revoked, _ = AuthToken.objects.filter(user=user).delete()
        if revoked:
            audit_record(
                obj=user,
                action=AuditAction.API_TOKENS_REVOKED,
                by=by,
                note=f"{revoked} tokens: {why}",
            )
    return revoked


class RevokeTokensOnPasswordChange:
    """Listed with the password validators because Django calls their password_changed hook
    after every saved password change — admin form, password views, `changepassword` or
    set_password() + save() — so no path can keep a token issued under the old password."""

    def validate(self, password: str, user: User | None = None) -> None:
        return None

    def password_changed(self, password: str, user: User | None = None) -> None:
        if user is not None and user.pk is not None:
            api_tokens_revoke_all(user=user, by=None, why="password changed")

    def get_help_text(self) -> str:
        return "Changing the password revokes every API token of the account."


def stamp_sign_in(sender: type, request: HttpRequest, user: User, **kwargs: Any) -> None:
    """Receiver of user_logged_in: the session remembers when the password was typed."""
    if request is not None and hasattr(request, "session"):
        now = time.time()
        request.session[SIGNED_IN_AT] = now
        # Signing in is activity: the idle clock starts now, not at the next page.
        request.session[LAST_SEEN] = now
        request.session[MFA_ENROLLED] = mfa_device_of(user) is not None


def idle_minutes_for(user: User) -> int:
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


def password_matches(*, request: HttpRequest, user: User, password: str) -> bool:
    """Whether `password` is `user`'s own (a wrong one counts towards the lockout)."""
    found = authenticate(request, username=user.get_username(), password=password)
    return found is not None and found.pk == user.pk


def password_confirm(*, request: AuthenticatedHttpRequest, password: str) -> bool:
    """Check the signed-in user's password again and remember when, for this session."""
    if not password_matches(request=request, user=request.user, password=password):
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


# --- two-factor sign-in (TOTP) ---------------------------------------------------------------


def mfa_required(user: User) -> bool:
    """Whether the user's roles oblige a second factor (MFA_REQUIRED_ROLES; superusers too)."""
    return bool(settings.MFA_REQUIRED_ROLES) and roles.has_role(user, *settings.MFA_REQUIRED_ROLES)


def mfa_device_of(user: User) -> TOTPDevice | None:
    """The user's confirmed authenticator app, if they enrolled one."""
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def mfa_enrolled(request: AuthenticatedHttpRequest) -> bool:
    """Whether the session's user has an authenticator app (the sign-in flag, else the database)."""
    if MFA_ENROLLED not in request.session:
        request.session[MFA_ENROLLED] = mfa_device_of(request.user) is not None
    return request.session[MFA_ENROLLED]


def mfa_change_needs_code(request: AuthenticatedHttpRequest) -> bool:
    """Whether the user has an authenticator app but this session has not shown a code from
    it: replacing or removing the app then would make the password alone enough."""
    # OTPMiddleware gives request.user is_verified(); the User model has no such method.
    return not request.user.is_verified() and mfa_device_of(request.user) is not None  # type: ignore[attr-defined]


def _refuse_unverified_change(request: AuthenticatedHttpRequest) -> None:
    if mfa_change_needs_code(request):
        raise NotAllowed("Enter a code from your current authenticator app first.")


def mfa_pending_device(*, user: User, keep: bool) -> TOTPDevice:
    """The secret being enrolled: a fresh one for every visit of the page, the same one again
    after a mistyped code (keep) so the user need not scan twice."""
    with transaction.atomic():
        pending = TOTPDevice.objects.filter(user=user, confirmed=False)
        if keep and (device := pending.order_by("-pk").first()) is not None:
            return device
        pending.delete()
        return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=False)


def mfa_enrolment_confirm(*, request: AuthenticatedHttpRequest, code: str) -> bool:
    """Confirm the pending secret with a code from the app; the session counts as verified."""
    _refuse_unverified_change(request)
    with transaction.atomic():
        device = (
            TOTPDevice.objects.select_for_update()
            .filter(user=request.user, confirmed=False)
            .order_by("-pk")
            .first()
        )
        if device is None or not device.verify_token(code.strip()):
            return False
        TOTPDevice.objects.filter(user=request.user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        audit_record(obj=request.user, action=AuditAction.MFA_ENROLLED, by=request.user)
    otp_login(request, device)
    request.session[MFA_ENROLLED] = True
    return True


def mfa_verify(*, request: AuthenticatedHttpRequest, code: str) -> bool:
    """Check a code from the user's app after the password; wrong codes slow down (django-otp)."""
    device = mfa_device_of(request.user)
    if device is None:
        # Removed since sign-in (by an admin): nothing to verify against any more.
        request.session[MFA_ENROLLED] = False
        return False
    if not device.verify_token(code.strip()):
        return False
    otp_login(request, device)
    return True


def mfa_disable(*, request: AuthenticatedHttpRequest) -> None:
    """Remove the user's authenticator app (refused where the role requires one)."""
    user = request.user
    _refuse_unverified_change(request)
    if mfa_required(user):
        raise NotAllowed("Your role requires two-factor sign-in; it cannot be turned off.")
    with transaction.atomic():
        if TOTPDevice.objects.filter(user=user).delete()[0]:
            audit_record(obj=user, action=AuditAction.MFA_REMOVED, by=user)
    request.session[MFA_ENROLLED] = False


def mfa_secret_text(device: TOTPDevice) -> str:
    """The secret as people type it into an app that cannot scan: base32 in groups of four."""
    secret = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def mfa_refusal_for_token(*, user: User, code: str) -> str:
    """Why a token may not be issued on a password alone ("" when it may): a script of a
    user with two-factor sign-in sends the app's current code as `otp` too."""
    device = mfa_device_of(user)
    if device is None:
        if mfa_required(user):
            return "Your role requires two-factor sign-in: set it up in the browser first."
        return ""
    if not code.strip() or not device.verify_token(code.strip()):
        return "Send the current code from your authenticator app as 'otp'."
    return ""


def mfa_qr_svg(device: TOTPDevice) -> str:
    """The otpauth:// link as an inline SVG QR code, drawn on the server (no script, no CDN)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4, border=2)
