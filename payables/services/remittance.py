"""Remittance advice: what one vendor is paid in a run, shown and emailed."""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from p2p import roles
from p2p.audit import audit_record
from p2p.exceptions import DomainError
from p2p.models import AuditAction
from p2p.money import ZERO
from p2p.roles import Perm
from payables.models.payments import CompanySettings, PaymentRun
from vendors.models import BankAccount, Vendor


@dataclass
class Remittance:
    """What one vendor is paid in a run, line by line, per currency."""

    run: PaymentRun
    vendor: Vendor
    company: CompanySettings
    transfers: list[dict[str, Any]]


def remittance_for(run: PaymentRun, vendor: Vendor) -> Remittance:
    """The vendor's live payments in the run grouped per currency, for the advice and its email."""
    payments = list(
        run.payments.filter(vendor=vendor)
        .live()
        .select_related("invoice")
        .order_by("currency", "invoice__invoice_date", "invoice_id")
    )
    transfers: dict[str, dict[str, Any]] = {}
    for payment in payments:
        transfer = transfers.setdefault(
            payment.currency,
            {
                "currency": payment.currency,
                "payments": [],
                "gross": ZERO,
                "discount": ZERO,
                "net": ZERO,
                "end_to_end_id": payment.end_to_end_id,
            },
        )
        transfer["payments"].append(payment)
        transfer["gross"] += payment.gross_amount
        transfer["discount"] += payment.discount_taken
        transfer["net"] += payment.net_amount
    account = (
        vendor.bank_accounts.filter(status=BankAccount.Status.VERIFIED)
        .order_by("-verified_at")
        .first()
    )
    for transfer in transfers.values():
        transfer["account"] = account
    return Remittance(
        run=run, vendor=vendor, company=CompanySettings.load(), transfers=list(transfers.values())
    )


def remittance_send(*, run: PaymentRun, vendor: Vendor, by: User) -> Remittance:
    """Email the vendor what the run pays them and for which invoices (HTML with a text part)."""
    roles.require(by, Perm.OPERATE_RUN)
    run = PaymentRun.objects.get(pk=run.pk)
    if run.status not in (PaymentRun.Status.SENT, PaymentRun.Status.PAID):
        raise DomainError("Remittance advice goes out once the run has been sent to the bank.")
    if not vendor.email:
        raise DomainError(f"{vendor.name} has no email address; print the advice instead.")
    advice = remittance_for(run, vendor)
    if not advice.transfers:
        raise DomainError(f"{run.number} pays nothing to {vendor.name}.")
    context = {"advice": advice, "site_url": settings.SITE_URL}
    message = EmailMultiAlternatives(
        subject=f"Payment advice {run.number} from {advice.company.company_name}",
        body=render_to_string("payables/email/remittance.txt", context),
        to=[vendor.email],
    )
    message.attach_alternative(
        render_to_string("payables/email/remittance.html", context), "text/html"
    )
    message.send()
    audit_record(
        obj=run,
        action=AuditAction.REMITTANCE_SENT,
        by=by,
        changes={"vendor": vendor.name, "email": vendor.email},
    )
    return advice
