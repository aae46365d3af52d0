"""Fixed, recognisable test data: the office-supplies purchase a clerk would know."""

import datetime as dt
import zlib
from decimal import Decimal

from django.contrib.auth.models import Group, User
from schwifty import IBAN

from payables.models.matching import MatchPolicy
from procurement.models import ApprovalRule, CostCenter, GLAccount
from vendors.models import BankAccount, PaymentTerms, Vendor

PASSWORD = "test-pass-2026"


def make_user(username: str, *roles: str, email: str | None = None) -> User:
    user = User.objects.create_user(
        username=username,
        password=PASSWORD,
        email=email or f"{username}@example.com",
        first_name=username.capitalize(),
    )
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def net30() -> PaymentTerms:
    return PaymentTerms.objects.get_or_create(
        code="NET30", defaults={"name": "Net 30", "net_days": 30}
    )[0]


def two_ten_net30() -> PaymentTerms:
    return PaymentTerms.objects.get_or_create(
        code="2/10N30",
        defaults={
            "name": "2/10 Net 30",
            "net_days": 30,
            "discount_percent": Decimal("2"),
            "discount_days": 10,
        },
    )[0]


FIRST_IBAN = "NL91ABNA0417164300"


def _factory_iban(name: str) -> str:
    """The first vendor of a test is paid into FIRST_IBAN, every further one into its own.

    A shared IBAN across vendors is itself a duplicate-payment signal for the matcher.
    """
    if not BankAccount.objects.filter(iban=FIRST_IBAN).exists():
        return FIRST_IBAN
    account = f"{zlib.crc32(name.encode()) % 10**10:010d}"
    return str(IBAN.generate("NL", bank_code="ABNA", account_code=account))


def make_vendor(
    name: str = "Office Depot B.V.",
    *,
    terms: PaymentTerms | None = None,
    status: str = Vendor.Status.ACTIVE,
    verified_bank: bool = True,
    maker: User | None = None,
    checker: User | None = None,
) -> Vendor:
    vendor = Vendor.objects.create(
        name=name,
        tax_id=f"NL{zlib.crc32(name.encode()) % 10**9:09d}B01",
        payment_terms=terms or net30(),
        status=status,
        email="billing@example.com",
    )
    if verified_bank:
        maker = maker or User.objects.get_or_create(username="bank-maker")[0]
        checker = checker or User.objects.get_or_create(username="bank-checker")[0]
        BankAccount.objects.create(
            vendor=vendor,
            account_holder=name,
            iban=_factory_iban(name),
            bic="ABNANL2A",
            status=BankAccount.Status.VERIFIED,
            requested_by=maker,
            verified_by=checker,
            verified_at=dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC),
        )
    return vendor


def make_coding() -> tuple[CostCenter, GLAccount]:
    cost_center = CostCenter.objects.get_or_create(
        code="CC-100", defaults={"name": "Operations", "department": "Operations"}
    )[0]
    gl_account = GLAccount.objects.get_or_create(code="6100", defaults={"name": "Office supplies"})[
        0
    ]
    return cost_center, gl_account


def make_rules() -> None:
    """One approver for everything; finance leader above 10,000."""
    ApprovalRule.objects.get_or_create(
        name="Department approval",
        step=1,
        defaults={"approver_group": Group.objects.get_or_create(name="approver")[0]},
    )
    ApprovalRule.objects.get_or_create(
        name="Finance above 10,000",
        step=2,
        defaults={
            "min_amount": Decimal("10000"),
            "approver_group": Group.objects.get_or_create(name="finance_leader")[0],
        },
    )


def make_policy() -> MatchPolicy:
    return MatchPolicy.objects.get_or_create(
        name="Organisation default",
        vendor=None,
        defaults={
            "price_tolerance_pct": Decimal("2"),
            "price_tolerance_abs": Decimal("5"),
            "qty_tolerance_pct": Decimal("0"),
            "total_tolerance_abs": Decimal("0.05"),
        },
    )[0]
