"""UBL 2.1 / Peppol BIS Billing 3.0 invoices and credit notes into a ParsedInvoice."""

from decimal import Decimal
from typing import overload
from xml.etree.ElementTree import Element

from p2p.money import ZERO
from payables.einvoice.common import (
    CREDIT_NOTE,
    INVOICE,
    AllowanceCharge,
    EInvoiceError,
    ParsedInvoice,
    ParsedLine,
    choose_seller_tax_id,
    clean_order_reference,
    discount_from_terms,
    due_date_from_terms,
    is_credit_note_code,
    net_unit_price,
    parse_amount,
    parse_iso_date,
    text_of,
    unique,
)

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
NS = {"cac": CAC, "cbc": CBC}
ROOTS = {f"{{{INVOICE_NS}}}Invoice": INVOICE, f"{{{CREDIT_NOTE_NS}}}CreditNote": CREDIT_NOTE}


def is_ubl_invoice(root: Element) -> bool:
    return root.tag in ROOTS


def _find(element: Element | None, path: str) -> Element | None:
    return None if element is None else element.find(path, NS)


def _text(element: Element | None, path: str) -> str:
    return text_of(_find(element, path))


class _Amounts:
    """Reads amounts in the document currency; an amount without currencyID is in it too."""

    def __init__(self, currency: str):
        self.currency = currency

    # An amount with a default is always there; with default=None it may be missing.
    @overload
    def of(self, element: Element | None, what: str, default: Decimal = ...) -> Decimal: ...
    @overload
    def of(self, element: Element | None, what: str, default: None) -> Decimal | None: ...
    def of(
        self, element: Element | None, what: str, default: Decimal | None = ZERO
    ) -> Decimal | None:
        if element is None or not text_of(element):
            return default
        currency = element.get("currencyID", "").strip().upper()
        if currency and currency != self.currency:
            raise EInvoiceError(
                f"{what} is in {currency} but the invoice is in {self.currency}; "
                "only the tax total may be stated in a second currency."
            )
        return parse_amount(element.text or "", what)

    @overload
    def at(
        self, parent: Element | None, path: str, what: str, default: Decimal = ...
    ) -> Decimal: ...
    @overload
    def at(self, parent: Element | None, path: str, what: str, default: None) -> Decimal | None: ...
    def at(
        self, parent: Element | None, path: str, what: str, default: Decimal | None = ZERO
    ) -> Decimal | None:
        return self.of(_find(parent, path), what, default)


def parse_ubl(root: Element) -> ParsedInvoice:
    """Read a UBL Invoice or CreditNote; raises EInvoiceError with the reason when it cannot."""
    is_credit_root = ROOTS[root.tag] == CREDIT_NOTE
    number = _text(root, "cbc:ID")
    if not number:
        raise EInvoiceError("The invoice has no number (cbc:ID).")
    issue_text = _text(root, "cbc:IssueDate")
    if not issue_text:
        raise EInvoiceError(f"Invoice {number} has no issue date (cbc:IssueDate).")
    issue_date = parse_iso_date(issue_text, "Issue date")
    currency = _text(root, "cbc:DocumentCurrencyCode").upper()
    if len(currency) != 3:
        raise EInvoiceError(
            f"Invoice {number} has no document currency (cbc:DocumentCurrencyCode)."
        )
    amounts = _Amounts(currency)
    type_code = _text(root, "cbc:CreditNoteTypeCode" if is_credit_root else "cbc:InvoiceTypeCode")
    document_type = CREDIT_NOTE if is_credit_root or is_credit_note_code(type_code) else INVOICE

    terms_text = " ".join(
        text_of(note) for note in root.findall("cac:PaymentTerms/cbc:Note", NS) if text_of(note)
    )
    due_text = (
        _text(root, "cbc:DueDate")
        or _text(root, "cac:PaymentMeans/cbc:PaymentDueDate")
        or _text(root, "cac:PaymentTerms/cbc:PaymentDueDate")
    )
    due_date = (
        parse_iso_date(due_text, "Due date")
        if due_text
        else due_date_from_terms(terms_text, issue_date)
    )

    seller = _find(root, "cac:AccountingSupplierParty/cac:Party")
    if seller is None:
        raise EInvoiceError(
            f"Invoice {number} does not say who the seller is (AccountingSupplierParty)."
        )
    vat_ids: list[str] = []
    other_tax_ids: list[str] = []
    for scheme in seller.findall("cac:PartyTaxScheme", NS):
        target = (
            vat_ids if _text(scheme, "cac:TaxScheme/cbc:ID").upper() == "VAT" else other_tax_ids
        )
        target.append(_text(scheme, "cbc:CompanyID"))
    legal_ids = [text_of(e) for e in seller.findall("cac:PartyLegalEntity/cbc:CompanyID", NS)]
    party_ids = [text_of(e) for e in seller.findall("cac:PartyIdentification/cbc:ID", NS)]
    endpoint_id = _text(seller, "cbc:EndpointID")
    registration_name = _text(seller, "cac:PartyLegalEntity/cbc:RegistrationName")
    trading_name = _text(seller, "cac:PartyName/cbc:Name")
    buyer = _find(root, "cac:AccountingCustomerParty/cac:Party")
    order_text = _text(root, "cac:OrderReference/cbc:ID")

    line_tag = "cac:CreditNoteLine" if is_credit_root else "cac:InvoiceLine"
    quantity_tag = "cbc:CreditedQuantity" if is_credit_root else "cbc:InvoicedQuantity"
    lines = [
        _line(line, n, quantity_tag, amounts)
        for n, line in enumerate(root.findall(line_tag, NS), 1)
    ]
    if not lines:
        raise EInvoiceError(f"Invoice {number} has no lines.")

    allowances_charges = []
    for element in root.findall("cac:AllowanceCharge", NS):
        is_charge = _text(element, "cbc:ChargeIndicator").lower() == "true"
        what = "Charge" if is_charge else "Allowance"
        rate = _text(element, "cac:TaxCategory/cbc:Percent")
        allowances_charges.append(
            AllowanceCharge(
                is_charge=is_charge,
                amount=amounts.at(element, "cbc:Amount", f"{what} amount"),
                reason=_text(element, "cbc:AllowanceChargeReason")
                or _text(element, "cbc:AllowanceChargeReasonCode"),
                tax_rate=parse_amount(rate, f"{what} tax rate") if rate else None,
            )
        )

    totals = _find(root, "cac:LegalMonetaryTotal")
    if totals is None:
        raise EInvoiceError(f"Invoice {number} has no totals (LegalMonetaryTotal).")
    payable = amounts.at(totals, "cbc:PayableAmount", "Payable amount", default=None)
    if payable is None:
        raise EInvoiceError(f"Invoice {number} does not state the amount due (PayableAmount).")
    line_net_total = sum((line.net_amount for line in lines), ZERO)
    allowance_total = sum((a.amount for a in allowances_charges if not a.is_charge), ZERO)
    charge_total = sum((a.amount for a in allowances_charges if a.is_charge), ZERO)
    tax_total = _tax_total(root, currency)
    tax_exclusive = amounts.at(
        totals,
        "cbc:TaxExclusiveAmount",
        "Tax exclusive amount",
        default=line_net_total - allowance_total + charge_total,
    )
    return ParsedInvoice(
        syntax="ubl",
        document_type=document_type,
        type_code=type_code or ("381" if is_credit_root else "380"),
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        tax_currency=_text(root, "cbc:TaxCurrencyCode").upper(),
        lines=lines,
        seller_name=registration_name or trading_name,
        seller_trading_name=trading_name,
        seller_tax_id=choose_seller_tax_id(vat_ids, [*other_tax_ids, *legal_ids, *party_ids]),
        seller_ids=unique([*vat_ids, *other_tax_ids, *legal_ids, *party_ids]),
        seller_endpoint_id=endpoint_id,
        buyer_name=_text(buyer, "cac:PartyLegalEntity/cbc:RegistrationName")
        or _text(buyer, "cac:PartyName/cbc:Name"),
        order_reference=clean_order_reference(order_text),
        order_reference_text=order_text,
        payment_terms_text=terms_text,
        discount=discount_from_terms(terms_text),
        allowances_charges=allowances_charges,
        line_net_total=line_net_total,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_exclusive_amount=tax_exclusive,
        tax_total=tax_total,
        tax_inclusive_amount=amounts.at(
            totals,
            "cbc:TaxInclusiveAmount",
            "Tax inclusive amount",
            default=tax_exclusive + tax_total,
        ),
        prepaid_amount=amounts.at(totals, "cbc:PrepaidAmount", "Prepaid amount"),
        rounding_amount=amounts.at(totals, "cbc:PayableRoundingAmount", "Rounding amount"),
        payable_amount=payable,
    )


def _tax_total(root: Element, currency: str) -> Decimal:
    """The VAT total in the document currency, not the one some invoices add in the tax currency."""
    for tax_total in root.findall("cac:TaxTotal", NS):
        amount = _find(tax_total, "cbc:TaxAmount")
        if amount is None or not text_of(amount):
            continue
        if amount.get("currencyID", currency).strip().upper() == currency:
            return parse_amount(amount.text or "", "Tax total")
    return ZERO


def _line(line: Element, position: int, quantity_tag: str, amounts: _Amounts) -> ParsedLine:
    line_id = _text(line, "cbc:ID") or str(position)
    where = f"Line {line_id}"
    quantity_element = _find(line, quantity_tag)
    quantity_text = text_of(quantity_element)
    quantity = parse_amount(quantity_text, f"{where} quantity") if quantity_text else Decimal("1")
    net_amount = amounts.at(line, "cbc:LineExtensionAmount", f"{where} net amount", default=None)
    if net_amount is None:
        raise EInvoiceError(f"{where} has no net amount (LineExtensionAmount).")
    price = amounts.at(line, "cac:Price/cbc:PriceAmount", f"{where} price", default=None)
    base_quantity_text = _text(line, "cac:Price/cbc:BaseQuantity")
    base_quantity = (
        parse_amount(base_quantity_text, f"{where} base quantity") if base_quantity_text else None
    )
    unit_price = net_unit_price(price, base_quantity, quantity, net_amount)
    rate = _text(line, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent")
    name = _text(line, "cac:Item/cbc:Name")
    description = _text(line, "cac:Item/cbc:Description")
    return ParsedLine(
        line_id=line_id,
        description=name or description or f"Line {line_id}",
        quantity=quantity,
        unit_code=(
            quantity_element.get("unitCode", "") if quantity_element is not None else ""
        ).strip(),
        unit_price=unit_price,
        net_amount=net_amount,
        tax_rate=parse_amount(rate, f"{where} tax rate") if rate else None,
        order_line_reference=_text(line, "cac:OrderLineReference/cbc:LineID"),
    )
