"""One router for the whole API; every app's ViewSets are registered here, in one place."""

from rest_framework.routers import DefaultRouter

from payables import api as payables_api
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
router.register("invoices", payables_api.InvoiceViewSet, basename="invoice")
router.register("exceptions", payables_api.InvoiceExceptionViewSet, basename="exception")
router.register("payment-runs", payables_api.PaymentRunViewSet, basename="payment-run")
