"""Sign-in protection and API tokens: what happens around a password, in one place."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from knox.models import AuthToken

from p2p.audit import audit_record


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
