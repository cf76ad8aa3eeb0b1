"""Worker self-test: proves a queue has a live worker that can reach the database (`manage.py check_workers`)."""

from __future__ import annotations

import time

from .models import Job, JobKind
from .registry import job_handler


@job_handler(JobKind.SELFTEST)  # check_workers sends one to each queue (job_enqueue(queue=...))
def selftest(job: Job) -> dict:
    seconds = float(job.params.get("seconds", 0))
    steps = max(1, int(seconds * 10))
    for step in range(steps):
        time.sleep(seconds / steps)
        job.set_progress((step + 1) / steps, f"step {step + 1}/{steps}")
    return {"queue": job.params.get("queue", ""), "worker": job.worker}
