"""Approved invoices made directly, so payment tests do not walk the whole purchase flow."""

import datetime as dt
from decimal import Decimal

from django.contrib.auth.models import User
from django.utils import timezone

from payables.models.invoices import Invoice
from payables.models.payments import CompanySettings, PaymentRun
from payables.services import payments, settlement
from payables.services.invoices import normalize_invoice_number
from tests import factories
from vendors.models import PaymentTerms, Vendor


def approved(
    vendor: Vendor,
    number: str,
    *,
    invoice_date: dt.date,
    amount: str = "1000.00",
    currency: str = "EUR",
    credit_note: bool = False,
    prepaid: str = "0",
    terms: PaymentTerms | None = None,
    status: str = Invoice.Status.APPROVED,
) -> Invoice:
    """An approved invoice (or credit note) with dates and discount from the vendor's terms."""
    terms = terms or vendor.payment_terms
    total = Decimal(amount)
    payable = total - Decimal(prepaid)
    discount_date = terms.discount_date(invoice_date)
    return Invoice.objects.create(
        vendor=vendor,
        number=number,
        normalized_number=normalize_invoice_number(number),
        document_type=Invoice.DocumentType.CREDIT_NOTE
        if credit_note
        else Invoice.DocumentType.INVOICE,
        invoice_date=invoice_date,
        due_date=terms.due_date(invoice_date),
        discount_date=None if credit_note else discount_date,
        discount_amount=(
            terms.discount_amount(payable, currency) if discount_date and not credit_note else 0
        ),
        currency=currency,
        net_amount=total,
        total_amount=total,
        prepaid_amount=Decimal(prepaid),
        payable_amount=payable,
        status=status,
        captured_at=timezone.now(),
        approved_at=timezone.now(),
    )


def company(iban: str = "NL91ABNA0417164300", bic: str = "ABNANL2A", **fields) -> CompanySettings:
    """The paying company with its account set."""
    row = CompanySettings.load()
    CompanySettings.objects.filter(pk=1).update(
        company_name="Acme Nederland B.V.", iban=iban, bic=bic, **fields
    )
    row.refresh_from_db()
    return row


def one_ten_net90() -> PaymentTerms:
    """1 % for paying 80 days early: about 4.6 % a year, below a normal cost of capital."""
    return PaymentTerms.objects.get_or_create(
        code="1/10N90",
        defaults={
            "name": "1/10 Net 90",
            "net_days": 90,
            "discount_percent": Decimal("1"),
            "discount_days": 10,
        },
    )[0]


def system_user() -> User:
    return User.objects.get_or_create(username="bank-maker")[0]


def own_account(vendor: Vendor, n: int) -> None:
    """Give the vendor a bank account of its own: vendors sharing one look like duplicates."""
    from schwifty import IBAN

    from vendors.models import BankAccount

    iban = IBAN.generate("NL", bank_code="ABNA", account_code=f"{417164300 + n}").compact
    BankAccount.objects.filter(vendor=vendor).update(iban=iban)


def office_depot_run_sent(people: dict[str, User]) -> PaymentRun:
    """Office Depot's 1,000.00 and 788.00 EUR invoices, proposed by Carla, sent to the bank."""
    company()
    office = factories.make_vendor("Office Depot B.V.")
    approved(office, "OD-1", invoice_date=dt.date(2026, 10, 15), amount="1000.00")
    approved(office, "OD-2", invoice_date=dt.date(2026, 10, 16), amount="788.00")
    run = payments.payment_run_propose(
        by=people["ap_clerk"], pay_date=dt.date(2026, 11, 5), horizon_date=dt.date(2026, 11, 19)
    )
    run = payments.payment_run_approve(run=run, by=people["finance_leader"])
    settlement.payment_run_export(run=run, by=people["ap_clerk"])
    run.refresh_from_db()
    assert run.status == PaymentRun.Status.SENT
    return run
