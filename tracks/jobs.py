"""The tracks app's job: analysis of an uploaded track (its draft says why when it fails), on the CPU queue.
Registered at app start (`TracksConfig.ready`)."""

from __future__ import annotations

from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.queues import JobQueue
from ledgerline.jobs.registry import job_handler

from .services import track_upload_failed, track_upload_handler


@job_handler(JobKind.TRACK_UPLOAD, queue=JobQueue.CPU, on_failure=track_upload_failed)
def track_upload(job: Job) -> dict:
    return track_upload_handler(job)
