"""The fingerprint app's jobs: fingerprinting and indexing, and screening, on the CPU queue. Registered at app
start (`FingerprintConfig.ready`)."""

from __future__ import annotations

from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.queues import JobQueue
from ledgerline.jobs.registry import job_handler

from .indexing import fingerprint_handler
from .screening import screening_handler


@job_handler(JobKind.FINGERPRINT, queue=JobQueue.CPU)
def fingerprint(job: Job) -> dict:
    return fingerprint_handler(job)


@job_handler(JobKind.SCREENING, queue=JobQueue.CPU)
def screening(job: Job) -> dict:
    return screening_handler(job)
