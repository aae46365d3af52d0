"""Roles are Django groups; this module is the one place that says who may use what."""

from collections.abc import Callable
from enum import StrEnum
from functools import cache, wraps
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


class Perm(StrEnum):
    """What a person may do; MATRIX says which roles hold each permission."""

    # Anyone with a role: the API docs, mentions, an exception they were @mentioned on.
    USE_APP = "use_app"
    READ_DASHBOARD = "read_dashboard"
    SEE_BUYER_KPIS = "see_buyer_kpis"
    SEE_AP_KPIS = "see_ap_kpis"
    READ_REPORT = "read_report"
    DRILL_EXCEPTIONS = "drill_exceptions"
    SET_TARGETS = "set_targets"
    EDIT_KPI_ACTIONS = "edit_kpi_actions"
    # Requests, purchase orders and their life: procurement, AP and finance.
    READ_PURCHASING = "read_purchasing"
    # Every request, not only one's own (a requester sees what she raised).
    READ_ALL_REQUESTS = "read_all_requests"
    RAISE_REQUEST = "raise_request"
    APPROVE_REQUEST = "approve_request"
    # Set up or end a delegation on someone else's behalf.
    DELEGATE_FOR_OTHERS = "delegate_for_others"
    READ_APPROVAL_RULES = "read_approval_rules"
    KEEP_APPROVAL_RULES = "keep_approval_rules"
    READ_BUDGETS = "read_budgets"
    KEEP_BUDGETS = "keep_budgets"
    MANAGE_ORDERS = "manage_orders"
    RECEIVE_GOODS = "receive_goods"
    # Still read what was removed from a document (attachments taken off a request).
    READ_REMOVED = "read_removed"
    READ_VENDORS = "read_vendors"
    EDIT_VENDORS = "edit_vendors"
    REQUEST_BANK_CHANGE = "request_bank_change"
    APPROVE_BANK_CHANGE = "approve_bank_change"
    EDIT_CONTRACTS = "edit_contracts"
    READ_PAYMENT_HOLDS = "read_payment_holds"
    READ_INVOICES = "read_invoices"
    CAPTURE_INVOICE = "capture_invoice"
    # Open the exceptions pages; what each holder sees is narrowed by the selector.
    READ_EXCEPTIONS = "read_exceptions"
    WORK_ALL_EXCEPTIONS = "work_all_exceptions"
    ANSWER_DISPUTES = "answer_disputes"
    RESOLVE_IN_BULK = "resolve_in_bulk"
    # Take over another clerk's claim or bulk job.
    SUPERVISE_EXCEPTIONS = "supervise_exceptions"
    ACCEPT_LARGE_VARIANCE = "accept_large_variance"
    READ_PAYMENTS = "read_payments"
    HOLD_PAYMENT = "hold_payment"
    PROPOSE_RUN = "propose_run"
    APPROVE_RUN = "approve_run"
    # Approve a run above the AP manager's limit.
    APPROVE_LARGE_RUN = "approve_large_run"
    # Export, mark paid, confirm with the bank, cancel and send remittances.
    OPERATE_RUN = "operate_run"
    VOID_PAYMENT = "void_payment"
    EDIT_PAYMENT_SETTINGS = "edit_payment_settings"
    # Exchange rates: read them, and import the ECB file or enter a rate by hand.
    READ_RATES = "read_rates"
    MANAGE_RATES = "manage_rates"


_STAFF = (REQUESTER, APPROVER, BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER)
_AP = (AP_CLERK, AP_MANAGER)
_FINANCE_TEAM = (BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER)

# Who may do what: every permission check in services, views, the API and templates reads
# this table. Superusers hold every permission.
MATRIX: dict[Perm, frozenset[str]] = {
    perm: frozenset(holders)
    for perm, holders in {
        Perm.USE_APP: ALL_ROLES,
        Perm.READ_DASHBOARD: _STAFF,
        Perm.SEE_BUYER_KPIS: (BUYER, FINANCE_LEADER),
        Perm.SEE_AP_KPIS: (AP_CLERK, AP_MANAGER, FINANCE_LEADER),
        Perm.READ_REPORT: _FINANCE_TEAM,
        Perm.DRILL_EXCEPTIONS: _FINANCE_TEAM,
        # Finance leaders own the targets; those who commit to the weekly actions record them.
        Perm.SET_TARGETS: (FINANCE_LEADER,),
        Perm.EDIT_KPI_ACTIONS: (BUYER, AP_MANAGER, FINANCE_LEADER),
        Perm.READ_PURCHASING: _STAFF,
        Perm.READ_ALL_REQUESTS: (APPROVER, BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER),
        Perm.RAISE_REQUEST: (REQUESTER,),
        Perm.APPROVE_REQUEST: (APPROVER, FINANCE_LEADER),
        Perm.DELEGATE_FOR_OTHERS: (ADMIN,),
        Perm.READ_APPROVAL_RULES: (APPROVER, FINANCE_LEADER, ADMIN),
        Perm.KEEP_APPROVAL_RULES: (FINANCE_LEADER, ADMIN),
        Perm.READ_BUDGETS: (APPROVER, BUYER, FINANCE_LEADER, ADMIN),
        Perm.KEEP_BUDGETS: (FINANCE_LEADER, ADMIN),
        Perm.MANAGE_ORDERS: (BUYER,),
        Perm.RECEIVE_GOODS: (REQUESTER, BUYER),
        Perm.READ_REMOVED: (FINANCE_LEADER, ADMIN),
        Perm.READ_VENDORS: _FINANCE_TEAM,
        Perm.EDIT_VENDORS: (BUYER, AP_MANAGER, ADMIN),
        Perm.REQUEST_BANK_CHANGE: (BUYER, AP_CLERK, AP_MANAGER),
        # Four eyes on bank details: the checker must be someone other than the maker.
        Perm.APPROVE_BANK_CHANGE: (BUYER, AP_MANAGER),
        Perm.EDIT_CONTRACTS: (BUYER, ADMIN),
        Perm.READ_PAYMENT_HOLDS: (AP_CLERK, AP_MANAGER, BUYER),
        Perm.READ_INVOICES: (AP_CLERK, AP_MANAGER, FINANCE_LEADER, BUYER),
        Perm.CAPTURE_INVOICE: _AP,
        Perm.READ_EXCEPTIONS: (AP_CLERK, AP_MANAGER, BUYER, REQUESTER),
        Perm.WORK_ALL_EXCEPTIONS: _AP,
        Perm.ANSWER_DISPUTES: (BUYER,),
        Perm.RESOLVE_IN_BULK: _AP,
        Perm.SUPERVISE_EXCEPTIONS: (AP_MANAGER,),
        Perm.ACCEPT_LARGE_VARIANCE: (AP_MANAGER,),
        Perm.READ_PAYMENTS: (AP_CLERK, AP_MANAGER, FINANCE_LEADER),
        Perm.HOLD_PAYMENT: _AP,
        Perm.PROPOSE_RUN: _AP,
        Perm.APPROVE_RUN: (AP_MANAGER, FINANCE_LEADER),
        Perm.APPROVE_LARGE_RUN: (FINANCE_LEADER,),
        Perm.OPERATE_RUN: (AP_CLERK, AP_MANAGER, FINANCE_LEADER),
        Perm.VOID_PAYMENT: (AP_MANAGER,),
        Perm.EDIT_PAYMENT_SETTINGS: (FINANCE_LEADER,),
        Perm.READ_RATES: (APPROVER, BUYER, AP_CLERK, AP_MANAGER, FINANCE_LEADER, ADMIN),
        # Rates move every amount compared across currencies: finance keeps them.
        Perm.MANAGE_RATES: (AP_MANAGER, FINANCE_LEADER, ADMIN),
    }.items()
}


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
    """True when the user is in any of the groups (superusers are in all).

    For who someone is (an approval step's group, the landing page); what someone may do
    is a permission: use `may`.
    """
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return bool(roles_of(user) & set(roles))


def holders(perm: Perm) -> frozenset[str]:
    """The role names that hold a permission (to list the people who could act)."""
    return MATRIX[perm]


def may(user: User | AnonymousUser, perm: Perm) -> bool:
    """True when one of the user's roles holds the permission (superusers hold all)."""
    return has_role(user, *MATRIX[perm])


def require(user: User | AnonymousUser, perm: Perm) -> None:
    """Raise NotAllowed unless the user holds the permission; used by services and views."""
    if not may(user, perm):
        raise NotAllowed("Your role does not allow this.")


def role_required(perm: Perm) -> Callable:
    """View decorator: 403 for a logged-in user without the permission."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any):
            require(request.user, perm)
            return view(request, *args, **kwargs)

        # Says on the view which permission it needs, for whoever inspects the URL conf.
        wrapped.required_perm = perm  # type: ignore[attr-defined]
        return wrapped

    return decorator


@cache
def api_permission(perm: Perm) -> type[BasePermission]:
    """A DRF permission class admitting authenticated users who hold the permission."""

    class HasPerm(BasePermission):
        message = "Your role does not allow this."

        def has_permission(self, request, view) -> bool:
            return may(request.user, perm)

    HasPerm.__name__ = f"May_{perm.value}"
    return HasPerm


class UserPerms:
    """`{% if perms_p2p.approve_run %}`: a template asks the matrix by permission name."""

    def __init__(self, user: User | AnonymousUser):
        self.user = user

    def __getitem__(self, name: str) -> bool:
        try:
            perm = Perm(name)
        except ValueError:
            raise KeyError(name) from None
        return may(self.user, perm)

    def __contains__(self, name: str) -> bool:
        return self[name]


# (label, url name, permission) — the navigation shows each user only what they may use.
NAVIGATION = (
    ("Dashboard", "metrics:dashboard", Perm.READ_DASHBOARD),
    ("Weekly sync", "metrics:weekly_report", Perm.READ_REPORT),
    ("My requests", "procurement:request_list", Perm.RAISE_REQUEST),
    ("Approvals", "procurement:approval_inbox", Perm.APPROVE_REQUEST),
    ("Purchase orders", "procurement:po_list", Perm.READ_PURCHASING),
    ("Budgets", "procurement:budget_list", Perm.READ_BUDGETS),
    ("Vendors", "vendors:vendor_list", Perm.READ_VENDORS),
    ("Invoices", "payables:invoice_list", Perm.READ_INVOICES),
    ("Exceptions", "payables:exception_list", Perm.READ_EXCEPTIONS),
    ("Payment runs", "payables:run_list", Perm.READ_PAYMENTS),
    ("Exchange rates", "currencies:rate_list", Perm.READ_RATES),
    ("API", "api-docs", Perm.USE_APP),
)


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Template context: the menu entries this user may open, role names and permissions."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_roles": [], "perms_p2p": UserPerms(AnonymousUser())}
    path = request.path
    items = []
    for label, url_name, perm in NAVIGATION:
        if may(user, perm):
            url = reverse(url_name)
            items.append(
                {"label": label, "url": url, "active": path.startswith(url) and url != "/"}
            )
    return {"nav_items": items, "user_roles": sorted(roles_of(user)), "perms_p2p": UserPerms(user)}
