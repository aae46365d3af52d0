"""Money helpers: one rounding rule (half-up to the currency's minor unit) for the whole product."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import pycountry

from p2p.exceptions import DomainError

# ISO 4217 minor units for the currencies where it is not 2.
_MINOR_UNITS = {
    "JPY": 0,
    "KRW": 0,
    "ISK": 0,
    "CLP": 0,
    "VND": 0,
    "BHD": 3,
    "KWD": 3,
    "JOD": 3,
    "OMR": 3,
    "TND": 3,
}

ZERO = Decimal("0")
CENT = Decimal("0.01")
FOUR_PLACES = Decimal("0.0001")


# ISO 4217 codes that are not money anyone invoices or pays in: precious metals, fund units,
# the SDR and the testing / "no currency" codes.
NOT_MONEY_CURRENCIES = frozenset(
    {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
)


def money_currency(value: str) -> str | None:
    """The ISO 4217 code, upper case, of a currency money is invoiced and paid in; else None."""
    code = (value or "").strip().upper()
    if len(code) != 3 or code in NOT_MONEY_CURRENCIES:
        return None
    return code if pycountry.currencies.get(alpha_3=code) is not None else None


def minor_units(currency: str) -> int:
    """Number of decimals the currency is paid in."""
    return _MINOR_UNITS.get(currency.upper(), 2)


def parse_decimal(value: object, label: str) -> Decimal:
    """Read a number typed or imported by a clerk ("1,250.00" too); refuse anything else."""
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        raise DomainError(f"{label} must be a number, got '{value}'.") from None
    if not number.is_finite():
        raise DomainError(f"{label} must be a number, got '{value}'.")
    return number


def round_money(amount: Decimal, currency: str = "EUR") -> Decimal:
    """Round an amount half-up to the currency's minor unit; store-ready for (18, 2) columns."""
    if not isinstance(amount, Decimal):
        raise TypeError("money must be Decimal, never float")
    exponent = Decimal(1).scaleb(-minor_units(currency))
    return amount.quantize(exponent, rounding=ROUND_HALF_UP).quantize(CENT)


def round_quantity(value: Decimal) -> Decimal:
    """Quantities and unit prices keep four decimals, rounded half-up."""
    return value.quantize(FOUR_PLACES, rounding=ROUND_HALF_UP)


def line_amount(quantity: Decimal, unit_price: Decimal, currency: str) -> Decimal:
    """The extended amount of a document line, rounded once at the end."""
    return round_money(quantity * unit_price, currency)


def format_money(amount: Decimal | None, currency: str) -> str:
    """'1,234.50 EUR' with the currency's own number of decimals."""
    if amount is None:
        return "—"
    places = minor_units(currency)
    return f"{amount:,.{places}f} {currency}"
