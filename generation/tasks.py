from celery import shared_task

from ledgerline.jobs.services import run_job


@shared_task(acks_late=True, queue="gpu", name="generation.tasks.train_model_task")
def train_model_task(job_id: str) -> None:
    from .services import model_failed, train_handler

    run_job(job_id, train_handler, on_failure=model_failed)


@shared_task(acks_late=True, queue="gpu", name="generation.tasks.generate_task")
def generate_task(job_id: str) -> None:
    from .services import generate_handler

    run_job(job_id, generate_handler)
