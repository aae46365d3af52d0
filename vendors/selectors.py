"""Vendor reads that are more than a queryset method: duplicates, hold reasons, contract
prices and payment-term schedules. AP's figures about a vendor (its scorecard, the vendors
on payment hold) live in payables/selectors/vendors.py, next to the invoices they count."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db import connection
from django.db.models import (
    Count,
    F,
    FloatField,
    Func,
    QuerySet,
    Value,
)
from django.utils import timezone

from p2p.money import ZERO, round_money
from vendors.models import (
    BankAccount,
    Contract,
    ContractLine,
    PaymentTerms,
    Vendor,
    VendorNameKey,
)

# Trigram similarity of the normalised names above which two vendors count as
# near-identical ('Bürotechnik Schneider GmbH' / 'Burotechnik Schneider' ≈ 0.75).
NEAR_NAME_SIMILARITY = 0.7


# --- duplicates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateMatch:
    """An existing vendor that a new one may duplicate, and why we think so."""

    vendor: Vendor
    reason: str


def vendor_with_tax_id(tax_id: str, *, exclude_pk: int | None = None) -> Vendor | None:
    """The vendor already registered under this tax id (compared without case)."""
    vendors = Vendor.objects.filter(tax_id__iexact=tax_id)
    if exclude_pk is not None:
        vendors = vendors.exclude(pk=exclude_pk)
    return vendors.order_by("pk").first()


def existing_tax_ids(tax_ids: list[str]) -> set[str]:
    """Which of these tax ids some vendor already has (upper case)."""
    wanted = {tax_id.upper() for tax_id in tax_ids if tax_id}
    if not wanted:
        return set()
    found = Vendor.objects.filter(tax_id__in=wanted).values_list("tax_id", flat=True)
    return {tax_id.upper() for tax_id in found}


def _similar_names(name: str) -> QuerySet[Vendor]:
    similarity = Func(
        VendorNameKey(F("name")),
        VendorNameKey(Value(name)),
        function="similarity",
        output_field=FloatField(),
    )
    return (
        Vendor.objects.alias(similarity=similarity)
        .filter(similarity__gte=NEAR_NAME_SIMILARITY)
        .order_by("-similarity", "pk")
    )


def find_duplicates(
    *, name: str = "", iban: str = "", exclude_pk: int | None = None
) -> list[DuplicateMatch]:
    """Vendors with the same IBAN (verified or pending) or a near-identical name."""
    matches: dict[int, DuplicateMatch] = {}
    if iban:
        accounts = (
            BankAccount.objects.filter(
                iban=iban, status__in=(BankAccount.Status.VERIFIED, BankAccount.Status.PENDING)
            )
            .select_related("vendor")
            .order_by("vendor_id")
        )
        for account in accounts:
            if account.vendor_id != exclude_pk:
                matches.setdefault(
                    account.vendor_id,
                    DuplicateMatch(account.vendor, f"same IBAN {account.masked_iban}"),
                )
    if name:
        vendors = _similar_names(name)
        if exclude_pk is not None:
            vendors = vendors.exclude(pk=exclude_pk)
        for vendor in vendors[:5]:
            matches.setdefault(vendor.pk, DuplicateMatch(vendor, "near-identical name"))
    return list(matches.values())


_SIMILAR_NAMES_FOR_ROWS = """
SELECT r.line, v.id, v.name
FROM unnest(%(lines)s::int[], %(names)s::text[]) AS r(line, name)
JOIN vendors_vendor v
  ON vendor_name_key(v.name) %% vendor_name_key(r.name)
 AND similarity(vendor_name_key(v.name), vendor_name_key(r.name)) >= %(threshold)s
ORDER BY r.line, v.id
"""


def similar_names_for_rows(names_by_line: dict[int, str]) -> dict[int, list[tuple[int, str]]]:
    """For many candidate names at once (a CSV file): line → [(vendor id, name)], one query."""
    if not names_by_line:
        return {}
    found: dict[int, list[tuple[int, str]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            _SIMILAR_NAMES_FOR_ROWS,
            {
                "lines": list(names_by_line),
                "names": list(names_by_line.values()),
                "threshold": NEAR_NAME_SIMILARITY,
            },
        )
        for line, vendor_id, name in cursor.fetchall():
            found.setdefault(line, []).append((vendor_id, name))
    return found


def ibans_in_use(ibans: list[str]) -> dict[str, str]:
    """IBAN → the vendor name already paid (or about to be paid) to it."""
    rows = (
        BankAccount.objects.filter(
            iban__in=set(ibans),
            status__in=(BankAccount.Status.VERIFIED, BankAccount.Status.PENDING),
        )
        .order_by("vendor_id")
        .values_list("iban", "vendor__name")
    )
    return dict(rows)


# --- payment hold -----------------------------------------------------------------------------


def hold_reasons(vendor: Vendor) -> list[str]:
    """Why a vendor annotated by with_payment_hold() cannot be paid, in words for AP."""
    reasons = []
    if vendor.status == Vendor.Status.BLOCKED:
        reasons.append(
            f"Blocked: {vendor.status_reason}" if vendor.status_reason else "Vendor is blocked"
        )
    elif vendor.status == Vendor.Status.ONBOARDING:
        reasons.append("Still onboarding: not yet activated")
    # Both flags are with_payment_hold()'s annotations, which the Vendor type does not carry.
    if vendor.pending_bank_change:  # type: ignore[attr-defined]
        reasons.append("Bank change waiting for verification by a second person")
    if not vendor.has_verified_bank:  # type: ignore[attr-defined]
        reasons.append("No verified bank account")
    return reasons


# --- contracts --------------------------------------------------------------------------------


def active_contract_price(
    *, vendor_id: int, item_code: str, on_date: dt.date, currency: str
) -> ContractLine | None:
    """The rate-card line in force for this vendor, item and currency on the date, if any.

    Activation refuses overlapping active contracts for one item, so at most one line
    applies; the newest contract wins should old data ever overlap.
    """
    code = (item_code or "").strip().upper()
    if not code:
        return None
    return (
        ContractLine.objects.filter(
            item_code=code,
            contract__vendor_id=vendor_id,
            contract__currency=currency.upper(),
            contract__status=Contract.Status.ACTIVE,
            contract__valid_from__lte=on_date,
            contract__valid_to__gte=on_date,
        )
        .select_related("contract")
        .order_by("-contract__valid_from", "-contract_id")
        .first()
    )


def contract_items_for(vendor: Vendor, on_date: dt.date | None = None) -> QuerySet[ContractLine]:
    """The items a buyer may pick for this vendor: lines of contracts in force on the date."""
    on_date = on_date or timezone.localdate()
    return (
        ContractLine.objects.filter(
            contract__vendor=vendor,
            contract__status=Contract.Status.ACTIVE,
            contract__valid_from__lte=on_date,
            contract__valid_to__gte=on_date,
        )
        .select_related("contract")
        .order_by("item_code", "contract__currency", "-contract__valid_from")
    )


def overlapping_contract_items(contract: Contract) -> list[tuple[str, str]]:
    """(item code, other contract number) priced by another active contract of the vendor
    in the same currency for dates that overlap this contract's."""
    return list(
        ContractLine.objects.filter(
            contract__vendor_id=contract.vendor_id,
            contract__currency=contract.currency,
            contract__status=Contract.Status.ACTIVE,
            contract__valid_from__lte=contract.valid_to,
            contract__valid_to__gte=contract.valid_from,
            item_code__in=contract.lines.values("item_code"),
        )
        .exclude(contract_id=contract.pk)
        .order_by("item_code")
        .values_list("item_code", "contract__number")
    )


def contract_list() -> QuerySet[Contract]:
    """Contracts with their vendor and number of rate-card lines."""
    return Contract.objects.select_related("vendor").annotate(line_count=Count("lines"))


# --- payment terms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TermsSchedule:
    """When an invoice falls due under its terms, and what paying early saves."""

    due_date: dt.date
    discount_date: dt.date | None
    discount_amount: Decimal
    amount_if_discounted: Decimal


def terms_schedule(
    terms: PaymentTerms, *, invoice_date: dt.date, amount: Decimal, currency: str
) -> TermsSchedule:
    """Due date, discount deadline and discount from the invoice date and payable amount."""
    discount_date = terms.discount_date(invoice_date)
    discount = terms.discount_amount(amount, currency) if discount_date else ZERO
    return TermsSchedule(
        due_date=terms.due_date(invoice_date),
        discount_date=discount_date,
        discount_amount=discount,
        amount_if_discounted=round_money(amount - discount, currency),
    )
