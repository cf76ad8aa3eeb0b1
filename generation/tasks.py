from celery import shared_task

from ledgerline.jobs.services import run_job


@shared_task(acks_late=True, queue="gpu", name="generation.tasks.train_model_task")
def train_model_task(job_id: str) -> None:
    from .services import model_failed, train_handler

    run_job(job_id, train_handler)
    from ledgerline.jobs.models import Job

    job = Job.objects.filter(pk=job_id).first()
    if job is not None and job.status == "failed":
        model_failed(job)


@shared_task(acks_late=True, queue="gpu", name="generation.tasks.generate_task")
def generate_task(job_id: str) -> None:
    from .services import generate_handler

    run_job(job_id, generate_handler)
