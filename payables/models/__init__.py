"""Payables: invoices, the match and its evidence, exceptions, payment runs and payments.

Every model class is imported here so Django and the migrations find them at
`payables.models`; code imports from the sub-domain module itself.
"""

from payables.models.capture import ImportBatch
from payables.models.exceptions import (
    BulkJob,
    BulkJobItem,
    ExceptionComment,
    ExceptionMention,
    InvoiceException,
)
from payables.models.idempotency import IdempotencyKey
from payables.models.invoices import Invoice, InvoiceAttachment, InvoiceLine
from payables.models.matching import MatchPolicy, MatchResult
from payables.models.payments import (
    BankConfirmation,
    CompanySettings,
    Payment,
    PaymentExport,
    PaymentHold,
    PaymentRun,
    PaymentRunExclusion,
    default_variance_thresholds,
)

__all__ = [
    "BankConfirmation",
    "BulkJob",
    "BulkJobItem",
    "CompanySettings",
    "ExceptionComment",
    "ExceptionMention",
    "IdempotencyKey",
    "ImportBatch",
    "Invoice",
    "InvoiceAttachment",
    "InvoiceException",
    "InvoiceLine",
    "MatchPolicy",
    "MatchResult",
    "Payment",
    "PaymentExport",
    "PaymentHold",
    "PaymentRun",
    "PaymentRunExclusion",
    # Migration 0018 names it as the default of CompanySettings.variance_thresholds.
    "default_variance_thresholds",
]
