from celery import shared_task

from ledgerline.jobs.services import run_job


@shared_task(acks_late=True, queue="cpu", name="rights.market.tasks.split_track_task")
def split_track_task(job_id: str) -> None:
    from .services import split_handler

    run_job(job_id, split_handler)
