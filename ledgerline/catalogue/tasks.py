from celery import shared_task

from ledgerline.jobs.services import run_job


@shared_task(acks_late=True, queue="cpu", name="ledgerline.catalogue.tasks.ingest_dataset_task")
def ingest_dataset_task(job_id: str) -> None:
    from .ingest import ingest_handler

    run_job(job_id, ingest_handler)
