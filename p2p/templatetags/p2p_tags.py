"""Template filters and tags shared by every page: money, quantities, percentages, statuses."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django import template

from p2p.money import format_money

register = template.Library()

DASH = "—"


def _to_decimal(value: Any) -> Decimal | None:
    # str() first so floats from ratios become their short repr, not binary noise.
    if value is None or value == "":
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@register.filter
def money(amount: Decimal | None, currency: str) -> str:
    """`{{ invoice.total|money:invoice.currency }}` → '1,234.50 EUR'; '—' when empty."""
    if amount is None or amount == "":
        return DASH
    return format_money(_to_decimal(amount), currency or "")


@register.filter
def qty(value: Decimal | None) -> str:
    """`{{ line.quantity|qty }}`: Decimal('10.0000') → '10', Decimal('2.5000') → '2.5', with separators."""
    number = _to_decimal(value)
    if number is None:
        return DASH
    text = f"{number:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@register.filter
def humanize_status(value: str | None) -> str:
    """'partially_received' → 'Partially received'."""
    if not value:
        return ""
    return str(value).replace("_", " ").capitalize()


# Words an audit key spells in lower case that a finance reader knows in capitals or as a sign.
AUDIT_KEY_WORDS = {
    "iban": "IBAN",
    "bic": "BIC",
    "gl": "GL",
    "po": "PO",
    "vat": "VAT",
    "csv": "CSV",
    "id": "ID",
    "ids": "IDs",
    "sha256": "SHA-256",
    "pct": "%",
}


@register.filter
def audit_label(key: str) -> str:
    """An audit key as a label: 'cost_of_capital_pct' → 'Cost of capital %', 'iban' → 'IBAN'."""
    words = humanize_status(key).split(" ")
    return " ".join(AUDIT_KEY_WORDS.get(word.lower(), word) for word in words)


@register.filter
def audit_change(value: Any) -> str:
    """An audit trail value: an [old, new] pair reads 'old → new'; blanks read '—'."""
    if isinstance(value, list | tuple) and len(value) == 2:
        old, new = (DASH if part in (None, "") else part for part in value)
        return f"{old} → {new}"
    return DASH if value in (None, "") else str(value)


@register.filter
def pct(value: Decimal | float | None, places: int = 1) -> str:
    """A ratio 0..1 as a percentage: `{{ rate|pct }}` → '87.5 %', `{{ rate|pct:0 }}` → '88 %'."""
    ratio = _to_decimal(value)
    if ratio is None:
        return DASH
    exponent = Decimal(1).scaleb(-int(places))
    return f"{(ratio * 100).quantize(exponent, rounding=ROUND_HALF_UP)} %"


@register.inclusion_tag("components/status_badge.html")
def status_badge(document: Any) -> dict[str, str]:
    """`{% status_badge invoice %}`: the coloured badge for any model with a `status` choice field."""
    return {"status": document.status, "label": document.get_status_display()}
