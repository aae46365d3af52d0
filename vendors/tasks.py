"""Celery tasks for vendors: ids in, one service call out."""

from celery import shared_task

from vendors import services


@shared_task(acks_late=True)
def run_vendor_import(import_id: int) -> int:
    """Check and import one uploaded vendor file (a re-delivered message finds it done)."""
    return services.vendor_import_run(import_id=import_id).imported_count


@shared_task(acks_late=True)
def expire_contracts() -> int:
    """Daily: contracts past their end date stop being active."""
    return services.contracts_expire()
