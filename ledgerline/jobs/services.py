"""Creating, enqueueing and running jobs.

A Celery task is a thin shell around `run_job(job_id, handler)`; the handler does the work and returns the
result JSON. Where the task runs is decided by `settings.LEDGERLINE_TASK_RUNNER`:
`eager` (inside the caller, used by tests), `thread` (a background thread, the embedded default) or `celery`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import close_old_connections, connection, transaction

from .models import Job

logger = logging.getLogger(__name__)

JobHandler = Callable[[Job], "dict | None"]


class JobError(Exception):
    """An expected failure: its message is shown to the user as the job's error."""


_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _thread_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ledgerline-job")
        return _executor


def job_create(*, kind: str, organisation=None, user=None, params: dict | None = None) -> Job:
    return Job.objects.create(kind=kind, organisation=organisation, created_by=user, params=params or {})


def _run_in_thread(task, job_id: str) -> None:
    close_old_connections()
    try:
        task.apply(args=[job_id])
    finally:
        connection.close()


def job_enqueue(*, job: Job, task) -> None:
    """Send `task(job.id)` once the current transaction commits (nothing runs for a rolled-back job).

    The `eager` runner (tests) runs the task at once, inside the caller's transaction, so a test sees the
    finished job without committing.
    """
    job_id = str(job.pk)
    runner = settings.LEDGERLINE_TASK_RUNNER
    if runner == "eager":
        task.apply(args=[job_id])
    elif runner == "thread":
        transaction.on_commit(lambda: _thread_executor().submit(_run_in_thread, task, job_id))
    else:
        transaction.on_commit(lambda: task.apply_async(args=[job_id]))


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def run_job(job_id: str, handler: JobHandler, *, on_failure: Callable[[Job], None] | None = None) -> None:
    """Claim the job and run `handler(job)`; idempotent under redelivery.

    1. A job row that is gone ends quietly (it was deleted with its subject).
    2. A job that someone else holds, or that already finished, is left alone.
    3. The handler's return value becomes the job's result; a `JobError` becomes its error message;
       any other exception fails the job with the exception text and is re-raised for the worker's log.
    4. `on_failure(job)` then lets the job's subject record the failure (e.g. a model marked failed).
    """
    try:
        job = Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        logger.info("job %s is gone; nothing to do", job_id)
        return
    if not job.claim(_worker_name()):
        logger.info("job %s is finished or held by another worker", job_id)
        return
    try:
        result = handler(job)
    except JobError as exc:
        job.fail(str(exc))
        if on_failure:
            on_failure(job)
        return
    except Exception as exc:
        job.fail(f"{type(exc).__name__}: {exc}")
        if on_failure:
            on_failure(job)
        raise
    job.succeed(result or {})
