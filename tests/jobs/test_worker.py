"""Jobs through a real Celery worker on Redis, against PostgreSQL."""

import time

import pytest
from django.core.management import call_command
from django.db import transaction

from ledgerline.jobs.models import Job, JobStatus
from ledgerline.jobs.services import job_create, job_enqueue

pytestmark = pytest.mark.worker


def _wait(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not reached in time")


def test_every_queue_has_a_worker(celery_worker_process, capsys):
    call_command("check_workers", "--json", "--timeout", "30")
    out = capsys.readouterr().out
    assert out.count('"succeeded"') == 3


def test_a_job_killed_with_its_worker_is_redelivered_and_finishes_once(celery_worker_process):
    with transaction.atomic():
        job = job_create(kind="selftest", params={"queue": "cpu", "seconds": 8})
        job_enqueue(job=job)
    _wait(lambda: Job.objects.get(pk=job.pk).progress > 0.05)
    celery_worker_process.kill()
    first = Job.objects.get(pk=job.pk)
    assert first.status == JobStatus.RUNNING and first.attempts == 1

    celery_worker_process.start()
    _wait(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=90)
    done = Job.objects.get(pk=job.pk)
    assert done.status == JobStatus.SUCCEEDED
    assert done.attempts == 2
    assert done.worker != first.worker
