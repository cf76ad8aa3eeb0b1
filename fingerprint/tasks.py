from celery import shared_task

from .sweep import index_sweep


@shared_task(queue="cpu", name="fingerprint.tasks.index_sweep_task")
def index_sweep_task() -> int:
    """Periodic and on worker start: index whatever is missing (see fingerprint.sweep). Returns jobs started."""
    return len(index_sweep())
