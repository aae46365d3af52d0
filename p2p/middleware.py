"""Every page requires login (the API answers 401/403 itself), and sessions time out."""

import time
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.http import JsonResponse
from django.shortcuts import redirect
from django.urls import reverse

from p2p import accounts


class LoginRequiredEverywhere(LoginRequiredMiddleware):
    """Django's login-required middleware, minus the API (DRF authenticates tokens there)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/") or request.path_info.startswith("/static/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class SessionTimeouts:
    """Signs a user out after SESSION_IDLE_MINUTES without a request (shorter for the roles
    in SESSION_IDLE_MINUTES_BY_ROLE, who can pay money out) or SESSION_MAX_HOURS after sign-in,
    whichever comes first. Placed before LoginRequiredEverywhere, which then sends the user
    to the login page and back."""

    # Writing the session on every request would cost a database write per page; a
    # minute's precision is plenty for a timeout counted in tens of minutes.
    TOUCH_EVERY_SECONDS = 60

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated:
            self.expire_or_touch(request)
        return self.get_response(request)

    def expire_or_touch(self, request) -> None:
        session = request.session
        now = time.time()
        # A session without the sign-in stamp predates these limits: treat it as too old.
        signed_in_at = session.get(accounts.SIGNED_IN_AT, 0)
        last_seen = session.get(accounts.LAST_SEEN, now)
        idle_minutes = accounts.idle_minutes_for(request.user)
        if now - last_seen > idle_minutes * 60:
            reason = f"You were signed out after {idle_minutes} minutes without activity."
        elif now - signed_in_at > settings.SESSION_MAX_HOURS * 3600:
            reason = f"You were signed out {settings.SESSION_MAX_HOURS} hours after signing in."
        else:
            if now - session.get(accounts.LAST_SEEN, 0) > self.TOUCH_EVERY_SECONDS:
                session[accounts.LAST_SEEN] = now
            return
        logout(request)
        messages.info(request, f"{reason} Please sign in again.")


class TwoFactorRequired:
    """After the password, a user with an authenticator app must enter its code, and a user
    whose role requires one (MFA_REQUIRED_ROLES) must first enrol; until then only the
    two-factor pages and logout answer. Placed after django-otp's OTPMiddleware."""

    OPEN_PATHS = ("/account/two-factor/", "/logout/", "/login/", "/static/", "/favicon.ico")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not user.is_verified()
            and not request.path_info.startswith(self.OPEN_PATHS)
        ):
            enrolled = accounts.mfa_enrolled(request)
            if enrolled or accounts.mfa_required(user):
                return self.refuse(request, enrolled)
        return self.get_response(request)

    def refuse(self, request, enrolled: bool):
        # Token clients never reach here (DRF authenticates them later); this is a browser
        # session calling the API before its second factor.
        if request.path_info.startswith("/api/"):
            return JsonResponse(
                {"detail": "Enter your two-factor code in the browser first."}, status=403
            )
        target = "two_factor_verify" if enrolled else "two_factor"
        return redirect(f"{reverse(target)}?{urlencode({'next': request.get_full_path()})}")
