"""Vendor state changes: creation, activation and the bank-account maker-checker control."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_record, transition
from p2p.exceptions import DomainError, SegregationOfDutiesError
from vendors.models import BankAccount, PaymentTerms, Vendor


def vendor_create(
    *,
    by: AbstractBaseUser,
    name: str,
    payment_terms: PaymentTerms,
    tax_id: str = "",
    country: str = "NL",
    currency: str = "EUR",
    email: str = "",
    remit_to: str = "",
) -> Vendor:
    """Register a vendor in onboarding; it cannot receive POs or payments until activated."""
    roles.require_role(by, roles.BUYER, roles.AP_MANAGER, roles.ADMIN)
    name = name.strip()
    if not name:
        raise DomainError("A vendor needs a name.")
    with transaction.atomic():
        if tax_id and Vendor.objects.filter(tax_id__iexact=tax_id.strip()).exists():
            raise DomainError(f"A vendor with tax id {tax_id} already exists.")
        vendor = Vendor.objects.create(
            name=name,
            tax_id=tax_id.strip(),
            country=country.upper(),
            currency=currency.upper(),
            payment_terms=payment_terms,
            email=email,
            remit_to=remit_to,
        )
        audit_record(obj=vendor, action="created", by=by, to_status=vendor.status)
    return vendor


def vendor_set_status(
    *, vendor: Vendor, status: str, by: AbstractBaseUser, note: str = ""
) -> Vendor:
    """Activate or block a vendor."""
    roles.require_role(by, roles.BUYER, roles.AP_MANAGER, roles.ADMIN)
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        transition(vendor, status, by=by, note=note)
    return vendor


def bank_account_request(
    *, vendor: Vendor, by: AbstractBaseUser, account_holder: str, iban: str, bic: str = ""
) -> BankAccount:
    """Record new bank details; they take effect only when a different user verifies them."""
    roles.require_role(by, roles.BUYER, roles.AP_CLERK, roles.AP_MANAGER)
    with transaction.atomic():
        account = BankAccount.objects.create(
            vendor=vendor,
            account_holder=account_holder,
            iban=iban.replace(" ", "").upper(),
            bic=bic.replace(" ", "").upper(),
            requested_by=by,
        )
        audit_record(obj=account, action="created", by=by, to_status=account.status)
    return account


def bank_account_verify(*, account: BankAccount, by: AbstractBaseUser) -> BankAccount:
    """Second pair of eyes on a bank change; the earlier verified account is superseded."""
    roles.require_role(by, roles.BUYER, roles.AP_MANAGER)
    with transaction.atomic():
        account = BankAccount.objects.select_for_update().get(pk=account.pk)
        if account.requested_by_id == by.pk:
            raise SegregationOfDutiesError(
                "You entered this bank change; a different person must verify it."
            )
        previous = BankAccount.objects.select_for_update().filter(
            vendor_id=account.vendor_id, status=BankAccount.Status.VERIFIED
        )
        for old in previous:
            transition(old, BankAccount.Status.SUPERSEDED, by=by)
        account.verified_by = by
        account.verified_at = timezone.now()
        transition(
            account, BankAccount.Status.VERIFIED, by=by, extra_fields=["verified_by", "verified_at"]
        )
    return account
