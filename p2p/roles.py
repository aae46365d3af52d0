"""Roles are Django groups; this module is the one place that says who may use what."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.urls import reverse
from rest_framework.permissions import BasePermission

from p2p.exceptions import NotAllowed

REQUESTER = "requester"
APPROVER = "approver"
BUYER = "buyer"
AP_CLERK = "ap_clerk"
AP_MANAGER = "ap_manager"
FINANCE_LEADER = "finance_leader"
ADMIN = "admin"

ALL_ROLES = (REQUESTER, APPROVER, BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER, ADMIN)
AP = (AP_CLERK, AP_MANAGER)
# Everyone who may read purchase orders and their life: procurement, AP and finance.
PO_READERS = (REQUESTER, APPROVER, BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER)
INVOICE_READERS = (AP_CLERK, AP_MANAGER, FINANCE_LEADER, BUYER)
PAYMENT_READERS = (AP_CLERK, AP_MANAGER, FINANCE_LEADER)
# Who may open the exceptions page; what each of them sees is narrowed by the selector.
EXCEPTION_READERS = (AP_CLERK, AP_MANAGER, BUYER, REQUESTER)
DASHBOARD_READERS = (REQUESTER, APPROVER, BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER)
# Who may still read what was removed from a document (attachments taken off a request).
AUDIT_READERS = (FINANCE_LEADER, ADMIN)


def roles_of(user: User | AnonymousUser) -> frozenset[str]:
    """The role names of a user, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_p2p_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True))
        if user.is_superuser:
            cached = cached | {ADMIN}
        # A per-request cache on the user object, not a model field.
        user._p2p_roles = cached  # type: ignore[attr-defined]
    return cached


def has_role(user: User | AnonymousUser, *roles: str) -> bool:
    """True when the user holds any of the roles (superusers hold all)."""
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return bool(roles_of(user) & set(roles))


def require_role(user: User | AnonymousUser, *roles: str) -> None:
    """Raise NotAllowed unless the user holds one of the roles; used by services."""
    if not has_role(user, *roles):
        raise NotAllowed("Your role does not allow this.")


def role_required(*roles: str) -> Callable:
    """View decorator: 403 for a logged-in user without any of the roles."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any):
            require_role(request.user, *roles)
            return view(request, *args, **kwargs)

        # Says on the view which roles it admits, for whoever inspects the URL conf.
        wrapped.required_roles = roles  # type: ignore[attr-defined]
        return wrapped

    return decorator


def api_roles(*roles: str) -> type[BasePermission]:
    """A DRF permission class admitting authenticated users with any of the roles."""

    class HasRole(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view) -> bool:
            return has_role(request.user, *roles)

    HasRole.__name__ = f"HasRole_{'_'.join(roles)}"
    return HasRole


# (label, url name, roles) — the navigation shows each user only what they may use.
NAVIGATION = (
    ("Dashboard", "metrics:dashboard", DASHBOARD_READERS),
    ("Weekly sync", "metrics:weekly_report", (BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER)),
    ("My requests", "procurement:request_list", (REQUESTER,)),
    ("Approvals", "procurement:approval_inbox", (APPROVER, FINANCE_LEADER)),
    ("Purchase orders", "procurement:po_list", PO_READERS),
    ("Budgets", "procurement:budget_list", (APPROVER, BUYER, FINANCE_LEADER)),
    ("Vendors", "vendors:vendor_list", (BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER)),
    ("Invoices", "payables:invoice_list", INVOICE_READERS),
    ("Exceptions", "payables:exception_list", (AP_CLERK, AP_MANAGER, BUYER, REQUESTER)),
    ("Payment runs", "payables:run_list", PAYMENT_READERS),
    ("API", "api-docs", ALL_ROLES),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: the menu entries this user may open, and their role names."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": []}
    path = request.path
    items = []
    for label, url_name, roles in NAVIGATION:
        if has_role(user, *roles):
            url = reverse(url_name)
            items.append(
                {"label": label, "url": url, "active": path.startswith(url) and url != "/"}
            )
    return {"nav_items": items, "user_roles": sorted(roles_of(user))}
