"""The procurement API's URLs: its ViewSets on its own router, included by the core under /api/."""

from p2p.api import AppRouter
from procurement.api.budgets import BudgetViewSet
from procurement.api.orders import PurchaseOrderViewSet
from procurement.api.receipts import ReceiptViewSet
from procurement.api.requests import PurchaseRequestViewSet

router = AppRouter()
router.register("requests", PurchaseRequestViewSet, basename="request")
router.register("purchase-orders", PurchaseOrderViewSet, basename="purchase-order")
router.register("receipts", ReceiptViewSet, basename="receipt")
router.register("budgets", BudgetViewSet, basename="budget")

urlpatterns = router.urls
