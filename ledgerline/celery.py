"""Celery application. Queues: `gpu` (training, generation), `cpu` (ingest, fingerprint, render, split), `ledger`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")

app = Celery("ledgerline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
