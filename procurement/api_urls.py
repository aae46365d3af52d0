"""The procurement API's URLs: its ViewSets on its own router, included by the core under /api/."""

from p2p.api import AppRouter
from procurement import api

router = AppRouter()
router.register("requests", api.PurchaseRequestViewSet, basename="request")
router.register("purchase-orders", api.PurchaseOrderViewSet, basename="purchase-order")
router.register("receipts", api.ReceiptViewSet, basename="receipt")
router.register("budgets", api.BudgetViewSet, basename="budget")

urlpatterns = router.urls
