"""The market's job: splitting a published track into loops and stems, on the CPU queue. Registered at app
start (`MarketConfig.ready`)."""

from __future__ import annotations

from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.queues import JobQueue
from ledgerline.jobs.registry import job_handler

from .services.splitting import split_handler


@job_handler(JobKind.SPLIT, queue=JobQueue.CPU)
def split(job: Job) -> dict:
    return split_handler(job)
