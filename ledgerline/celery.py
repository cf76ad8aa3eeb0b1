"""Celery application.

Every job runs through one task, `ledgerline.jobs.tasks.job_run`, sent to the queue its kind was registered with
(`ledgerline/jobs/registry.py`): `gpu` (training, generation), `cpu` (ingest, fingerprint, screening, upload
analysis, split, demo). `ledger` holds the short periodic tasks below and ledger anchoring.
"""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")

app = Celery("ledgerline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

JOBS_SWEEP = "ledgerline.jobs.tasks.requeue_stale_jobs_task"
INDEX_SWEEP = "fingerprint.tasks.index_sweep_task"  # items not fingerprinted and indexed yet

#: Added to the settings' beat schedule: work a dead worker left behind is picked up again.
SWEEPS = {
    "jobs-requeue-stale": {"task": JOBS_SWEEP, "schedule": 30.0, "options": {"queue": "ledger"}},
    "fingerprint-index-sweep": {"task": INDEX_SWEEP, "schedule": 60.0, "options": {"queue": "cpu"}},
}


@app.on_after_configure.connect
def _schedule_sweeps(sender: Celery, **kwargs) -> None:
    sender.conf.beat_schedule = {**sender.conf.beat_schedule, **SWEEPS}


@worker_ready.connect
def _sweep_once_ready(sender=None, **kwargs) -> None:
    """A worker that starts (often the one restarted after a crash) sweeps once instead of waiting for beat.

    The sweeps wait one lease: a job of the worker this one replaces holds its lease that long. The jobs sweep
    goes first, so the interrupted jobs are queued before the fingerprinting of their partial output.
    """
    from django.conf import settings

    countdown = settings.LEDGERLINE_JOB_LEASE_S + 1
    app.send_task(JOBS_SWEEP, queue="ledger", countdown=countdown)
    app.send_task(INDEX_SWEEP, queue="cpu", countdown=countdown)
