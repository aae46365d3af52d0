"""The single place procurement reaches up into payables.

Procurement sits below payables: an invoice points at a PO, never the other way round. A
few needs still go up, and every one of them goes through this module, so the arrow is
named in one file:

- a receipt (or an approved change order) re-matches the invoices waiting on its PO;
- a PO with live invoices cannot be cancelled;
- the PO page and the budgets read what has been invoiced, spent and paid on a PO.

(AP correcting a PO from an exception goes the other way: payables calls procurement's
revision service.) This module imports only `payables.models`; the re-match is queued by
task name (`payables.tasks.match_po_invoices`), so procurement never loads AP's services and
no circle of imports forms.
"""

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from django.db.models import (
    Case,
    DecimalField,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    When,
)
from django.db.models.functions import Coalesce

from p2p.celery import enqueue
from p2p.money import ZERO
from payables.models import Invoice, InvoiceException, InvoiceLine, MatchResult, Payment
from procurement.models import Budget, PurchaseOrder

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class SignedAmount(TypedDict):
    """An invoice line's amount, negative on a credit note."""

    signed_amount: Decimal


_MONEY: "DecimalField[Decimal, Decimal]" = DecimalField(max_digits=18, decimal_places=2)
_QUANTITY: "DecimalField[Decimal, Decimal]" = DecimalField(max_digits=18, decimal_places=4)


def rematch_po(po_id: int) -> None:
    """Queue the match again for the PO's invoices still waiting or in exception."""
    enqueue("payables.tasks.match_po_invoices", po_id)


def live_invoices(po: PurchaseOrder) -> QuerySet[Invoice]:
    """The PO's invoices that still count: every one except the rejected."""
    return po.invoices.exclude(status=Invoice.Status.REJECTED)


def signed_invoice_amount(prefix: str = "") -> Case:
    """An invoice line's amount, negative on a credit note."""
    return Case(
        When(
            **{f"{prefix}invoice__document_type": Invoice.DocumentType.CREDIT_NOTE},
            then=-F(f"{prefix}amount"),
        ),
        default=F(f"{prefix}amount"),
        output_field=_MONEY,
    )


def billed_on_po_line() -> Subquery:
    """What approved (or paid) invoices have billed on the outer PO line."""
    return Subquery(
        InvoiceLine.objects.filter(
            po_line=OuterRef("pk"), invoice__status__in=Invoice.MATCHED_STATUSES
        )
        .order_by()
        .values("po_line")
        .annotate(total=Sum(signed_invoice_amount()))
        .values("total")[:1],
        output_field=_MONEY,
    )


def billed_quantity() -> Coalesce:
    """The quantity live (not rejected) invoices bill on a PO line, credit notes subtracted:
    an expression to annotate PO lines with."""
    quantity = F("invoice_lines__quantity")
    return Coalesce(
        Sum(
            Case(
                When(
                    invoice_lines__invoice__document_type=Invoice.DocumentType.CREDIT_NOTE,
                    then=-quantity,
                ),
                default=quantity,
                output_field=_QUANTITY,
            ),
            filter=~Q(invoice_lines__invoice__status=Invoice.Status.REJECTED),
        ),
        ZERO,
        output_field=_QUANTITY,
    )


def spent_invoice_lines() -> QuerySet[InvoiceLine]:
    """Invoice lines that have consumed budget (see Invoice.MATCHED_STATUSES)."""
    return InvoiceLine.objects.filter(invoice__status__in=Invoice.MATCHED_STATUSES)


@dataclass
class PoBilling:
    """What payables holds against one PO: its invoices and credit notes, their match
    results and exceptions, and the payments made on them."""

    invoices: list[Invoice]
    match_results: list[MatchResult]
    exceptions: list[InvoiceException]
    payments: list[Payment]

    @property
    def open_exceptions(self) -> int:
        return sum(1 for e in self.exceptions if e.status == InvoiceException.Status.OPEN)

    def audit_refs(self) -> list[tuple[str, int]]:
        """The (model, id) pairs whose audit events belong on the PO's timeline."""
        refs = [("payables.invoice", invoice.pk) for invoice in self.invoices]
        refs += [("payables.invoiceexception", exception.pk) for exception in self.exceptions]
        refs += [("payables.paymentrun", run_id) for run_id in {p.run_id for p in self.payments}]
        return refs

    def totals(self) -> dict[str, Decimal]:
        """Invoiced (net, and with VAT) less credit notes, paid, and discount taken.

        Credit notes store positive amounts (their document type carries the sign), so they
        are subtracted here, as matching, payment runs and the KPIs do."""
        billed = [i for i in self.invoices if i.status != Invoice.Status.REJECTED]

        def signed(invoice: Invoice, amount: Decimal) -> Decimal:
            return -amount if invoice.document_type == Invoice.DocumentType.CREDIT_NOTE else amount

        paid = [p for p in self.payments if p.status == Payment.Status.PAID]
        return {
            "invoiced": sum((signed(i, i.net_amount) for i in billed), ZERO),
            "invoiced_gross": sum((signed(i, i.total_amount) for i in billed), ZERO),
            "paid": sum((p.net_amount for p in paid), ZERO),
            "discount": sum((p.discount_taken for p in paid), ZERO),
        }


def po_billing(po: PurchaseOrder) -> PoBilling:
    """The PO's invoices with their matches, exceptions and payments, in four queries."""
    # An invoice belongs here when it names the PO or bills one of its lines.
    invoices = list(
        Invoice.objects.filter(Q(purchase_order=po) | Q(lines__po_line__purchase_order=po))
        .distinct()
        .select_related("vendor")
        .order_by("invoice_date", "id")
    )
    invoice_ids = [invoice.pk for invoice in invoices]
    match_results = list(
        MatchResult.objects.filter(invoice_line__invoice_id__in=invoice_ids)
        .select_related("invoice", "invoice_line", "po_line")
        .order_by("invoice_id", "invoice_line__line_no")
    )
    exceptions = list(
        InvoiceException.objects.filter(invoice_id__in=invoice_ids)
        .select_related("invoice", "invoice_line", "owner_user", "resolved_by")
        .order_by("opened_at", "id")
    )
    payments = list(
        Payment.objects.filter(invoice_id__in=invoice_ids)
        .select_related("run", "invoice")
        .order_by("run_id", "id")
    )
    return PoBilling(
        invoices=invoices, match_results=match_results, exceptions=exceptions, payments=payments
    )


def budget_spending(budget: Budget) -> "QuerySet[WithAnnotations[InvoiceLine, SignedAmount]]":
    """The approved invoice lines that make up a budget's spent amount."""
    lines = spent_invoice_lines().filter(
        po_line__cost_center=budget.cost_center_id,
        invoice__currency=budget.currency,
        invoice__invoice_date__gte=budget.period_start,
        invoice__invoice_date__lte=budget.period_end,
    )
    if budget.gl_account_id:
        lines = lines.filter(po_line__gl_account=budget.gl_account_id)
    return (
        lines.annotate(signed_amount=signed_invoice_amount())
        .select_related("invoice__vendor", "po_line__purchase_order")
        .order_by("invoice__invoice_date", "invoice_id", "line_no")
    )
