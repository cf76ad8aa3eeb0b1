"""The one task that runs every job, and the stale-job sweep."""

from __future__ import annotations

from celery import shared_task

from .services import JOB_RUN, jobs_requeue_stale, run_job


@shared_task(acks_late=True, name=JOB_RUN)
def job_run(job_id: str) -> None:
    """Run the job with the handler of its kind (sent to the kind's queue by `job_enqueue`)."""
    run_job(job_id)


@shared_task(queue="ledger", name="ledgerline.jobs.tasks.requeue_stale_jobs_task")
def requeue_stale_jobs_task() -> int:
    """Beat, every 30 s, and each worker once it is ready: jobs whose worker died are sent again."""
    return len(jobs_requeue_stale())
