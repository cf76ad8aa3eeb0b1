"""The catalogue's jobs: dataset ingest and the demo's background stages, on the CPU queue. Registered at app
start (`CatalogueConfig.ready`)."""

from __future__ import annotations

from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.queues import JobQueue
from ledgerline.jobs.registry import job_handler

from .demo import demo_stage_handler
from .ingest import ingest_handler


@job_handler(JobKind.INGEST, queue=JobQueue.CPU)
def ingest(job: Job) -> dict:
    return ingest_handler(job)


@job_handler(JobKind.DEMO, queue=JobQueue.CPU)
def demo(job: Job) -> dict:
    return demo_stage_handler(job)
