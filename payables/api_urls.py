"""The payables API's URLs: its ViewSets on its own router, included by the core under /api/."""

from p2p.api import AppRouter
from payables import api

router = AppRouter()
router.register("invoices", api.InvoiceViewSet, basename="invoice")
router.register("exceptions", api.InvoiceExceptionViewSet, basename="exception")
router.register("payment-runs", api.PaymentRunViewSet, basename="payment-run")

urlpatterns = router.urls
