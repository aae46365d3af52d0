"""The exchange-rates API's URLs: its ViewSet on its own router, included by the core under /api/."""

from currencies import api
from p2p.api import AppRouter

router = AppRouter()
router.register("rates", api.ExchangeRateViewSet, basename="rate")

urlpatterns = router.urls
