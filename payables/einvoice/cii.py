"""UN/CEFACT Cross Industry Invoice (EN 16931, Factur-X, ZUGFeRD, XRechnung) into a ParsedInvoice."""

import datetime as dt
from decimal import Decimal
from typing import overload
from xml.etree.ElementTree import Element

from p2p.money import ZERO
from payables.einvoice.common import (
    CREDIT_NOTE,
    INVOICE,
    AllowanceCharge,
    DiscountTerms,
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
    plausible_date,
    text_of,
    unique,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
NS = {"rsm": RSM, "ram": RAM, "udt": UDT}
ROOT = f"{{{RSM}}}CrossIndustryInvoice"


def is_cii_invoice(root: Element) -> bool:
    return root.tag == ROOT


def _find(element: Element | None, path: str) -> Element | None:
    return None if element is None else element.find(path, NS)


def _text(element: Element | None, path: str) -> str:
    return text_of(_find(element, path))


# An amount with a default is always there; with default=None it may be missing.
@overload
def _amount(parent: Element | None, path: str, what: str, default: Decimal = ...) -> Decimal: ...
@overload
def _amount(parent: Element | None, path: str, what: str, default: None) -> Decimal | None: ...
def _amount(
    parent: Element | None, path: str, what: str, default: Decimal | None = ZERO
) -> Decimal | None:
    text = _text(parent, path)
    return parse_amount(text, what) if text else default


def _date(element: Element | None, what: str) -> dt.date | None:
    """udt:DateTimeString in format 102 (YYYYMMDD), or an ISO date some senders use instead."""
    if element is None:
        return None
    string = element.find("udt:DateTimeString", NS)
    if string is None:
        string = element.find("udt:DateString", NS)
    text = text_of(string) or text_of(element)
    if not text:
        return None
    if (
        (string is None or string.get("format", "102") == "102")
        and len(text) == 8
        and text.isdigit()
    ):
        try:
            value = dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise EInvoiceError(f"{what} '{text}' is not a date.") from None
        return plausible_date(value, what)
    return parse_iso_date(text, what)


def parse_cii(root: Element) -> ParsedInvoice:
    """Read a CrossIndustryInvoice; raises EInvoiceError with the reason when it cannot."""
    document = root.find("rsm:ExchangedDocument", NS)
    transaction = root.find("rsm:SupplyChainTradeTransaction", NS)
    if document is None or transaction is None:
        raise EInvoiceError("The CII file has no ExchangedDocument or SupplyChainTradeTransaction.")
    number = _text(document, "ram:ID")
    if not number:
        raise EInvoiceError("The invoice has no number (ram:ID).")
    issue_date = _date(_find(document, "ram:IssueDateTime"), "Issue date")
    if issue_date is None:
        raise EInvoiceError(f"Invoice {number} has no issue date (IssueDateTime).")
    type_code = _text(document, "ram:TypeCode")

    agreement = _find(transaction, "ram:ApplicableHeaderTradeAgreement")
    settlement = _find(transaction, "ram:ApplicableHeaderTradeSettlement")
    if agreement is None or settlement is None:
        raise EInvoiceError(f"Invoice {number} lacks its trade agreement or settlement.")
    currency = _text(settlement, "ram:InvoiceCurrencyCode").upper()
    if len(currency) != 3:
        raise EInvoiceError(f"Invoice {number} has no invoice currency (InvoiceCurrencyCode).")

    seller = _find(agreement, "ram:SellerTradeParty")
    if seller is None:
        raise EInvoiceError(f"Invoice {number} does not say who the seller is (SellerTradeParty).")
    vat_ids: list[str] = []
    other_tax_ids: list[str] = []
    for registration in seller.findall("ram:SpecifiedTaxRegistration/ram:ID", NS):
        target = vat_ids if registration.get("schemeID", "").upper() == "VA" else other_tax_ids
        target.append(text_of(registration))
    legal_ids = [text_of(e) for e in seller.findall("ram:SpecifiedLegalOrganization/ram:ID", NS)]
    party_ids = [
        text_of(e) for e in [*seller.findall("ram:ID", NS), *seller.findall("ram:GlobalID", NS)]
    ]
    order_text = _text(agreement, "ram:BuyerOrderReferencedDocument/ram:IssuerAssignedID")

    terms = settlement.findall("ram:SpecifiedTradePaymentTerms", NS)
    terms_text = " ".join(_text(t, "ram:Description") for t in terms if _text(t, "ram:Description"))
    due_date = next(
        (d for t in terms if (d := _date(_find(t, "ram:DueDateDateTime"), "Due date")) is not None),
        None,
    ) or due_date_from_terms(terms_text, issue_date)

    lines = [
        _line(item, n)
        for n, item in enumerate(
            transaction.findall("ram:IncludedSupplyChainTradeLineItem", NS), start=1
        )
    ]
    if not lines:
        raise EInvoiceError(f"Invoice {number} has no lines.")

    allowances_charges = []
    for element in settlement.findall("ram:SpecifiedTradeAllowanceCharge", NS):
        is_charge = _text(element, "ram:ChargeIndicator/udt:Indicator").lower() == "true"
        what = "Charge" if is_charge else "Allowance"
        allowances_charges.append(
            AllowanceCharge(
                is_charge=is_charge,
                amount=_amount(element, "ram:ActualAmount", f"{what} amount"),
                reason=_text(element, "ram:Reason") or _text(element, "ram:ReasonCode"),
                tax_rate=_amount(
                    element,
                    "ram:CategoryTradeTax/ram:RateApplicablePercent",
                    f"{what} tax rate",
                    None,
                ),
            )
        )

    summation = _find(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    if summation is None:
        raise EInvoiceError(f"Invoice {number} has no totals (HeaderMonetarySummation).")
    payable = _amount(summation, "ram:DuePayableAmount", "Payable amount", None)
    if payable is None:
        raise EInvoiceError(f"Invoice {number} does not state the amount due (DuePayableAmount).")
    line_net_total = sum((line.net_amount for line in lines), ZERO)
    allowance_total = sum((a.amount for a in allowances_charges if not a.is_charge), ZERO)
    charge_total = sum((a.amount for a in allowances_charges if a.is_charge), ZERO)
    tax_total = _tax_total(summation, currency)
    tax_exclusive = _amount(
        summation,
        "ram:TaxBasisTotalAmount",
        "Tax basis total",
        line_net_total - allowance_total + charge_total,
    )
    return ParsedInvoice(
        syntax="cii",
        document_type=CREDIT_NOTE if is_credit_note_code(type_code) else INVOICE,
        type_code=type_code or "380",
        number=number,
        issue_date=issue_date,
        due_date=due_date,
        currency=currency,
        tax_currency=_text(settlement, "ram:TaxCurrencyCode").upper(),
        lines=lines,
        seller_name=_text(seller, "ram:Name"),
        seller_trading_name=_text(seller, "ram:SpecifiedLegalOrganization/ram:TradingBusinessName"),
        seller_tax_id=choose_seller_tax_id(vat_ids, [*other_tax_ids, *legal_ids, *party_ids]),
        seller_ids=unique([*vat_ids, *other_tax_ids, *legal_ids, *party_ids]),
        seller_endpoint_id=_text(seller, "ram:URIUniversalCommunication/ram:URIID"),
        buyer_name=_text(agreement, "ram:BuyerTradeParty/ram:Name"),
        order_reference=clean_order_reference(order_text),
        order_reference_text=order_text,
        payment_terms_text=terms_text,
        discount=_discount(terms) or discount_from_terms(terms_text),
        allowances_charges=allowances_charges,
        line_net_total=line_net_total,
        allowance_total=allowance_total,
        charge_total=charge_total,
        tax_exclusive_amount=tax_exclusive,
        tax_total=tax_total,
        tax_inclusive_amount=_amount(
            summation, "ram:GrandTotalAmount", "Grand total", tax_exclusive + tax_total
        ),
        prepaid_amount=_amount(summation, "ram:TotalPrepaidAmount", "Prepaid amount"),
        rounding_amount=_amount(summation, "ram:RoundingAmount", "Rounding amount"),
        payable_amount=payable,
    )


def _tax_total(summation: Element, currency: str) -> Decimal:
    """TaxTotalAmount in the invoice currency; a second one in the tax currency is ignored."""
    for element in summation.findall("ram:TaxTotalAmount", NS):
        if text_of(element) and element.get("currencyID", currency).strip().upper() == currency:
            return parse_amount(element.text or "", "Tax total")
    return ZERO


def _discount(terms: list[Element]) -> DiscountTerms | None:
    """ApplicableTradePaymentDiscountTerms (ZUGFeRD extended): days and percent."""
    for term in terms:
        discount = _find(term, "ram:ApplicableTradePaymentDiscountTerms")
        days = _text(discount, "ram:BasisPeriodMeasure")
        percent = _text(discount, "ram:CalculationPercent")
        if days and percent:
            return DiscountTerms(
                percent=parse_amount(percent, "Discount percent"),
                days=int(parse_amount(days, "Discount days")),
            )
    return None


def _line(item: Element, position: int) -> ParsedLine:
    line_id = _text(item, "ram:AssociatedDocumentLineDocument/ram:LineID") or str(position)
    where = f"Line {line_id}"
    agreement = _find(item, "ram:SpecifiedLineTradeAgreement")
    settlement = _find(item, "ram:SpecifiedLineTradeSettlement")
    quantity_element = _find(item, "ram:SpecifiedLineTradeDelivery/ram:BilledQuantity")
    quantity_text = text_of(quantity_element)
    quantity = parse_amount(quantity_text, f"{where} quantity") if quantity_text else Decimal("1")
    net_amount = _amount(
        settlement,
        "ram:SpecifiedTradeSettlementLineMonetarySummation/ram:LineTotalAmount",
        f"{where} net amount",
        None,
    )
    if net_amount is None:
        raise EInvoiceError(f"{where} has no net amount (LineTotalAmount).")
    net_price = _find(agreement, "ram:NetPriceProductTradePrice")
    price = _amount(net_price, "ram:ChargeAmount", f"{where} price", None)
    basis = _amount(net_price, "ram:BasisQuantity", f"{where} price basis quantity", None)
    unit_price = net_unit_price(price, basis, quantity, net_amount)
    product = _find(item, "ram:SpecifiedTradeProduct")
    return ParsedLine(
        line_id=line_id,
        description=_text(product, "ram:Name")
        or _text(product, "ram:Description")
        or f"Line {line_id}",
        quantity=quantity,
        unit_code=(
            quantity_element.get("unitCode", "") if quantity_element is not None else ""
        ).strip(),
        unit_price=unit_price,
        net_amount=net_amount,
        tax_rate=_amount(
            settlement,
            "ram:ApplicableTradeTax/ram:RateApplicablePercent",
            f"{where} tax rate",
            None,
        ),
        order_line_reference=_text(agreement, "ram:BuyerOrderReferencedDocument/ram:LineID"),
    )
