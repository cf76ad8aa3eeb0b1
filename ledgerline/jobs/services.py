"""Creating, enqueueing and running jobs.

A job is started by kind (`job_start(kind=JobKind.SPLIT, ...)`); the handler registered for that kind
(`ledgerline.jobs.registry`) does the work and returns the result JSON. One Celery task,
`ledgerline.jobs.tasks.job_run`, runs every job, on the queue its kind was registered with. Where it runs is
decided by `settings.LEDGERLINE_TASK_RUNNER`: `eager` (inside the caller, used by tests), `thread` (a background
thread, the embedded default) or `celery`.

A killed worker's job is finished by someone else: while a handler runs, its worker renews the job's lease
(`LEDGERLINE_JOB_LEASE_S`); a redelivered message that finds the lease still held tries again once it has
expired, and `jobs_requeue_stale` (beat, every 30 s) sends again every job whose lease expired.

A handler that raises one of `TRANSIENT_ERRORS` (the database or the broker went away for a moment) is run
again after an exponential backoff, up to `LEDGERLINE_JOB_MAX_ATTEMPTS` runs; any other exception fails the job
once, with its message.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timedelta

import redis.exceptions
from celery import current_app, current_task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from .models import Job, JobStatus
from .registry import FailureHook, JobHandler, UnknownJobKind, job_spec

logger = logging.getLogger(__name__)

#: The one task that runs every job (`ledgerline/jobs/tasks.py`), looked up by name: services never import tasks.
JOB_RUN = "ledgerline.jobs.tasks.job_run"

#: Errors that say nothing about the job, only that a service it needs was away for a moment (a database
#: restart or failover, a deadlock or serialization failure, the broker's connection dropped): the job is run
#: again after a backoff. Everything else is the job's own failure and is not retried.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
)


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


def job_create(
    *,
    kind: str,
    organisation=None,
    user=None,
    params: dict | None = None,
    subject_type: str = "",
    subject_id: object = "",
) -> Job:
    """A queued job row; `job_enqueue` sends it. `subject_type`/`subject_id` name the row it works on
    (`JobSubject`), for lookups such as "the split job of a track" (`ledgerline.jobs.selectors.jobs_about`)."""
    return Job.objects.create(
        kind=kind,
        organisation=organisation,
        created_by=user,
        params=params or {},
        subject_type=subject_type,
        subject_id="" if subject_id in (None, "") else str(subject_id),
    )


def _job_run_task():
    if JOB_RUN not in current_app.tasks:
        current_app.loader.import_default_modules()  # the task modules of every installed app
    return current_app.tasks[JOB_RUN]


def _run_in_thread(job_id: str) -> None:
    close_old_connections()
    try:
        _job_run_task().apply(args=[job_id])
    finally:
        connection.close()


def _dispatch(job: Job, *, countdown: float | None = None) -> None:
    """Run or send the job by the configured runner, once the current transaction commits.

    The `eager` runner (tests) runs it at once, inside the caller's transaction and without waiting for a
    countdown, so a test sees the finished job without committing.
    """
    job_id = str(job.pk)
    runner = settings.LEDGERLINE_TASK_RUNNER
    if runner == "eager":
        _job_run_task().apply(args=[job_id])
    elif runner == "thread":

        def submit() -> None:
            _thread_executor().submit(_run_in_thread, job_id)

        def later() -> None:
            timer = threading.Timer(countdown or 0.0, submit)
            timer.daemon = True
            timer.start()

        transaction.on_commit(later if countdown else submit)
    else:
        options = {"queue": job.queue} if job.queue else {}
        transaction.on_commit(lambda: current_app.send_task(JOB_RUN, args=[job_id], countdown=countdown, **options))


def job_enqueue(*, job: Job, queue: str | None = None, send: bool = True) -> None:
    """Record the task and queue that run the job (the stale-job sweep sends it again) and send it once the
    current transaction commits (nothing runs for a rolled-back job).

    The queue is the one its kind was registered with, unless `queue` names another (a worker self-test of each
    queue). `send=False` only records it, for a command that exits at once on the embedded thread runner: a
    sweep sends it (`jobs_requeue_stale`: the web process's at start, or a worker's or beat's on Celery).
    """
    job.task, job.queue = JOB_RUN, str(queue or job_spec(job.kind).queue)
    job.lease_expires_at = timezone.now() + timedelta(seconds=settings.LEDGERLINE_JOB_QUEUED_LEASE_S)
    Job.objects.filter(pk=job.pk).update(task=job.task, queue=job.queue, lease_expires_at=job.lease_expires_at)
    if send:
        _dispatch(job)


def job_start(
    *,
    kind: str,
    organisation=None,
    user=None,
    params: dict | None = None,
    subject_type: str = "",
    subject_id: object = "",
    send: bool = True,
) -> Job:
    """Create a job of `kind` and send it to its handler once the transaction commits."""
    job = job_create(
        kind=kind,
        organisation=organisation,
        user=user,
        params=params,
        subject_type=subject_type,
        subject_id=subject_id,
    )
    job_enqueue(job=job, send=send)
    return job


def job_run_here(job: Job) -> None:
    """Run the job in this thread now (a job that someone else claimed or finished is left to them)."""
    _job_run_task().apply(args=[str(job.pk)])


def jobs_requeue_stale(*, queued_before: datetime | None = None) -> list[Job]:
    """Send again the task of every unfinished job whose lease expired; returns those jobs.

    1. A running job with an expired lease lost its worker (killed with its machine; the broker keeps the
       message unacknowledged until its visibility timeout, an hour); a queued one with an expired lease may
       have lost its message. `queued_before` also takes every job queued before that time (a process that
       has just started holds none of them in its threads).
    2. Each job is put back to queued with a fresh queued lease by a conditional UPDATE, so of two sweeps at
       once only one sends it; a redelivered message arriving too is harmless, the job is claimed once.
    3. Jobs without a recorded task (rows from before tasks were recorded) are left alone. A job recorded with
       the task of an older release (one task per kind) is sent to the generic task, which runs any kind.
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
            logger.warning("job %s (%s) was %s, held by no live worker; sending it again", job.pk, job.kind, job.status)
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


def retry_delay_s(attempt: int) -> float:
    """Seconds before run `attempt + 1` of a job whose run `attempt` (1, 2, ...) met a transient error: the
    backoff doubles each time, capped at the queued lease (a service away for longer is the sweep's to wait for)."""
    delay = settings.LEDGERLINE_JOB_RETRY_BACKOFF_S * 2 ** max(attempt - 1, 0)
    return float(min(delay, settings.LEDGERLINE_JOB_QUEUED_LEASE_S))


def _retry_later(job: Job, exc: BaseException) -> bool:
    """Put a job that met a transient error back in the queue to run again after a backoff; False when its
    attempts are used up (or someone took it over meanwhile), and it is to fail.

    The conditional UPDATE hands the job from this worker back to the queue; its queued lease covers the
    backoff, so the stale-job sweep does not send it before then.
    """
    if job.attempts >= settings.LEDGERLINE_JOB_MAX_ATTEMPTS:
        return False
    delay = retry_delay_s(job.attempts)
    note = f"{type(exc).__name__}: {exc}"
    queued_lease = timedelta(seconds=delay + settings.LEDGERLINE_JOB_QUEUED_LEASE_S)
    requeued = Job.objects.filter(pk=job.pk, status=JobStatus.RUNNING, worker=job.worker).update(
        status=JobStatus.QUEUED,
        worker="",
        lease_expires_at=timezone.now() + queued_lease,
        message=f"attempt {job.attempts} of {settings.LEDGERLINE_JOB_MAX_ATTEMPTS} met {note}; "
        f"trying again in {delay:g} s"[:500],
    )
    if not requeued:
        return False
    logger.warning("job %s (%s): %s; run %d again in %g s", job.pk, job.kind, note, job.attempts + 1, delay)
    _dispatch(job, countdown=delay)
    return True


def run_job(job_id: str, handler: JobHandler | None = None, *, on_failure: FailureHook | None = None) -> None:
    """Claim the job and run the handler of its kind (or `handler`); idempotent under redelivery.

    1. A job row that is gone ends quietly (it was deleted with its subject). A job of a kind with no handler
       fails with a message naming the kind.
    2. A finished job is left alone; one whose lease another worker holds is tried again when it expires.
    3. While the handler runs, the job's lease is renewed.
    4. The handler's return value becomes the job's result; a `JobError` becomes its error message.
    5. One of `TRANSIENT_ERRORS` puts the job back in the queue after a backoff, until
       `LEDGERLINE_JOB_MAX_ATTEMPTS` runs were made; any other exception (and the last transient one) fails the
       job with the exception text and is re-raised for the worker's log.
    6. `on_failure(job)` (the kind's, unless given) then lets the job's subject record the failure.
    """
    try:
        job = Job.objects.get(pk=job_id)
    except Job.DoesNotExist:
        logger.info("job %s is gone; nothing to do", job_id)
        return
    if handler is None:
        try:
            spec = job_spec(job.kind)
        except UnknownJobKind as exc:
            logger.error("job %s: %s", job.pk, exc)
            if job.claim(_worker_name()):
                job.fail(str(exc))
            return
        handler, on_failure = spec.handler, on_failure or spec.on_failure
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
    except TRANSIENT_ERRORS as exc:
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()  # a dropped database connection is opened again
        if _retry_later(job, exc):
            return
        job.fail(f"{type(exc).__name__}: {exc} (after {job.attempts} attempts)")
        if on_failure:
            on_failure(job)
        raise
    except Exception as exc:
        job.fail(f"{type(exc).__name__}: {exc}")
        if on_failure:
            on_failure(job)
        raise
    job.succeed(result or {})
