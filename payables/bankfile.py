"""Bank files for a payment run: ISO 20022 pain.001.001.09 per currency, and a CSV.

The XML is written by `sepaxml` (a maintained SEPA library) and then checked against the
official ISO 20022 schema kept in payables/schemas/pain, so a file the bank would refuse
for its structure is never offered.
"""

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from pathlib import Path

from defusedxml import ElementTree
from django.db.models import Prefetch
from sepaxml import SepaTransfer

from p2p.exceptions import DomainError
from p2p.money import ZERO
from payables.models.payments import CompanySettings, Payment, PaymentExport, PaymentRun
from vendors.models import BankAccount, Vendor

PAIN_SCHEMA = "pain.001.001.09"
SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "pain" / f"{PAIN_SCHEMA}.xsd"
NAMESPACE = f"urn:iso:std:iso:20022:tech:xsd:{PAIN_SCHEMA}"
# RmtInf/Ustrd is Max140Text: the invoice numbers that fit, then a pointer to the advice.
USTRD_MAX = 140
# SEPA is euro only; other currencies go without the SEPA service level.
SEPA_CURRENCY = "EUR"


@dataclass
class Transfer:
    """What one vendor is paid in one currency: one CdtTrfTxInf in the file."""

    vendor: Vendor
    currency: str
    account: BankAccount
    end_to_end_id: str
    net: Decimal = ZERO
    lines: list[Payment] = field(default_factory=list)

    @property
    def payment_ids(self) -> list[int]:
        return [line.pk for line in self.lines]


def remittance_text(run_number: str, lines: list[Payment]) -> str:
    """'RUN-000012 INV-1, INV-2, CN-7' — as many numbers as fit in 140 characters."""
    numbers = [
        f"CN {line.invoice.number}" if line.net_amount < 0 else line.invoice.number
        for line in lines
    ]
    text = f"{run_number} {', '.join(numbers)}"
    if len(text) <= USTRD_MAX:
        return text
    for shown in range(len(numbers) - 1, 0, -1):
        more = f" +{len(numbers) - shown} more, see advice"
        text = f"{run_number} {', '.join(numbers[:shown])}{more}"
        if len(text) <= USTRD_MAX:
            return text
    return f"{run_number} {len(numbers)} invoices, see remittance advice"[:USTRD_MAX]


def transfers_of(run: PaymentRun) -> list[Transfer]:
    """The run's live payments as transfers per vendor and currency, checked for payability.

    A bank change entered after the run was approved stops the export: the money would go to
    an account nobody has verified yet.
    """
    payments = list(
        run.payments.filter(status=Payment.Status.SCHEDULED)
        .select_related("invoice", "vendor")
        .prefetch_related(
            Prefetch(
                "vendor__bank_accounts",
                queryset=BankAccount.objects.filter(
                    status__in=[BankAccount.Status.VERIFIED, BankAccount.Status.PENDING]
                ).order_by("-verified_at", "-id"),
                to_attr="live_accounts",
            )
        )
        .order_by("currency", "vendor__name", "vendor_id", "invoice__due_date", "id")
    )
    transfers: dict[tuple[int, str], Transfer] = {}
    problems = []
    for payment in payments:
        key = (payment.vendor_id, payment.currency)
        if key not in transfers:
            vendor = payment.vendor
            # The Prefetch above puts them there, under a name the model does not declare.
            live_accounts: list[BankAccount] = vendor.live_accounts  # type: ignore[attr-defined]
            verified = [a for a in live_accounts if a.status == BankAccount.Status.VERIFIED]
            if any(a.status == BankAccount.Status.PENDING for a in live_accounts):
                problems.append(f"{vendor.name} has a bank account change waiting for verification")
            elif not verified:
                problems.append(f"{vendor.name} has no verified bank account")
            transfers[key] = Transfer(
                vendor=vendor,
                currency=payment.currency,
                # Without one the problem above refuses the file before anything is written.
                account=verified[0] if verified else None,  # type: ignore[arg-type]
                end_to_end_id=f"{run.number}-{vendor.pk}-{payment.currency}"[:35],
            )
        transfers[key].lines.append(payment)
        transfers[key].net += payment.net_amount
    for transfer in transfers.values():
        if transfer.net <= 0:
            problems.append(
                f"the {transfer.currency} transfer to {transfer.vendor.name} comes to "
                f"{transfer.net} after credit notes"
            )
    if problems:
        raise DomainError(f"{run.number} cannot go to the bank: {'; '.join(problems)}.")
    return list(transfers.values())


@cache
def _schema():
    # Imported here: xmlschema is only needed when a file is written.
    import xmlschema

    return xmlschema.XMLSchema(str(SCHEMA_PATH))


def validate_pain001(xml: bytes) -> None:
    """Raise DomainError with the first schema violation, if any."""
    error = next(iter(_schema().iter_errors(xml.decode("utf-8"))), None)
    if error is not None:
        where = error.path or "the document"
        raise DomainError(
            f"The bank file failed the {PAIN_SCHEMA} schema check at {where}: {error.reason}"
        )


def _cents(amount: Decimal) -> int:
    # sepaxml takes integer minor units, which keeps floats out of the file.
    return int((amount * 100).to_integral_value())


def pain001(
    *,
    run: PaymentRun,
    company: CompanySettings,
    currency: str,
    transfers: list[Transfer],
    at: dt.datetime,
    message_id: str = "",
    payment_info_id: str = "",
) -> bytes:
    """One pain.001.001.09 document: the company's account pays every transfer in `currency`.

    `message_id` and `payment_info_id` repeat those of the file this one replaces; left blank,
    the file gets new ones.
    """
    if not company.iban:
        raise DomainError(
            "The company's own IBAN is not set; a finance leader enters it in payment settings."
        )
    config = {
        "name": company.company_name,
        "IBAN": company.iban,
        "batch": True,
        "currency": currency,
        "domestic": currency != SEPA_CURRENCY,
    }
    if company.bic:
        config["BIC"] = company.bic
    document = SepaTransfer(config, schema=PAIN_SCHEMA, clean=True)
    # Banks refuse an execution date in the past; a late run is paid on the day it is sent.
    execution_date = max(run.pay_date, at.date())
    for transfer in transfers:
        payment = {
            "name": transfer.account.account_holder or transfer.vendor.name,
            "IBAN": transfer.account.iban.replace(" ", "").upper(),
            "amount": _cents(transfer.net),
            "currency": currency,
            "execution_date": execution_date,
            "description": remittance_text(run.number, transfer.lines),
            "endtoend_id": transfer.end_to_end_id,
        }
        if transfer.account.bic:
            payment["BIC"] = transfer.account.bic
        document.add_payment(payment)
    xml = document.export(validate=False, pretty_print=True)
    if currency != SEPA_CURRENCY:
        # sepaxml always writes SLEV ("as the SEPA service level says"), which means nothing
        # outside SEPA: charges are shared there, as banks expect for cross-border transfers.
        xml = xml.replace(b"<ChrgBr>SLEV</ChrgBr>", b"<ChrgBr>SHAR</ChrgBr>")
    # sepaxml draws fresh ids for every document; a replacement swaps the earlier ones back in
    # so the bank recognises it as the same instruction.
    written_message_id, _count, _sum = _header(xml)
    written_payment_info_id, _end_to_end_ids = _identifiers(xml)
    for tag, written, wanted in (
        ("MsgId", written_message_id, message_id),
        ("PmtInfId", written_payment_info_id, payment_info_id),
    ):
        if wanted:
            xml = xml.replace(
                f"<{tag}>{written}</{tag}>".encode(), f"<{tag}>{wanted}</{tag}>".encode()
            )
    validate_pain001(xml)
    return xml


def csv_file(run: PaymentRun, transfers: list[Transfer], execution_date: dt.date) -> str:
    """Every line of the run with its transfer, for the ledger and for banks without pain.001."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "run",
            "execution_date",
            "currency",
            "end_to_end_id",
            "vendor",
            "account_holder",
            "iban",
            "bic",
            "document",
            "document_type",
            "due_date",
            "gross",
            "discount",
            "net",
            "transfer_net",
        ]
    )
    for transfer in transfers:
        for line in transfer.lines:
            writer.writerow(
                [
                    run.number,
                    execution_date.isoformat(),
                    transfer.currency,
                    transfer.end_to_end_id,
                    transfer.vendor.name,
                    transfer.account.account_holder,
                    transfer.account.iban,
                    transfer.account.bic,
                    line.invoice.number,
                    line.invoice.document_type,
                    line.invoice.due_date.isoformat(),
                    line.gross_amount,
                    line.discount_taken,
                    line.net_amount,
                    transfer.net,
                ]
            )
    return out.getvalue()


def _header(xml: bytes) -> tuple[str, int, Decimal]:
    """MsgId, NbOfTxs and CtrlSum from the group header, as the bank will read them."""
    root = ElementTree.fromstring(xml)
    header = root.find(f"{{{NAMESPACE}}}CstmrCdtTrfInitn/{{{NAMESPACE}}}GrpHdr")
    return (
        header.findtext(f"{{{NAMESPACE}}}MsgId"),
        int(header.findtext(f"{{{NAMESPACE}}}NbOfTxs")),
        Decimal(header.findtext(f"{{{NAMESPACE}}}CtrlSum")),
    )


def _identifiers(xml: bytes) -> tuple[str, list[str]]:
    """The PmtInfId and every EndToEndId, in file order."""
    root = ElementTree.fromstring(xml)
    ns = {"p": NAMESPACE}
    payment_info_id = root.findtext("p:CstmrCdtTrfInitn/p:PmtInf/p:PmtInfId", namespaces=ns)
    end_to_end_ids = [
        node.text for node in root.iterfind(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", ns)
    ]
    return payment_info_id, end_to_end_ids


def _filename(stem: str, extension: str, replaces: PaymentExport | None) -> str:
    """RUN-000012-EUR-pain.001.001.09.xml, then …-replacement-1.xml, -2 … for its replacements."""
    if replaces is None:
        return f"{stem}.{extension}"
    edition = 1
    while replaces.replaces_id is not None and replaces.replaces is not None:
        replaces = replaces.replaces
        edition += 1
    return f"{stem}-replacement-{edition}.{extension}"


def pain001_export(
    *,
    run: PaymentRun,
    company: CompanySettings,
    currency: str,
    transfers: list[Transfer],
    at: dt.datetime,
    replaces: PaymentExport | None = None,
) -> PaymentExport:
    """An unsaved pain.001 export for `currency`, carrying the ids of the file it replaces."""
    in_currency = [t for t in transfers if t.currency == currency]
    if not in_currency:
        raise DomainError(f"{run.number} has no live {currency} payment left to send.")
    xml = pain001(
        run=run,
        company=company,
        currency=currency,
        transfers=in_currency,
        at=at,
        message_id=replaces.message_id if replaces else "",
        payment_info_id=replaces.payment_info_id if replaces else "",
    )
    message_id, count, control_sum = _header(xml)
    payment_info_id, end_to_end_ids = _identifiers(xml)
    return PaymentExport(
        run=run,
        format=PaymentExport.Format.PAIN001,
        currency=currency,
        message_id=message_id,
        payment_info_id=payment_info_id,
        end_to_end_ids=end_to_end_ids,
        debtor_iban=company.iban,
        filename=_filename(f"{run.number}-{currency}-{PAIN_SCHEMA}", "xml", replaces),
        content=xml.decode("utf-8"),
        sha256=hashlib.sha256(xml).hexdigest(),
        transfer_count=count,
        control_sum=control_sum,
        replaces=replaces,
    )


def csv_export(
    *,
    run: PaymentRun,
    company: CompanySettings,
    transfers: list[Transfer],
    at: dt.datetime,
    replaces: PaymentExport | None = None,
) -> PaymentExport:
    """An unsaved CSV export of every live line of the run."""
    text = csv_file(run, transfers, max(run.pay_date, at.date()))
    single_currency = len({t.currency for t in transfers}) == 1
    return PaymentExport(
        run=run,
        format=PaymentExport.Format.CSV,
        end_to_end_ids=[t.end_to_end_id for t in transfers],
        debtor_iban=company.iban,
        filename=_filename(f"{run.number}-payments", "csv", replaces),
        content=text,
        sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        transfer_count=len(transfers),
        control_sum=sum((t.net for t in transfers), ZERO) if single_currency else ZERO,
        replaces=replaces,
    )


def build_files(
    *, run: PaymentRun, company: CompanySettings, transfers: list[Transfer], at: dt.datetime
) -> list[PaymentExport]:
    """Unsaved exports: one pain.001 per currency, then the CSV of the whole run."""
    currencies = sorted({transfer.currency for transfer in transfers})
    exports = [
        pain001_export(run=run, company=company, currency=currency, transfers=transfers, at=at)
        for currency in currencies
    ]
    exports.append(csv_export(run=run, company=company, transfers=transfers, at=at))
    return exports


def rebuild_file(
    *,
    export: PaymentExport,
    company: CompanySettings,
    transfers: list[Transfer],
    at: dt.datetime,
) -> PaymentExport:
    """An unsaved replacement of `export` from the run's live payments, with the same ids."""
    if export.format == PaymentExport.Format.PAIN001:
        return pain001_export(
            run=export.run,
            company=company,
            currency=export.currency,
            transfers=transfers,
            at=at,
            replaces=export,
        )
    return csv_export(run=export.run, company=company, transfers=transfers, at=at, replaces=export)
