"""Contract prices as procurement sees them; the vendors app owns contracts and their lookup.

Procurement (and payables, showing an exception's contract price) asks two questions — which contract items a vendor offers, and what an item
costs under the contract in force on a day — through vendors.selectors, so there is one
definition of "the active contract price".
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from vendors import selectors as vendor_selectors
from vendors.models import Vendor


@dataclass(frozen=True)
class ContractItem:
    """One rate-card line a requester can pick."""

    item_code: str
    description: str
    uom: str
    unit_price: Decimal
    currency: str
    contract_number: str


def normalize_item_code(item_code: str) -> str:
    """Item codes are compared the way the vendors app stores them: trimmed, upper case."""
    return (item_code or "").strip().upper()


def contract_items(vendor: Vendor | None) -> list[ContractItem]:
    """The items on the vendor's contracts in force today, for the request form."""
    if vendor is None:
        return []
    return [
        ContractItem(
            item_code=line.item_code,
            description=line.description,
            uom=line.uom or "EA",
            unit_price=line.unit_price,
            currency=line.contract.currency,
            contract_number=line.contract.number,
        )
        for line in vendor_selectors.contract_items_for(vendor)
    ]


def contract_price(
    *, vendor_id: int, item_code: str, on_date: dt.date, currency: str
) -> Decimal | None:
    """The unit price of an item under the vendor's contract in force on the day, if any."""
    code = normalize_item_code(item_code)
    if not code:
        return None
    line = vendor_selectors.active_contract_price(
        vendor_id=vendor_id, item_code=code, on_date=on_date, currency=currency
    )
    return line.unit_price if line is not None else None
