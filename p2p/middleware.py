"""Every page requires login; the API answers 401/403 itself instead of redirecting."""

from django.contrib.auth.middleware import LoginRequiredMiddleware


class LoginRequiredEverywhere(LoginRequiredMiddleware):
    """Django's login-required middleware, minus the API (DRF authenticates tokens there)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/") or request.path_info.startswith("/static/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
