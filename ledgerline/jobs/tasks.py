"""Worker self-test: proves a queue has a live worker that can reach the database (`manage.py check_workers`)."""

from __future__ import annotations

import time

from celery import shared_task

from .models import Job
from .services import jobs_requeue_stale, run_job


def _selftest(job: Job) -> dict:
    seconds = float(job.params.get("seconds", 0))
    steps = max(1, int(seconds * 10))
    for step in range(steps):
        time.sleep(seconds / steps)
        job.set_progress((step + 1) / steps, f"step {step + 1}/{steps}")
    return {"queue": job.params.get("queue", ""), "worker": job.worker}


@shared_task(acks_late=True, queue="cpu", name="ledgerline.jobs.tasks.worker_selftest_task")
def worker_selftest_task(job_id: str) -> None:
    run_job(job_id, _selftest)


@shared_task(queue="ledger", name="ledgerline.jobs.tasks.requeue_stale_jobs_task")
def requeue_stale_jobs_task() -> int:
    """Beat, every 30 s, and each worker once it is ready: jobs whose worker died are sent again."""
    return len(jobs_requeue_stale())
