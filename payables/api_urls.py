"""The payables API's URLs: its ViewSets on its own router, included by the core under /api/."""

from p2p.api import AppRouter
from payables import api, vendors

router = AppRouter()
router.register("invoices", api.InvoiceViewSet, basename="invoice")
router.register("exceptions", api.InvoiceExceptionViewSet, basename="exception")
router.register("payment-runs", api.PaymentRunViewSet, basename="payment-run")
# AP's figures about a vendor, under the vendors' own path (/api/vendors/payment-holds/,
# /api/vendors/{id}/scorecard/).
router.register("vendors", vendors.VendorFiguresViewSet, basename="vendor")

urlpatterns = router.urls
