"""Sign-in protection and API tokens: what happens around a password, in one place."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


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
