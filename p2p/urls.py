"""URL map: one prefix per app, the API under /api/, docs served without a CDN."""

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from p2p import views
from p2p.api import api_root_urls

# Every app registers its ViewSets on its own router; named by string, so the core imports no app.
API_URLCONFS = [
    include(f"{app}.api_urls") for app in ("currencies", "vendors", "procurement", "payables")
]

# A refusal (NotAllowed, PermissionDenied) that reaches Django renders the styled 403 page.
handler403 = views.forbidden

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/confirm-password/", views.password_confirm, name="password_confirm"),
    path("account/two-factor/", views.two_factor, name="two_factor"),
    path("account/two-factor/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("account/api-tokens/", views.api_tokens, name="api_tokens"),
    path("account/api-tokens/new/", views.api_token_create, name="api_token_create"),
    path(
        "account/api-tokens/revoke-all/", views.api_tokens_revoke_all, name="api_tokens_revoke_all"
    ),
    path(
        "account/api-tokens/<str:token_key>/revoke/",
        views.api_token_revoke,
        name="api_token_revoke",
    ),
    path("admin/", admin.site.urls),
    path("vendors/", include("vendors.urls")),
    path("procurement/", include("procurement.urls")),
    path("payables/", include("payables.urls")),
    path("metrics/", include("metrics.urls")),
    path("currencies/", include("currencies.urls")),
    # Upper apps first: payables serves AP's figures under /api/vendors/ (payment-holds), which
    # the vendors router's /api/vendors/{id}/ would otherwise take for a vendor id.
    *(path("api/", urlconf) for urlconf in reversed(API_URLCONFS)),
    path("api/", include(api_root_urls(API_URLCONFS))),
    path("api/auth/token/", views.ObtainToken.as_view(), name="api-token"),
    path("api/auth/logout/", views.RevokeToken.as_view(), name="api-logout"),
    path("api/auth/logout-all/", views.RevokeAllTokens.as_view(), name="api-logout-all"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script as a file, so the CSP needs no inline script;
    # Swagger UI still sets styles from script, which only this page allows.
    path(
        "api/docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="api-schema")
        ),
        name="api-docs",
    ),
    # Browsers ask for /favicon.ico on pages without an icon link (the admin, raw files).
    path("favicon.ico", views.favicon),
]
