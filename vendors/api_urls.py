"""The vendors API's URLs: its ViewSets on its own router, included by the core under /api/."""

from p2p.api import AppRouter
from vendors import api

router = AppRouter()
router.register("vendors", api.VendorViewSet, basename="vendor")
router.register("payment-terms", api.PaymentTermsViewSet, basename="payment-terms")
router.register("bank-accounts", api.BankAccountViewSet, basename="bank-account")
router.register("contracts", api.ContractViewSet, basename="contract")

urlpatterns = router.urls
