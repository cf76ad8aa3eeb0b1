"""Creating, enqueueing and running jobs.

A Celery task is a thin shell around `run_job(job_id, handler)`; the handler does the work and returns the
result JSON. Where the task runs is decided by `settings.LEDGERLINE_TASK_RUNNER`:
`eager` (inside the caller, used by tests), `thread` (a background thread, the embedded default) or `celery`.

A killed worker's job is finished by someone else: while a handler runs, its worker renews the job's lease
(`LEDGERLINE_JOB_LEASE_S`); a redelivered message that finds the lease still held tries again once it has
expired, and `jobs_requeue_stale` (beat, every 30 s) sends again the task of every job whose lease expired.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

from celery import current_app, current_task
from celery.canvas import Signature
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import Job, JobStatus

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


def _task(name: str):
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()  # the task modules of every installed app
    return current_app.tasks[name]


def _run_in_thread(task_name: str, job_id: str) -> None:
    close_old_connections()
    try:
        _task(task_name).apply(args=[job_id])
    finally:
        connection.close()


def _route(task) -> tuple[str, str]:
    """(task name, queue) of a task or of a signature with options (`task.s().set(queue="gpu")`)."""
    if isinstance(task, Signature):
        return task.task, task.options.get("queue") or ""
    return task.name, getattr(task, "queue", None) or ""


def _dispatch(job: Job, *, countdown: float | None = None) -> None:
    """Run or send the job's task by the configured runner, once the current transaction commits.

    The `eager` runner (tests) runs the task at once, inside the caller's transaction, so a test sees the
    finished job without committing.
    """
    job_id, task_name = str(job.pk), job.task
    runner = settings.LEDGERLINE_TASK_RUNNER
    if runner == "eager":
        _task(task_name).apply(args=[job_id])
    elif runner == "thread":
        transaction.on_commit(lambda: _thread_executor().submit(_run_in_thread, task_name, job_id))
    else:
        options = {"queue": job.queue} if job.queue else {}
        transaction.on_commit(lambda: current_app.send_task(task_name, args=[job_id], countdown=countdown, **options))


def job_enqueue(*, job: Job, task, send: bool = True) -> None:
    """Record which task runs the job (the stale-job sweep sends it again) and send `task(job.id)` once the
    current transaction commits (nothing runs for a rolled-back job).

    `send=False` only records it, for a command that exits at once on the embedded thread runner: a sweep sends
    it (`jobs_requeue_stale`: the web process's at start, or a worker's or beat's on Celery).
    """
    job.task, job.queue = _route(task)
    job.lease_expires_at = timezone.now() + timedelta(seconds=settings.LEDGERLINE_JOB_QUEUED_LEASE_S)
    Job.objects.filter(pk=job.pk).update(task=job.task, queue=job.queue, lease_expires_at=job.lease_expires_at)
    if send:
        _dispatch(job)


def job_run_here(job: Job) -> None:
    """Run the job's task in this thread now (a job that someone else claimed or finished is left to them)."""
    _task(job.task).apply(args=[str(job.pk)])


def jobs_requeue_stale(*, queued_before: datetime | None = None) -> list[Job]:
    """Send again the task of every unfinished job whose lease expired; returns those jobs.

    1. A running job with an expired lease lost its worker (killed with its machine; the broker keeps the
       message unacknowledged until its visibility timeout, an hour); a queued one with an expired lease may
       have lost its message. `queued_before` also takes every job queued before that time (a process that
       has just started holds none of them in its threads).
    2. Each job is put back to queued with a fresh queued lease by a conditional UPDATE, so of two sweeps at
       once only one sends it; a redelivered message arriving too is harmless, the job is claimed once.
    3. Jobs without a recorded task (rows from before tasks were recorded) are left alone.
    """
    now = timezone.now()
    unfinished = Q(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    stale = Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    if queued_before is not None:
        stale |= Q(status=JobStatus.QUEUED, created_at__lt=queued_before)
    requeued = []
    for job in Job.objects.filter(unfinished & stale).exclude(task="").order_by("created_at"):
        taken = Job.objects.filter(pk=job.pk, status=job.status, lease_expires_at=job.lease_expires_at).update(
            status=JobStatus.QUEUED,
            worker="",
            lease_expires_at=now + timedelta(seconds=settings.LEDGERLINE_JOB_QUEUED_LEASE_S),
        )
        if taken:
            logger.warning(
                "job %s (%s) was %s, held by no live worker; sending %s again", job.pk, job.kind, job.status, job.task
            )
            _dispatch(job)
            requeued.append(job)
    return requeued


def jobs_requeue_after_start() -> threading.Timer | None:
    """On the embedded thread runner, a web process that starts resumes the jobs of the process before it.

    The sweep waits one lease: a job the previous process was running holds its lease up to that long; it also
    sends the jobs a command queued without sending (`job_enqueue(send=False)`, e.g. `load_demo --background`).
    Other runners have beat and worker start-up for this (`ledgerline/celery.py`).
    """
    if settings.LEDGERLINE_TASK_RUNNER != "thread":
        return None
    started = timezone.now()

    def sweep() -> None:
        try:
            jobs_requeue_stale(queued_before=started)
        except DatabaseError:
            logger.exception("stale-job sweep at start failed")
        finally:
            connection.close()

    timer = threading.Timer(settings.LEDGERLINE_JOB_LEASE_S + 1, sweep)
    timer.daemon = True
    timer.start()
    return timer


def _worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"


def _renew_until_stopped(job: Job, stop: threading.Event) -> None:
    try:
        while not stop.wait(settings.LEDGERLINE_JOB_LEASE_S / 3):
            try:
                if not job.renew_lease():
                    logger.warning("job %s is no longer held by %s; its lease is not renewed", job.pk, job.worker)
                    return
            except DatabaseError:
                logger.exception("job %s: renewing the lease failed; trying again", job.pk)
    finally:
        connection.close()


@contextmanager
def _lease_kept(job: Job) -> Iterator[None]:
    """Renew the job's lease from a thread of its own while the body runs, so a handler that reports no progress
    for minutes keeps its job, and a killed process stops renewing at once.

    Inside a transaction (the eager runner in a test) the claim is invisible to others and there is nothing to
    renew; a renewing thread would only wait on the row the transaction locked.
    """
    if connection.in_atomic_block:
        yield
        return
    stop = threading.Event()
    keeper = threading.Thread(
        target=_renew_until_stopped, args=(job, stop), daemon=True, name=f"ledgerline-lease-{job.pk}"
    )
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(timeout=5)


def _in_worker() -> bool:
    task = current_task._get_current_object()
    return task is not None and not task.request.is_eager


def _claim_refused(job: Job) -> None:
    """A finished job is left alone. A job whose lease someone still holds is, in a worker, tried again when the
    lease expires: the message may be the redelivery of a killed pool process's task, whose lease nobody renews
    any more. If the holder is alive, the retry finds the job finished and ends."""
    try:
        job.refresh_from_db()
    except Job.DoesNotExist:
        return
    if job.is_finished:
        logger.info("job %s is finished", job.pk)
        return
    if not (job.task and _in_worker()):
        logger.info("job %s is held by %s", job.pk, job.worker)
        return
    countdown = min(job.lease_remaining_s(), settings.LEDGERLINE_JOB_LEASE_S) + 0.5
    logger.info("job %s is held by %s; trying again in %.1f s", job.pk, job.worker, countdown)
    _dispatch(job, countdown=countdown)


def run_job(job_id: str, handler: JobHandler, *, on_failure: Callable[[Job], None] | None = None) -> None:
    """Claim the job and run `handler(job)`; idempotent under redelivery.

    1. A job row that is gone ends quietly (it was deleted with its subject).
    2. A finished job is left alone; one whose lease another worker holds is tried again when it expires.
    3. While the handler runs, the job's lease is renewed.
    4. The handler's return value becomes the job's result; a `JobError` becomes its error message;
       any other exception fails the job with the exception text and is re-raised for the worker's log.
    5. `on_failure(job)` then lets the job's subject record the failure (e.g. a model marked failed).
    """
    try:
        job = Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        logger.info("job %s is gone; nothing to do", job_id)
        return
    if not job.claim(_worker_name()):
        _claim_refused(job)
        return
    try:
        with _lease_kept(job):
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
