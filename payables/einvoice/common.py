"""What every e-invoice syntax parses into, and the safe XML reading they all share.

UBL, CII, Factur-X and the CSV upload all end as one `ParsedInvoice`, so the capture
service, the command line, the browser upload and the API see the same thing.
"""

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import Element

from p2p.dates import implausible_date
from p2p.exceptions import DomainError
from p2p.money import ZERO
from p2p.xml import parse_untrusted

CENT = Decimal("0.01")
# Real e-invoices are a few kB; the largest example (with an embedded PDF) is 3.2 MB.
MAX_DOCUMENT_BYTES = 20 * 1024 * 1024
# Above what any invoice states and what the (18, 4) quantity columns can hold.
MAX_MAGNITUDE = Decimal("1e13")

INVOICE = "invoice"
CREDIT_NOTE = "credit_note"
# UNTDID 1001 codes that EN 16931 treats as credit notes (381 is the common one).
CREDIT_NOTE_TYPE_CODES = frozenset({"81", "83", "261", "262", "381", "396", "532"})
# What vendors type in the order reference when there is no purchase order.
_PLACEHOLDER_REFERENCES = frozenset(
    {"", "na", "n/a", "n.a.", "n.a", "-", "--", "none", "nil", "null", "0", "tbd", "unknown", "x"}
)

DTD_REFUSED = (
    "The file declares a DTD or entities, which e-invoices never do; it was refused unread."
)


class EInvoiceError(DomainError):
    """The file cannot be read as an e-invoice; the message tells the clerk why."""


@dataclass(frozen=True)
class DiscountTerms:
    """An early-payment discount the document states in a machine-readable way."""

    percent: Decimal
    days: int


@dataclass(frozen=True)
class AllowanceCharge:
    """A document-level allowance (reduces the net) or charge (adds to it), e.g. freight."""

    is_charge: bool
    amount: Decimal
    reason: str = ""
    tax_rate: Decimal | None = None


@dataclass(frozen=True)
class ParsedLine:
    """One invoice line as the document states it; unit_price is the net price per unit."""

    line_id: str
    description: str
    quantity: Decimal
    unit_code: str
    unit_price: Decimal
    net_amount: Decimal
    tax_rate: Decimal | None = None
    order_line_reference: str = ""


@dataclass
class ParsedInvoice:
    """An invoice or credit note read from a file, amounts exactly as the document states them.

    Amounts keep the document's sign: a negative invoice has a negative payable amount here;
    the capture service decides how to store it. All amounts are in the document currency.
    """

    syntax: str  # "ubl", "cii", "facturx" or "csv"
    document_type: str
    type_code: str
    number: str
    issue_date: dt.date
    due_date: dt.date | None
    currency: str
    lines: list[ParsedLine]
    tax_currency: str = ""
    seller_name: str = ""
    seller_trading_name: str = ""
    seller_tax_id: str = ""
    # Every identifier the seller gave (VAT, tax number, legal id, party ids), best first.
    seller_ids: tuple[str, ...] = ()
    seller_endpoint_id: str = ""
    buyer_name: str = ""
    # The purchase order number; empty when none or a placeholder such as "NA".
    order_reference: str = ""
    # The order reference exactly as written, placeholders included.
    order_reference_text: str = ""
    payment_terms_text: str = ""
    discount: DiscountTerms | None = None
    allowances_charges: list[AllowanceCharge] = field(default_factory=list)
    line_net_total: Decimal = ZERO
    allowance_total: Decimal = ZERO
    charge_total: Decimal = ZERO
    tax_exclusive_amount: Decimal = ZERO
    tax_total: Decimal = ZERO
    tax_inclusive_amount: Decimal = ZERO
    prepaid_amount: Decimal = ZERO
    rounding_amount: Decimal = ZERO
    payable_amount: Decimal = ZERO

    def as_summary(self) -> dict[str, object]:
        """The fields the command line prints, amounts as strings and dates as ISO."""
        return {
            "document_type": self.document_type,
            "number": self.number,
            "issue_date": self.issue_date.isoformat(),
            "due_date": self.due_date.isoformat() if self.due_date else None,
            "currency": self.currency,
            "seller_name": self.seller_name or None,
            "seller_tax_id": self.seller_tax_id or None,
            "order_reference": self.order_reference or None,
            "line_count": len(self.lines),
            "line_net_total": money_text(self.line_net_total),
            "tax_total": money_text(self.tax_total),
            "payable_amount": money_text(self.payable_amount),
        }


def money_text(amount: Decimal) -> str:
    """Two decimals, as e-invoices state totals."""
    return str(amount.quantize(CENT))


def read_xml(data: bytes) -> Element:
    """Parse untrusted XML: no DTD, no entities, no external references, bounded size."""
    check_size(data)
    return parse_untrusted(
        data, kind="e-invoices", error=EInvoiceError, then="ask the vendor to send it again."
    )


def check_size(data: bytes) -> None:
    """Refuse files beyond the limit before spending memory on them."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise EInvoiceError(
            f"The file is {len(data) / 1024 / 1024:.1f} MB; e-invoices above "
            f"{MAX_DOCUMENT_BYTES // 1024 // 1024} MB are refused."
        )


def text_of(element: Element | None) -> str:
    """The element's text with surrounding and inner runs of whitespace collapsed."""
    if element is None or element.text is None:
        return ""
    return " ".join(element.text.split())


def parse_amount(text: str, what: str) -> Decimal:
    """A decimal as XML states it ('100.', '-1500', '0.00101'); never a float."""
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        raise EInvoiceError(f"{what} '{text.strip()}' is not a number.") from None
    if not value.is_finite():
        raise EInvoiceError(f"{what} '{text.strip()}' is not a number.")
    if abs(value) >= MAX_MAGNITUDE:
        raise EInvoiceError(f"{what} '{text.strip()}' is too large to be real.")
    return value


def parse_iso_date(text: str, what: str) -> dt.date:
    try:
        value = dt.date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise EInvoiceError(f"{what} '{text.strip()}' is not a date.") from None
    return plausible_date(value, what)


def plausible_date(value: dt.date, what: str) -> dt.date:
    """The document date, or EInvoiceError when it is too far from today to be real."""
    if problem := implausible_date(value, what):
        raise EInvoiceError(problem)
    return value


def is_credit_note_code(type_code: str) -> bool:
    return type_code.strip() in CREDIT_NOTE_TYPE_CODES


def clean_order_reference(text: str) -> str:
    """The PO number, or empty when the vendor wrote a placeholder such as 'NA' or 'n/a'."""
    text = " ".join(text.split())
    return "" if text.lower() in _PLACEHOLDER_REFERENCES else text


def normalize_party_id(value: str) -> str:
    """VAT ids compare without spaces, dots or dashes and regardless of case."""
    return re.sub(r"[\s.\-]", "", value).upper()


_DUE_DAYS_PATTERNS = (
    # "Payment within 30 days", "innerhalb von 14 Tagen", "inom 30 dagar"
    re.compile(
        r"(?:within|innerhalb(?:\s+von)?|inom|innen|binnen|entro)\s+(\d{1,3})\s*"
        r"(?:calendar\s+)?(?:days|day|tagen|tage|dagar|dager|dage|dagen|giorni|jours)",
        re.IGNORECASE,
    ),
    # "30 dagar netto", "30 days net"
    re.compile(
        r"(\d{1,3})\s*(?:days|tage|dagar|dager|dage|dagen|jours)\s+(?:net|netto)\b", re.IGNORECASE
    ),
    # "Net 30", "netto 30 Tage"
    re.compile(r"\b(?:net|netto)\s*(\d{1,3})\b", re.IGNORECASE),
    # "Fällig nach Belegdatum + 10 Tage"
    re.compile(r"\+\s*(\d{1,3})\s*(?:days|tage|dagar|dager|dage|dagen)", re.IGNORECASE),
)
_DATE_IN_TEXT = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b|\b(\d{1,2})\.(\d{1,2})\.(\d{4})\b")
_DISCOUNT_PATTERNS = (
    # XRechnung: "#SKONTO#TAGE=14#PROZENT=2.00#"
    re.compile(r"#SKONTO#TAGE=(?P<days>\d{1,3})#PROZENT=(?P<pct>\d+(?:[.,]\d+)?)", re.IGNORECASE),
    # "2 % discount if paid within 2 days"
    re.compile(
        r"(?P<pct>\d+(?:[.,]\d+)?)\s*%\s*(?:discount|skonto|rabatt)\s+if\s+paid\s+within\s+"
        r"(?P<days>\d{1,3})\s*days?",
        re.IGNORECASE,
    ),
    # "Payment within 10 days, 2% discount"
    re.compile(
        r"within\s+(?P<days>\d{1,3})\s*days?\s*,\s*(?P<pct>\d+(?:[.,]\d+)?)\s*%\s*"
        r"(?:discount|skonto)",
        re.IGNORECASE,
    ),
)


def due_date_from_terms(text: str, issue_date: dt.date) -> dt.date | None:
    """The due date the payment terms text implies, when it says so plainly; else None."""
    if not text:
        return None
    # A discount clause's days are not the net days ("2 % discount if paid within 2 days").
    without_discount = _DISCOUNT_PATTERNS[1].sub(" ", _DISCOUNT_PATTERNS[0].sub(" ", text))
    for pattern in _DUE_DAYS_PATTERNS:
        found = pattern.search(without_discount)
        if found:
            return issue_date + dt.timedelta(days=int(found.group(1)))
    found = _DATE_IN_TEXT.search(text)
    if found:
        try:
            if found.group(1):
                return dt.date(int(found.group(1)), int(found.group(2)), int(found.group(3)))
            return dt.date(int(found.group(6)), int(found.group(5)), int(found.group(4)))
        except ValueError:
            return None
    return None


def discount_from_terms(text: str) -> DiscountTerms | None:
    """An early-payment discount stated plainly in the terms text, e.g. '2% if paid within 10 days'."""
    for pattern in _DISCOUNT_PATTERNS:
        found = pattern.search(text or "")
        if found:
            percent = Decimal(found.group("pct").replace(",", "."))
            if ZERO < percent < Decimal("100"):
                return DiscountTerms(percent=percent, days=int(found.group("days")))
    return None


def net_unit_price(
    price: Decimal | None, base_quantity: Decimal | None, quantity: Decimal, net_amount: Decimal
) -> Decimal:
    """The net price of one unit: the stated price divided by its base quantity.

    Some senders repeat the price in the base quantity ("1273 per 1273"); when the division
    does not reproduce the line amount but the plain price does, the plain price is meant.
    """
    if price is None:
        return abs(net_amount / quantity) if quantity else abs(net_amount)
    if not base_quantity or base_quantity == 1:
        return price
    per_unit = price / base_quantity
    if abs(per_unit) >= MAX_MAGNITUDE:
        raise EInvoiceError(f"The price {price} per {base_quantity} units is too large to be real.")
    if _reproduces(per_unit, quantity, net_amount) or not _reproduces(price, quantity, net_amount):
        return per_unit
    return price


def _reproduces(unit_price: Decimal, quantity: Decimal, net_amount: Decimal) -> bool:
    return abs(unit_price * quantity - net_amount) < CENT


def choose_seller_tax_id(vat_ids: list[str], other_ids: list[str]) -> str:
    """The VAT id when there is one, else the first other tax or legal id."""
    for value in [*vat_ids, *other_ids]:
        if value:
            return value
    return ""


def unique(values: list[str]) -> tuple[str, ...]:
    """Drop empties and repeats, keeping the first occurrence's order."""
    seen: dict[str, None] = {}
    for value in values:
        if value and value not in seen:
            seen[value] = None
    return tuple(seen)
