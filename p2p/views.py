"""Platform-level pages: the home redirect, API tokens and the API token endpoint."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_POST
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from p2p import accounts, roles
from p2p.exceptions import NotAllowed
from p2p.http import AuthenticatedHttpRequest, AuthenticatedRequest


def forbidden(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The 403 page (`handler403`): why, in the site's layout with the user's navigation."""
    message = str(exception or "") or "You may not open this page."
    return render(request, "403.html", {"message": message}, status=403)


def home(request: AuthenticatedHttpRequest) -> HttpResponse:
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


@login_not_required
def favicon(request: HttpRequest) -> HttpResponse:
    """The icon for pages without an icon link (the admin, raw files); resolved per request
    because the hashed static name is only known once collectstatic has run."""
    return redirect(static("favicon.svg"), permanent=True)


def api_tokens(request: AuthenticatedHttpRequest, new_token: str = "") -> HttpResponse:
    """The signed-in user's API tokens: when each was issued and expires, with revoke."""
    return render(
        request,
        "account/api_tokens.html",
        {"tokens": accounts.api_tokens_of(request.user), "new_token": new_token},
    )


@require_POST
def api_token_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Issue a token and show its secret once, in this response only (it is stored hashed)."""
    _, secret = accounts.api_token_issue(user=request.user)
    return api_tokens(request, new_token=secret)


@require_POST
def api_token_revoke(request: AuthenticatedHttpRequest, token_key: str) -> HttpResponse:
    """Revoke one of the user's own tokens; scripts using it get 401 from now on."""
    if accounts.api_token_revoke(user=request.user, token_key=token_key, by=request.user):
        messages.success(request, f"Token {token_key}… revoked.")
    else:
        messages.error(request, "That token no longer exists.")
    return redirect("api_tokens")


@require_POST
def api_tokens_revoke_all(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Revoke every token of the user, e.g. after a laptop was lost."""
    revoked = accounts.api_tokens_revoke_all(
        user=request.user, by=request.user, why="revoked all from the API tokens page"
    )
    messages.success(request, f"{revoked} API token{'s' if revoked != 1 else ''} revoked.")
    return redirect("api_tokens")


def password_confirm(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Ask a signed-in user for their password again before an act that moves money."""
    next_url = accounts.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error = ""
    if request.method == "POST":
        if accounts.password_confirm(request=request, password=request.POST.get("password", "")):
            messages.success(request, "Password confirmed.")
            return redirect(next_url)
        error = "That password is not right."
    return render(request, "account/password_confirm.html", {"next": next_url, "error": error})


def two_factor(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Two-factor sign-in: status, enrolment with a QR code and a first code, or removal."""
    next_url = accounts.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    if accounts.mfa_change_needs_code(request):
        # The page is open before the second factor (to enrol); an enrolled user proves the
        # current app first, or a stolen password could swap in the thief's phone.
        return redirect(f"{reverse('two_factor_verify')}?{urlencode({'next': next_url})}")
    device = accounts.mfa_device_of(request.user)
    error = ""
    if request.method == "POST" and request.POST.get("action") == "confirm":
        if accounts.mfa_enrolment_confirm(request=request, code=request.POST.get("code", "")):
            messages.success(request, "Two-factor sign-in is on: keep the app on your phone.")
            return redirect(next_url)
        error = "That code is not right. Check the phone's clock and enter the newest code."
    elif request.method == "POST" and request.POST.get("action") == "remove":
        try:
            accounts.mfa_disable(request=request)
        except NotAllowed as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Two-factor sign-in is off.")
        return redirect("two_factor")
    pending = None
    if request.method == "POST" and request.POST.get("action") in ("start", "confirm"):
        pending = accounts.mfa_pending_device(user=request.user, keep=bool(error))
    return render(
        request,
        "account/two_factor.html",
        {
            "device": device,
            "pending": pending,
            "qr_svg": accounts.mfa_qr_svg(pending) if pending else "",
            "secret": accounts.mfa_secret_text(pending) if pending else "",
            "required": accounts.mfa_required(request.user),
            "next": next_url,
            "error": error,
        },
    )


def two_factor_verify(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The second step of signing in: a code from the user's authenticator app."""
    next_url = accounts.safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error = ""
    if request.method == "POST":
        if accounts.mfa_verify(request=request, code=request.POST.get("code", "")):
            return redirect(next_url)
        error = "That code is not right. Enter the newest code from your app."
    return render(request, "account/two_factor_verify.html", {"next": next_url, "error": error})


class TokenRequestSerializer(AuthTokenSerializer):
    otp = serializers.CharField(
        required=False,
        write_only=True,
        help_text="The authenticator app's current code, for users with two-factor sign-in.",
    )


class ObtainToken(APIView):
    """POST username and password, get an API token (for scripts and integrations)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    serializer_class = TokenRequestSerializer

    @extend_schema(
        request=TokenRequestSerializer,
        responses={
            200: inline_serializer(
                "IssuedToken",
                {"token": serializers.CharField(), "expiry": serializers.DateTimeField()},
            ),
            400: OpenApiResponse(description="Wrong username or password."),
            403: OpenApiResponse(description="Two-factor code missing or wrong."),
            429: OpenApiResponse(description="Locked after too many wrong passwords."),
        },
    )
    def post(self, request: Request) -> Response:
        serializer = TokenRequestSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        refusal = accounts.mfa_refusal_for_token(
            user=user, code=serializer.validated_data.get("otp", "")
        )
        if refusal:
            return Response({"detail": refusal}, status=status.HTTP_403_FORBIDDEN)
        token, secret = accounts.api_token_issue(user=user)
        return Response({"token": secret, "expiry": token.expiry})

    # Returns Django's lockout response where DRF expects its own Response; DRF sends any
    # HttpResponse as it is.
    def handle_exception(self, exc: Exception) -> HttpResponse:  # type: ignore[override]
        # Axes marks DRF's request wrapper, which its middleware never sees.
        if getattr(self.request, "axes_locked_out", False):
            return accounts.lockout_response(self.request)
        return super().handle_exception(exc)


class RevokeToken(APIView):
    """POST with a token to revoke that token (a script signing out)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: AuthenticatedRequest) -> Response:
        if request.auth is not None:
            accounts.api_token_revoke(
                user=request.user, token_key=request.auth.token_key, by=request.user
            )
        return Response(status=status.HTTP_204_NO_CONTENT)


class RevokeAllTokens(APIView):
    """POST to revoke every API token of the caller (sign out everywhere)."""

    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={204: None})
    def post(self, request: AuthenticatedRequest) -> Response:
        accounts.api_tokens_revoke_all(user=request.user, by=request.user, why="API logout-all")
        return Response(status=status.HTTP_204_NO_CONTENT)
