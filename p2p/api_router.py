"""One router for the whole API; every app's ViewSets are registered here, in one place."""

from rest_framework.routers import DefaultRouter

from payables.api.exceptions import InvoiceExceptionViewSet
from payables.api.invoices import InvoiceViewSet
from payables.api.payments import PaymentRunViewSet
from procurement.api.budgets import BudgetViewSet
from procurement.api.orders import PurchaseOrderViewSet
from procurement.api.receipts import ReceiptViewSet
from procurement.api.requests import PurchaseRequestViewSet
from vendors import api as vendors_api

router = DefaultRouter()
router.register("vendors", vendors_api.VendorViewSet, basename="vendor")
router.register("payment-terms", vendors_api.PaymentTermsViewSet, basename="payment-terms")
router.register("bank-accounts", vendors_api.BankAccountViewSet, basename="bank-account")
router.register("contracts", vendors_api.ContractViewSet, basename="contract")
router.register("requests", PurchaseRequestViewSet, basename="request")
router.register("purchase-orders", PurchaseOrderViewSet, basename="purchase-order")
router.register("receipts", ReceiptViewSet, basename="receipt")
router.register("budgets", BudgetViewSet, basename="budget")
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("exceptions", InvoiceExceptionViewSet, basename="exception")
router.register("payment-runs", PaymentRunViewSet, basename="payment-run")
