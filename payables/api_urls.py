"""The payables API's URLs: its ViewSets on its own router, included by the core under /api/."""

from p2p.api import AppRouter
from payables.api.exceptions import InvoiceExceptionViewSet
from payables.api.invoices import InvoiceViewSet
from payables.api.payments import PaymentRunViewSet
from payables.api.vendors import VendorFiguresViewSet

router = AppRouter()
router.register("invoices", InvoiceViewSet, basename="invoice")
router.register("exceptions", InvoiceExceptionViewSet, basename="exception")
router.register("payment-runs", PaymentRunViewSet, basename="payment-run")
# AP's figures about a vendor, under the vendors' own path (/api/vendors/payment-holds/,
# /api/vendors/{id}/scorecard/).
router.register("vendors", VendorFiguresViewSet, basename="vendor")

urlpatterns = router.urls
