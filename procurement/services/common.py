"""Small helpers the procurement services share: names and amounts as people read them,
the currency check, approver groups and locking a PO."""

from decimal import Decimal

from django.contrib.auth.models import Group, User

from p2p.exceptions import DomainError
from p2p.money import format_money
from procurement.models import PurchaseOrder


def _name(user: User | None) -> str:
    if user is None:
        return "—"
    return user.get_full_name() or user.get_username()


def _money(amount: Decimal, currency: str) -> str:
    return format_money(amount, currency)


def _num(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _check_currency(currency: str) -> str:
    code = (currency or "").strip().upper()
    if len(code) != 3 or not code.isalpha():
        raise DomainError(f"'{currency}' is not a currency code; use three letters such as EUR.")
    return code


def _group(name: str) -> Group:
    return Group.objects.get_or_create(name=name)[0]


def _lock_po(po: PurchaseOrder) -> PurchaseOrder:
    return PurchaseOrder.objects.select_for_update().select_related("vendor").get(pk=po.pk)
