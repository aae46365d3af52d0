"""Celery tasks for exchange rates."""

from celery import shared_task

from currencies import services


@shared_task(acks_late=True)
def fetch_ecb_rates() -> str:
    """Hourly: import the ECB file at ECB_RATES_URL; off (and says so) while it is unset."""
    result = services.ecb_rates_fetch()
    return result.summary() if result else "ECB_RATES_URL is not set: no rates fetched."
