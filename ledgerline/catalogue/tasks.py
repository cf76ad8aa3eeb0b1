from celery import shared_task

from ledgerline.jobs.services import run_job


@shared_task(acks_late=True, queue="cpu", name="ledgerline.catalogue.tasks.ingest_dataset_task")
def ingest_dataset_task(job_id: str) -> None:
    from .ingest import ingest_handler

    run_job(job_id, ingest_handler)


@shared_task(acks_late=True, queue="cpu", name="ledgerline.catalogue.tasks.track_upload_task")
def track_upload_task(job_id: str) -> None:
    from .tracks import track_upload_failed, track_upload_handler

    run_job(job_id, track_upload_handler, on_failure=track_upload_failed)


@shared_task(acks_late=True, queue="cpu", name="ledgerline.catalogue.tasks.demo_stage_task")
def demo_stage_task(job_id: str) -> None:
    from .demo import demo_stage_handler

    run_job(job_id, demo_stage_handler)
