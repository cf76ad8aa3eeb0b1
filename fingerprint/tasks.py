from celery import shared_task

from ledgerline.jobs.services import run_job


@shared_task(acks_late=True, queue="cpu", name="fingerprint.tasks.fingerprint_items_task")
def fingerprint_items_task(job_id: str) -> None:
    from .services import fingerprint_handler

    run_job(job_id, fingerprint_handler)


@shared_task(acks_late=True, queue="cpu", name="fingerprint.tasks.screening_task")
def screening_task(job_id: str) -> None:
    from .services import screening_handler

    run_job(job_id, screening_handler)


@shared_task(queue="cpu", name="fingerprint.tasks.index_sweep_task")
def index_sweep_task() -> int:
    """Periodic and on worker start: index whatever is missing (see fingerprint.sweep). Returns jobs started."""
    from .sweep import index_sweep

    return len(index_sweep())
