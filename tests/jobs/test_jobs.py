from datetime import timedelta

import pytest
from django.utils import timezone

from ledgerline.jobs.models import Job, JobStatus
from ledgerline.jobs.services import JobError, job_create, run_job

pytestmark = pytest.mark.django_db


def test_a_job_is_claimed_once():
    job = job_create(kind="test")
    assert job.claim("worker-a")
    assert not Job.objects.get(pk=job.pk).claim("worker-b")


def test_a_running_job_with_an_expired_lease_is_reclaimed_after_its_worker_died():
    job = job_create(kind="test")
    assert job.claim("dead-worker")
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() - timedelta(seconds=1))
    again = Job.objects.get(pk=job.pk)
    assert again.claim("new-worker")
    assert again.attempts == 2 and again.worker == "new-worker"


def test_a_running_job_whose_lease_is_held_is_not_claimed_and_its_lease_is_renewed_only_by_its_worker(settings):
    job = job_create(kind="test")
    assert job.claim("worker-a")
    assert 0 < job.lease_remaining_s() <= settings.LEDGERLINE_JOB_LEASE_S
    Job.objects.filter(pk=job.pk).update(lease_expires_at=timezone.now() + timedelta(seconds=1))
    assert not Job.objects.get(pk=job.pk).claim("worker-b")
    assert job.renew_lease()
    assert Job.objects.get(pk=job.pk).lease_remaining_s() > settings.LEDGERLINE_JOB_LEASE_S - 1
    job.worker = "worker-b"
    assert not job.renew_lease()


def test_run_job_records_result_and_does_not_run_a_finished_job_twice():
    job = job_create(kind="test")
    calls = []

    def handler(j):
        calls.append(j.pk)
        j.set_progress(0.5, "half way")
        return {"answer": 42}

    run_job(str(job.pk), handler)
    run_job(str(job.pk), handler)
    job.refresh_from_db()
    assert calls == [job.pk]
    assert job.status == JobStatus.SUCCEEDED and job.result == {"answer": 42} and job.progress == 1.0


def test_a_job_error_becomes_the_jobs_message():
    job = job_create(kind="test")

    def handler(j):
        raise JobError("dataset 7 forbids training")

    run_job(str(job.pk), handler)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.error == "dataset 7 forbids training"


def test_a_job_that_is_gone_ends_quietly():
    run_job("00000000-0000-0000-0000-000000000000", lambda j: pytest.fail("must not run"))


def test_jobs_api_shows_only_own_organisations_jobs(api_client):
    from tests import factories

    org = factories.OrganisationFactory()
    mine = factories.user_with_role("label", org)
    other = factories.user_with_role("label")
    job = job_create(kind="ingest", organisation=org)
    api_client.force_authenticate(mine)
    assert api_client.get(f"/api/jobs/{job.pk}/").json()["kind"] == "ingest"
    api_client.force_authenticate(other)
    assert api_client.get(f"/api/jobs/{job.pk}/").status_code == 404
