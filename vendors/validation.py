"""Checking vendor master data with well-kept libraries, in words a clerk understands.

Tax ids go through python-stdnum (EU VAT numbers with their check digits, US EINs, and the
national VAT / business numbers stdnum knows), bank details through schwifty (IBAN check
digits and national BBAN rules, BIC structure and country), countries and currencies
through pycountry's ISO 3166 and ISO 4217 tables. Each function returns the clean, compact
value to store or raises DomainError with the message to show.
"""

import pycountry
from schwifty import BIC, IBAN
from schwifty import exceptions as bank_errors
from stdnum import exceptions as tax_errors
from stdnum import get_cc_module
from stdnum.eu import vat as eu_vat

from p2p.exceptions import DomainError
from p2p.money import NOT_MONEY_CURRENCIES, money_currency

# The VAT prefix differs from the ISO country code for Greece only.
_VAT_PREFIX = {"GR": "EL"}
_EU_VAT_COUNTRIES = frozenset(code.upper() for code in eu_vat.MEMBER_STATES) | {"EL"}
# Which stdnum module identifies a business in a country, in order of preference.
_TAX_ID_KINDS = ("vat", "ein", "tin", "businessid")
_EXAMPLES = {
    "NL": "NL123456789B01",
    "DE": "DE123456789",
    "BE": "BE0123456789",
    "FR": "FR12345678901",
    "GB": "GB123456789",
    "US": "12-3456789 (EIN)",
}


def country_name(code: str) -> str:
    """'DE' → 'Germany'; the code itself when unknown."""
    country = pycountry.countries.get(alpha_2=code.upper()) if code else None
    return getattr(country, "common_name", "") or getattr(country, "name", code)


def country_choices() -> list[tuple[str, str]]:
    """Every ISO 3166 country as (code, name), sorted by name, for a select box."""
    return sorted(
        ((c.alpha_2, f"{getattr(c, 'common_name', c.name)}") for c in pycountry.countries),
        key=lambda choice: choice[1],
    )


def currency_choices() -> list[tuple[str, str]]:
    """ISO 4217 currencies a vendor can invoice in, as (code, 'EUR · Euro')."""
    return sorted(
        (c.alpha_3, f"{c.alpha_3} · {c.name}")
        for c in pycountry.currencies
        if c.alpha_3 not in NOT_MONEY_CURRENCIES
    )


def clean_country(value: str) -> str:
    """An ISO 3166 alpha-2 country code, upper case."""
    code = (value or "").strip().upper()
    if not code:
        raise DomainError("Choose the vendor's country.")
    if len(code) != 2 or pycountry.countries.get(alpha_2=code) is None:
        raise DomainError(
            f"'{value}' is not a country code; use the two-letter ISO code, e.g. NL, DE or US."
        )
    return code


def clean_currency(value: str) -> str:
    """An ISO 4217 currency code that money can be invoiced in, upper case."""
    code = (value or "").strip().upper()
    if not code:
        raise DomainError("Choose the currency the vendor invoices in.")
    if money_currency(code) is None:
        raise DomainError(
            f"'{value}' is not a currency code; use the three-letter ISO code, e.g. EUR, USD or GBP."
        )
    return code


def _tax_id_problem(number: str, country: str, exc: tax_errors.ValidationError) -> DomainError:
    example = _EXAMPLES.get(country)
    hint = f" (expected like {example})" if example else ""
    if isinstance(exc, tax_errors.InvalidChecksum):
        return DomainError(f"Tax id {number} fails its check digit; look for a typo in the number.")
    if isinstance(exc, tax_errors.InvalidLength):
        return DomainError(f"Tax id {number} has the wrong number of characters{hint}.")
    if isinstance(exc, tax_errors.InvalidFormat | tax_errors.InvalidComponent):
        return DomainError(
            f"Tax id {number} is not in the format used in {country_name(country)}{hint}."
        )
    return DomainError(f"Tax id {number} is not valid for {country_name(country)}{hint}.")


def clean_tax_id(value: str, country: str) -> str:
    """The tax id in its compact form, validated for the vendor's country; '' when blank.

    EU vendors carry a VAT number with its country prefix (added when the clerk left it
    off); elsewhere the country's VAT or business number as stdnum knows it. Countries
    stdnum has no rule for keep the id as typed, without spaces.
    """
    raw = " ".join((value or "").split())
    if not raw:
        return ""
    country = country.upper()
    prefix = _VAT_PREFIX.get(country, country)
    if country in _EU_VAT_COUNTRIES or country == "GR":
        number = raw if raw[:2].upper() in _EU_VAT_COUNTRIES else prefix + raw
        try:
            compact = eu_vat.validate(number)
        except tax_errors.ValidationError as exc:
            raise _tax_id_problem(raw, country, exc) from exc
        if compact[:2] != prefix:
            raise DomainError(
                f"Tax id {raw} is a VAT number from {country_name(compact[:2].replace('EL', 'GR'))}, "
                f"but the vendor's country is {country_name(country)}."
            )
        return compact
    for kind in _TAX_ID_KINDS:
        module = get_cc_module(country.lower(), kind)
        if module is None:
            continue
        try:
            compact = module.compact(module.validate(raw))
        except tax_errors.ValidationError as exc:
            raise _tax_id_problem(raw, country, exc) from exc
        # Invoices quote VAT numbers with their country prefix (GB980780684); keep it so
        # an e-invoice's seller id finds the vendor.
        if kind == "vat" and not compact.startswith(country):
            compact = country + compact
        return compact
    compact = raw.replace(" ", "").upper()
    if len(compact) > 40:
        raise DomainError("A tax id has at most 40 characters.")
    return compact


def clean_iban(value: str) -> str:
    """The IBAN in compact form, with check digits and national account rules verified."""
    raw = (value or "").strip()
    if not raw:
        raise DomainError("Enter the IBAN.")
    try:
        return IBAN(raw).compact
    except bank_errors.InvalidChecksumDigits as exc:
        raise DomainError(
            f"IBAN {raw} fails its check digits; look for a typo or swapped digits."
        ) from exc
    except bank_errors.InvalidBBANChecksum as exc:
        raise DomainError(
            f"IBAN {raw} has an account number that fails its national check; look for a typo."
        ) from exc
    except bank_errors.InvalidCountryCode as exc:
        raise DomainError(f"IBAN {raw} does not start with a country that uses IBANs.") from exc
    except bank_errors.InvalidLength as exc:
        raise DomainError(
            f"IBAN {raw} has the wrong number of characters for its country."
        ) from exc
    except bank_errors.SchwiftyException as exc:
        raise DomainError(f"IBAN {raw} is not a valid IBAN.") from exc


def clean_bic(value: str, iban: str) -> str:
    """The BIC (SWIFT code), checked and matched to the IBAN's country; derived when blank."""
    raw = (value or "").strip()
    if not raw:
        # Most European banks can be looked up from the IBAN's bank code.
        derived = IBAN(iban).bic
        return str(derived.compact) if derived is not None else ""
    try:
        bic = BIC(raw)
    except bank_errors.SchwiftyException as exc:
        raise DomainError(
            f"BIC {raw} is not a valid BIC; it has 8 or 11 characters, e.g. ABNANL2A."
        ) from exc
    if bic.country_code != iban[:2]:
        raise DomainError(
            f"BIC {raw} belongs to a bank in {country_name(bic.country_code)}, "
            f"but the IBAN is from {country_name(iban[:2])}."
        )
    return bic.compact
