"""The Celery app: matching, rollups and sweeps run here, configured from Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "p2p.settings")

app = Celery("p2p")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
