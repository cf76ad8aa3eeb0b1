"""Leases on jobs: renewed while a job runs, and once expired, the job is sent again by the stale-job sweep."""

import time
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from ledgerline.celery import app
from ledgerline.jobs.models import Job, JobStatus
from ledgerline.jobs.services import (
    JOB_RUN,
    job_create,
    job_enqueue,
    jobs_requeue_after_start,
    jobs_requeue_stale,
    run_job,
)


def _job_left_by_a_dead_worker(*, status=JobStatus.RUNNING, lease_s: float = -1.0, task: str = JOB_RUN) -> Job:
    job = job_create(kind="selftest", params={"queue": "cpu", "seconds": 0})
    Job.objects.filter(pk=job.pk).update(
        status=status,
        worker="dead-worker" if status == JobStatus.RUNNING else "",
        attempts=1,
        task=task,
        queue="cpu",
        lease_expires_at=timezone.now() + timedelta(seconds=lease_s),
    )
    return Job.objects.get(pk=job.pk)


@pytest.mark.django_db
def test_job_enqueue_records_the_task_and_queue_that_run_the_job():
    job = job_create(kind="selftest", params={"queue": "gpu"})
    job_enqueue(job=job, queue="gpu")
    job.refresh_from_db()
    assert (job.task, job.queue, job.status) == (JOB_RUN, "gpu", JobStatus.SUCCEEDED)


@pytest.mark.django_db
def test_a_stale_job_recorded_with_the_task_of_an_older_release_is_run_by_the_generic_task():
    job = _job_left_by_a_dead_worker(task="ledgerline.jobs.tasks.worker_selftest_task")
    assert [j.pk for j in jobs_requeue_stale()] == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2


@pytest.mark.django_db
def test_the_sweep_sends_again_the_jobs_whose_lease_expired_and_leaves_the_others():
    stale_running = _job_left_by_a_dead_worker()
    stale_queued = _job_left_by_a_dead_worker(status=JobStatus.QUEUED)
    held = _job_left_by_a_dead_worker(lease_s=30)
    waiting = _job_left_by_a_dead_worker(status=JobStatus.QUEUED, lease_s=600)
    finished = _job_left_by_a_dead_worker(status=JobStatus.SUCCEEDED)
    untracked = job_create(kind="selftest")
    Job.objects.filter(pk=untracked.pk).update(status=JobStatus.RUNNING, lease_expires_at=timezone.now())

    requeued = jobs_requeue_stale()  # the eager runner runs each at once

    assert {job.pk for job in requeued} == {stale_running.pk, stale_queued.pk}
    for job in (stale_running, stale_queued):
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    for job, status in (
        (held, JobStatus.RUNNING),
        (waiting, JobStatus.QUEUED),
        (finished, JobStatus.SUCCEEDED),
        (untracked, JobStatus.RUNNING),
    ):
        assert Job.objects.get(pk=job.pk).status == status


@pytest.mark.django_db
def test_a_job_whose_lease_another_worker_holds_is_not_run_outside_a_worker():
    held = _job_left_by_a_dead_worker(lease_s=30)
    run_job(str(held.pk), lambda job: pytest.fail("must not run"))
    assert Job.objects.get(pk=held.pk).worker == "dead-worker"


@pytest.mark.django_db(transaction=True)
def test_a_handler_that_reports_no_progress_keeps_its_lease_while_it_runs(settings):
    settings.LEDGERLINE_JOB_LEASE_S = 1
    job = job_create(kind="test")
    seen = []

    def silent_handler(j):
        time.sleep(2.5)  # two and a half leases without a word
        seen.append(Job.objects.get(pk=j.pk).lease_remaining_s())
        return {}

    run_job(str(job.pk), silent_handler)
    assert seen[0] > 0
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_a_web_process_on_the_thread_runner_resumes_the_jobs_of_the_process_before_it(settings):
    settings.LEDGERLINE_TASK_RUNNER = "thread"
    settings.LEDGERLINE_JOB_LEASE_S = 1
    with transaction.atomic():
        was_running = _job_left_by_a_dead_worker(lease_s=0.5)
        was_queued = _job_left_by_a_dead_worker(status=JobStatus.QUEUED, lease_s=600)

    jobs_requeue_after_start().join(timeout=10)

    deadline = time.monotonic() + 20
    while not all(Job.objects.get(pk=job.pk).is_finished for job in (was_running, was_queued)):
        assert time.monotonic() < deadline, "the jobs were not resumed"
        time.sleep(0.1)
    assert {Job.objects.get(pk=job.pk).status for job in (was_running, was_queued)} == {JobStatus.SUCCEEDED}


def test_other_runners_leave_the_start_sweep_to_beat_and_the_workers(settings):
    settings.LEDGERLINE_TASK_RUNNER = "celery"
    assert jobs_requeue_after_start() is None


def test_beat_runs_the_stale_job_sweep_and_the_index_sweep():
    schedule = app.conf.beat_schedule
    tasks = {entry["task"]: entry for entry in schedule.values()}
    assert tasks["ledgerline.jobs.tasks.requeue_stale_jobs_task"]["schedule"] <= 60
    assert tasks["fingerprint.tasks.index_sweep_task"]["schedule"] == 60
    assert "rights.tasks.ledger_anchor_task" in tasks
