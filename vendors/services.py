"""Vendor state changes: the vendor master, bank-detail maker-checker, contracts and imports.

Every function validates its input (tax ids, IBANs, countries and currencies through
vendors.validation), runs in one transaction, and writes the audit trail.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from p2p import roles
from p2p.audit import audit_bulk, audit_record, transition, transition_many
from p2p.celery import enqueue
from p2p.exceptions import DomainError, InvalidTransition, SegregationOfDutiesError
from p2p.models import AuditAction, AuditEvent
from p2p.money import round_quantity
from p2p.roles import Perm
from vendors import importing, selectors, validation
from vendors.models import (
    BankAccount,
    Contract,
    ContractLine,
    PaymentTerms,
    Vendor,
    VendorImport,
)

# Creating or renaming vendors takes this transaction-level lock, so two clerks entering
# the same vendor at once cannot both pass the duplicate check.
_VENDOR_MASTER_LOCK = 724_101


class PossibleDuplicate(DomainError):
    """The vendor looks like one that exists; the user must look and confirm."""

    status_code = 409

    def __init__(self, message: str, matches: list[selectors.DuplicateMatch]):
        super().__init__(message)
        self.matches = matches


def _lock_vendor_master() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_VENDOR_MASTER_LOCK])


@dataclass(frozen=True)
class VendorDetails:
    """What a clerk types about a vendor, checked and normalised by clean_vendor_details."""

    name: str
    payment_terms: PaymentTerms
    tax_id: str = ""
    country: str = "NL"
    currency: str = "EUR"
    email: str = ""
    remit_to: str = ""


def clean_vendor_details(details: VendorDetails) -> VendorDetails:
    """The details with a validated country, currency and tax id, or DomainError."""
    name = " ".join(details.name.split())
    if not name:
        raise DomainError("A vendor needs a name.")
    if len(name) > 200:
        raise DomainError("A vendor name has at most 200 characters.")
    if details.payment_terms is None:
        raise DomainError("Choose the vendor's payment terms.")
    country = validation.clean_country(details.country)
    return VendorDetails(
        name=name,
        payment_terms=details.payment_terms,
        tax_id=validation.clean_tax_id(details.tax_id, country),
        country=country,
        currency=validation.clean_currency(details.currency),
        email=details.email.strip(),
        remit_to=details.remit_to.strip(),
    )


def _refuse_tax_id_duplicate(tax_id: str, exclude_pk: int | None = None) -> None:
    existing = selectors.vendor_with_tax_id(tax_id, exclude_pk=exclude_pk)
    if existing is not None:
        raise DomainError(
            f"A vendor with tax id {tax_id} already exists: {existing.name} "
            f"(vendor {existing.pk}). Open it instead of creating a second record."
        )


def _warn_duplicates(matches: list[selectors.DuplicateMatch], confirmed: bool) -> None:
    if matches and not confirmed:
        names = "; ".join(f"{m.vendor.name} ({m.reason})" for m in matches[:3])
        raise PossibleDuplicate(
            f"This looks like a vendor that already exists: {names}. "
            "Check it, then confirm to create the vendor anyway.",
            matches,
        )


@dataclass(frozen=True)
class BankDetails:
    """A bank account as typed: IBAN, BIC (optional, derived when possible) and holder."""

    iban: str
    account_holder: str = ""
    bic: str = ""


def vendor_create(
    *,
    by: User,
    name: str,
    payment_terms: PaymentTerms,
    tax_id: str = "",
    country: str = "NL",
    currency: str = "EUR",
    email: str = "",
    remit_to: str = "",
    bank: BankDetails | None = None,
    confirm_duplicates: bool = False,
) -> Vendor:
    """Register a vendor in onboarding; it cannot receive POs or payments until activated.

    The same tax id as an existing vendor is refused; the same IBAN or a near-identical
    name raises PossibleDuplicate unless the user confirmed after seeing the matches.
    Bank details given here start as a pending change that a second person verifies.
    """
    roles.require(by, Perm.EDIT_VENDORS)
    details = clean_vendor_details(
        VendorDetails(name, payment_terms, tax_id, country, currency, email, remit_to)
    )
    iban = validation.clean_iban(bank.iban) if bank is not None else ""
    bic = validation.clean_bic(bank.bic, iban) if bank is not None else ""
    with transaction.atomic():
        _lock_vendor_master()
        if details.tax_id:
            _refuse_tax_id_duplicate(details.tax_id)
        _warn_duplicates(
            selectors.find_duplicates(name=details.name, iban=iban), confirm_duplicates
        )
        vendor = Vendor.objects.create(
            name=details.name,
            tax_id=details.tax_id,
            country=details.country,
            currency=details.currency,
            payment_terms=details.payment_terms,
            email=details.email,
            remit_to=details.remit_to,
        )
        audit_record(obj=vendor, action=AuditAction.CREATED, by=by, to_status=vendor.status)
        if bank is not None:
            _create_bank_request(vendor, by, bank.account_holder or details.name, iban, bic)
    return vendor


_AUDITED_FIELDS = ("name", "tax_id", "country", "currency", "payment_terms", "email", "remit_to")


def vendor_update(
    *,
    vendor: Vendor,
    by: User,
    details: VendorDetails,
    confirm_duplicates: bool = False,
) -> Vendor:
    """Change a vendor's master data; every changed field is recorded old → new."""
    roles.require(by, Perm.EDIT_VENDORS)
    details = clean_vendor_details(details)
    with transaction.atomic():
        _lock_vendor_master()
        vendor = (
            Vendor.objects.select_for_update().select_related("payment_terms").get(pk=vendor.pk)
        )
        if details.tax_id and details.tax_id != vendor.tax_id:
            _refuse_tax_id_duplicate(details.tax_id, exclude_pk=vendor.pk)
        if details.name != vendor.name:
            _warn_duplicates(
                selectors.find_duplicates(name=details.name, exclude_pk=vendor.pk),
                confirm_duplicates,
            )
        changes = {}
        for field in _AUDITED_FIELDS:
            old, new = getattr(vendor, field), getattr(details, field)
            if old != new:
                changes[field] = [str(old), str(new)]
                setattr(vendor, field, new)
        if not changes:
            return vendor
        vendor.save(update_fields=list(changes))
        audit_record(obj=vendor, action=AuditAction.UPDATED, by=by, changes=changes)
    return vendor


def vendor_set_status(*, vendor: Vendor, status: str, by: User, note: str = "") -> Vendor:
    """Activate or block a vendor; blocking needs a reason, which AP sees on the hold list."""
    roles.require(by, Perm.EDIT_VENDORS)
    note = note.strip()
    if status == Vendor.Status.BLOCKED and not note:
        raise DomainError("Say why the vendor is blocked; AP and buyers will see the reason.")
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        vendor.status_reason = note[:300]
        transition(vendor, status, by=by, note=note, extra_fields=["status_reason"])
    return vendor


# --- bank accounts: the fraud control -------------------------------------------------------


def _create_bank_request(
    vendor: Vendor, by: User, account_holder: str, iban: str, bic: str
) -> BankAccount:
    if BankAccount.objects.filter(vendor=vendor, status=BankAccount.Status.PENDING).exists():
        raise DomainError(
            f"A bank change for {vendor.name} is already waiting for verification; "
            "verify or reject it before entering another."
        )
    if BankAccount.objects.filter(
        vendor=vendor, status=BankAccount.Status.VERIFIED, iban=iban
    ).exists():
        masked = BankAccount(iban=iban).masked_iban
        raise DomainError(f"{masked} is already {vendor.name}'s verified account.")
    account = BankAccount.objects.create(
        vendor=vendor,
        account_holder=account_holder,
        iban=iban,
        bic=bic,
        requested_by=by,
    )
    # The trail names the account by its mask only: the audit log is widely readable.
    audit_record(
        obj=account,
        action=AuditAction.CREATED,
        by=by,
        to_status=account.status,
        changes={"iban": account.masked_iban, "bic": bic, "account_holder": account_holder},
        note="Payments to this vendor are held until a second person verifies the change.",
    )
    return account


def bank_account_request(
    *, vendor: Vendor, by: User, account_holder: str, iban: str, bic: str = ""
) -> BankAccount:
    """Record new bank details; they take effect only when a different user verifies them."""
    roles.require(by, Perm.REQUEST_BANK_CHANGE)
    account_holder = " ".join(account_holder.split())
    if not account_holder:
        raise DomainError("Enter the account holder's name as the bank knows it.")
    iban = validation.clean_iban(iban)
    bic = validation.clean_bic(bic, iban)
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        return _create_bank_request(vendor, by, account_holder, iban, bic)


def bank_account_verify(
    *, account: BankAccount, by: User, confirm_iban: str | None = None
) -> BankAccount:
    """Second pair of eyes on a bank change; the earlier verified account is superseded.

    The screens and the API make the checker re-key the IBAN they confirmed with the vendor
    (call-back on a known number), so the full IBAN never has to be shown to anyone.
    """
    roles.require(by, Perm.APPROVE_BANK_CHANGE)
    with transaction.atomic():
        account = BankAccount.objects.select_for_update().get(pk=account.pk)
        if account.requested_by_id == by.pk:
            raise SegregationOfDutiesError(
                "You entered this bank change; a different person must verify it."
            )
        if account.status != BankAccount.Status.PENDING:
            raise InvalidTransition(
                f"This bank change is {account.get_status_display().lower()}; "
                "only a pending change can be verified."
            )
        if confirm_iban is not None:
            try:
                keyed = validation.clean_iban(confirm_iban)
            except DomainError as exc:
                raise DomainError(f"The IBAN you typed is not valid: {exc.message}") from exc
            if keyed != account.iban:
                raise DomainError(
                    "The IBAN you typed does not match the requested change. Confirm the "
                    "details with the vendor on a known phone number, or reject the change."
                )
        previous = BankAccount.objects.select_for_update().filter(
            vendor_id=account.vendor_id, status=BankAccount.Status.VERIFIED
        )
        for old in previous.order_by("pk"):
            transition(old, BankAccount.Status.SUPERSEDED, by=by, note=f"Replaced by {account}")
        account.verified_by = by
        account.verified_at = timezone.now()
        transition(
            account, BankAccount.Status.VERIFIED, by=by, extra_fields=["verified_by", "verified_at"]
        )
    return account


def bank_account_reject(*, account: BankAccount, by: User, reason: str) -> BankAccount:
    """Turn down a pending bank change (suspected fraud, a typo); the old account stays."""
    roles.require(by, Perm.REQUEST_BANK_CHANGE)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the bank change is rejected.")
    with transaction.atomic():
        account = BankAccount.objects.select_for_update().get(pk=account.pk)
        transition(account, BankAccount.Status.REJECTED, by=by, note=reason)
    return account


# --- contracts and rate cards ---------------------------------------------------------------


@dataclass(frozen=True)
class ContractLineInput:
    """One rate-card line as typed."""

    item_code: str
    description: str
    unit_price: Decimal
    uom: str = "EA"


def _clean_lines(lines: list[ContractLineInput]) -> list[ContractLineInput]:
    cleaned, seen = [], set()
    for n, line in enumerate(lines, start=1):
        code = line.item_code.strip().upper()
        description = " ".join(line.description.split())
        if not code:
            raise DomainError(f"Rate-card line {n} needs an item code.")
        if len(code) > 40:
            raise DomainError(f"Item code {code[:40]}… is longer than 40 characters.")
        if not description:
            raise DomainError(f"Rate-card line {n} ({code}) needs a description.")
        if code in seen:
            raise DomainError(f"Item code {code} appears twice on the rate card.")
        if line.unit_price is None or line.unit_price < 0:
            raise DomainError(f"Item {code} needs a unit price of zero or more.")
        seen.add(code)
        cleaned.append(
            ContractLineInput(
                item_code=code,
                description=description[:200],
                unit_price=round_quantity(line.unit_price),
                uom=(line.uom.strip().upper() or "EA")[:10],
            )
        )
    return cleaned


def _check_contract_header(
    vendor: Vendor, number: str, title: str, currency: str, valid_from: dt.date, valid_to: dt.date
) -> tuple[str, str, str]:
    number, title = number.strip(), " ".join(title.split())
    if not number:
        raise DomainError("Enter the contract number both parties use.")
    if not title:
        raise DomainError("Give the contract a title, e.g. 'Office supplies framework 2026'.")
    if valid_from is None or valid_to is None:
        raise DomainError("Enter the dates the contract is valid from and to.")
    if valid_to < valid_from:
        raise DomainError("The contract ends before it starts; check the validity dates.")
    return number[:40], title[:200], validation.clean_currency(currency)


def contract_create(
    *,
    by: User,
    vendor: Vendor,
    number: str,
    title: str,
    currency: str,
    valid_from: dt.date,
    valid_to: dt.date,
    lines: list[ContractLineInput],
    notes: str = "",
) -> Contract:
    """A draft contract with its rate card; prices apply once it is activated."""
    roles.require(by, Perm.EDIT_CONTRACTS)
    number, title, currency = _check_contract_header(
        vendor, number, title, currency, valid_from, valid_to
    )
    lines = _clean_lines(lines)
    with transaction.atomic():
        vendor = Vendor.objects.select_for_update().get(pk=vendor.pk)
        if Contract.objects.filter(vendor=vendor, number__iexact=number).exists():
            raise DomainError(f"{vendor.name} already has a contract numbered {number}.")
        contract = Contract.objects.create(
            vendor=vendor,
            number=number,
            title=title,
            currency=currency,
            valid_from=valid_from,
            valid_to=valid_to,
            notes=notes.strip(),
            created_by=by,
        )
        ContractLine.objects.bulk_create(
            ContractLine(contract=contract, **line.__dict__) for line in lines
        )
        audit_record(
            obj=contract,
            action=AuditAction.CREATED,
            by=by,
            to_status=contract.status,
            changes={"lines": len(lines), "currency": currency},
        )
    return contract


def contract_update(
    *,
    contract: Contract,
    by: User,
    title: str,
    currency: str,
    valid_from: dt.date,
    valid_to: dt.date,
    lines: list[ContractLineInput],
    notes: str = "",
) -> Contract:
    """Edit a draft contract and replace its rate card; active prices are never rewritten."""
    roles.require(by, Perm.EDIT_CONTRACTS)
    with transaction.atomic():
        contract = Contract.objects.select_for_update().select_related("vendor").get(pk=contract.pk)
        if contract.status != Contract.Status.DRAFT:
            raise InvalidTransition(
                f"Contract {contract.number} is {contract.get_status_display().lower()}; only "
                "drafts can be edited. Terminate it and enter the new prices as a new contract."
            )
        _, title, currency = _check_contract_header(
            contract.vendor, contract.number, title, currency, valid_from, valid_to
        )
        lines = _clean_lines(lines)
        contract.title, contract.currency, contract.notes = title, currency, notes.strip()
        contract.valid_from, contract.valid_to = valid_from, valid_to
        contract.save(update_fields=["title", "currency", "notes", "valid_from", "valid_to"])
        contract.lines.all().delete()
        ContractLine.objects.bulk_create(
            ContractLine(contract=contract, **line.__dict__) for line in lines
        )
        audit_record(
            obj=contract,
            action=AuditAction.UPDATED,
            by=by,
            changes={"lines": len(lines), "valid_to": valid_to, "currency": currency},
        )
    return contract


def contract_activate(*, contract: Contract, by: User) -> Contract:
    """Put a draft's prices in force; refused when another active contract prices the same item."""
    roles.require(by, Perm.EDIT_CONTRACTS)
    with transaction.atomic():
        # Lock the vendor first so two activations for one vendor run one after the other.
        vendor = Vendor.objects.select_for_update().get(pk=contract.vendor_id)
        contract = Contract.objects.select_for_update().get(pk=contract.pk)
        if vendor.status == Vendor.Status.BLOCKED:
            raise DomainError(f"{vendor.name} is blocked; its contracts cannot be activated.")
        if contract.status == Contract.Status.DRAFT:
            if not contract.lines.exists():
                raise DomainError("Add at least one rate-card line before activating.")
            if contract.valid_to < timezone.localdate():
                raise DomainError(
                    f"Contract {contract.number} ended on {contract.valid_to:%d %b %Y}; "
                    "fix the validity dates first."
                )
            clashes = selectors.overlapping_contract_items(contract)
            if clashes:
                listed = ", ".join(f"{code} ({number})" for code, number in clashes[:5])
                raise DomainError(
                    "Another active contract already prices these items for overlapping "
                    f"dates: {listed}. Terminate it or change the dates first."
                )
        contract.activated_at = timezone.now()
        transition(contract, Contract.Status.ACTIVE, by=by, extra_fields=["activated_at"])
    return contract


def contract_terminate(*, contract: Contract, by: User, reason: str) -> Contract:
    """End a contract early (or drop a draft); its prices stop applying at once."""
    roles.require(by, Perm.EDIT_CONTRACTS)
    reason = reason.strip()
    if not reason:
        raise DomainError("Say why the contract is terminated.")
    with transaction.atomic():
        contract = Contract.objects.select_for_update().get(pk=contract.pk)
        transition(contract, Contract.Status.TERMINATED, by=by, note=reason)
    return contract


def contracts_expire(*, today: dt.date | None = None) -> int:
    """Mark active contracts whose validity has ended as expired, in one statement."""
    today = today or timezone.localdate()
    with transaction.atomic():
        # A contract someone is changing right now is left for the next run.
        expired = transition_many(
            Contract.objects.select_for_update(skip_locked=True).filter(
                status=Contract.Status.ACTIVE, valid_to__lt=today
            ),
            Contract.Status.EXPIRED,
            by=None,
            note="Validity ended",
        )
    return len(expired)


# --- CSV import -------------------------------------------------------------------------------


def vendor_import_start(
    *, by: User, file_name: str, content: str, valid_rows_only: bool = False
) -> VendorImport:
    """Store an uploaded vendor file and queue it; the worker checks and imports it."""
    roles.require(by, Perm.EDIT_VENDORS)
    importing.check_header(content)
    with transaction.atomic():
        vendor_import = VendorImport.objects.create(
            file_name=file_name[:255],
            content=content,
            valid_rows_only=valid_rows_only,
            created_by=by,
        )
        audit_record(
            obj=vendor_import,
            action=AuditAction.CREATED,
            by=by,
            to_status=vendor_import.status,
            note=file_name[:255],
        )
        transaction.on_commit(lambda: enqueue("vendors.tasks.run_vendor_import", vendor_import.pk))
    return vendor_import


def vendor_import_valid_rows(*, vendor_import: VendorImport, by: User) -> VendorImport:
    """After reading the report, import only the good rows of a rejected file."""
    roles.require(by, Perm.EDIT_VENDORS)
    with transaction.atomic():
        vendor_import = VendorImport.objects.select_for_update().get(pk=vendor_import.pk)
        if vendor_import.status == VendorImport.Status.REJECTED and not (
            vendor_import.total_rows - vendor_import.error_lines
        ):
            raise DomainError("Every row of this file has an error; there is nothing to import.")
        vendor_import.valid_rows_only = True
        vendor_import.processed_rows = 0
        transition(
            vendor_import,
            VendorImport.Status.QUEUED,
            by=by,
            note="Import only the valid rows",
            extra_fields=["valid_rows_only", "processed_rows"],
        )
        transaction.on_commit(lambda: enqueue("vendors.tasks.run_vendor_import", vendor_import.pk))
    return vendor_import


def _import_failed(import_id: int, message: str) -> None:
    with transaction.atomic():
        vendor_import = VendorImport.objects.select_for_update().get(pk=import_id)
        vendor_import.errors = [
            *vendor_import.errors,
            {"line": 0, "column": "", "message": message},
        ]
        vendor_import.finished_at = timezone.now()
        transition(
            vendor_import,
            VendorImport.Status.FAILED,
            by=None,
            note=message,
            extra_fields=["errors", "finished_at"],
        )


def vendor_import_run(*, import_id: int) -> VendorImport:
    """Check every row, then import all of them or, if asked, the valid ones, in one go.

    Progress is written as rows are checked (outside the import transaction) so the page
    polling it shows how far the worker is. Nothing is written to the vendor master unless
    the file is clean or the user chose to import only the valid rows.
    """
    with transaction.atomic():
        vendor_import = (
            VendorImport.objects.select_for_update(skip_locked=True)
            .filter(pk=import_id, status=VendorImport.Status.QUEUED)
            .first()
        )
        if vendor_import is None:  # already taken by another worker, or finished
            return VendorImport.objects.get(pk=import_id)
        transition(vendor_import, VendorImport.Status.CHECKING, by=None)

    def report_progress(done: int, total: int) -> None:
        VendorImport.objects.filter(pk=import_id).update(processed_rows=done, total_rows=total)

    try:
        checked = importing.check_rows(vendor_import.content, on_progress=report_progress)
    except Exception:
        # A job left in 'checking' would look alive forever; say it stopped, then let the
        # worker log the traceback.
        _import_failed(import_id, "The check stopped unexpectedly; upload the file again.")
        raise
    vendor_import.refresh_from_db()
    vendor_import.errors = [problem.as_dict() for problem in checked.errors]
    vendor_import.warnings = [problem.as_dict() for problem in checked.warnings]
    vendor_import.total_rows = checked.total_rows
    vendor_import.processed_rows = checked.total_rows
    fields = ["errors", "warnings", "total_rows", "processed_rows"]
    if (checked.errors and not vendor_import.valid_rows_only) or not checked.rows:
        vendor_import.finished_at = timezone.now()
        transition(
            vendor_import,
            VendorImport.Status.REJECTED,
            by=None,
            note=f"{vendor_import.error_lines} row(s) with errors; nothing imported",
            extra_fields=[*fields, "finished_at"],
        )
        return vendor_import
    transition(vendor_import, VendorImport.Status.IMPORTING, by=None, extra_fields=fields)
    try:
        with transaction.atomic():
            created = _write_import_rows(checked.rows, vendor_import)
    except DomainError as exc:
        _import_failed(import_id, exc.message)
        return VendorImport.objects.get(pk=import_id)
    vendor_import.imported_count = created
    vendor_import.finished_at = timezone.now()
    transition(
        vendor_import,
        VendorImport.Status.IMPORTED,
        by=None,
        note=f"{created} vendor(s) imported",
        extra_fields=["imported_count", "finished_at"],
    )
    return vendor_import


def _write_import_rows(rows: list[importing.VendorRow], vendor_import: VendorImport) -> int:
    """Insert the checked rows set-based: vendors, their pending bank changes, the trail."""
    by = vendor_import.created_by
    _lock_vendor_master()
    # Re-checked under the lock: someone may have entered one of these vendors meanwhile.
    taken = selectors.existing_tax_ids([row.tax_id for row in rows if row.tax_id])
    if taken:
        raise DomainError(
            "While the file was being checked, vendors with these tax ids were created: "
            + ", ".join(sorted(taken)[:10])
            + ". Upload the file again."
        )
    vendors = Vendor.objects.bulk_create(
        Vendor(
            name=row.name,
            tax_id=row.tax_id,
            country=row.country,
            currency=row.currency,
            payment_terms_id=row.payment_terms_id,
            email=row.email,
            remit_to=row.remit_to,
        )
        for row in rows
    )
    accounts = BankAccount.objects.bulk_create(
        BankAccount(
            vendor=vendor,
            account_holder=row.account_holder or row.name,
            iban=row.iban,
            bic=row.bic,
            requested_by=by,
        )
        for vendor, row in zip(vendors, rows, strict=True)
        if row.iban
    )
    source = f"Imported from {vendor_import.file_name}"
    audit_bulk(
        [
            *(
                AuditEvent(
                    actor=by,
                    actor_name=by.get_username(),
                    object_type="vendors.vendor",
                    object_id=vendor.pk,
                    object_repr=vendor.name[:200],
                    action=AuditAction.CREATED,
                    to_status=vendor.status,
                    note=f"{source}, line {row.line}",
                )
                for vendor, row in zip(vendors, rows, strict=True)
            ),
            *(
                AuditEvent(
                    actor=by,
                    actor_name=by.get_username(),
                    object_type="vendors.bankaccount",
                    object_id=account.pk,
                    object_repr=f"{account.vendor.name} {account.masked_iban}"[:200],
                    action=AuditAction.CREATED,
                    to_status=account.status,
                    changes={"iban": account.masked_iban, "bic": account.bic},
                    note=f"{source}; payments are held until a second person verifies it.",
                )
                for account in accounts
            ),
        ]
    )
    return len(vendors)
