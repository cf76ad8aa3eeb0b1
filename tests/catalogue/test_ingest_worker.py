"""The first real pipeline through a Celery worker on Redis and PostgreSQL: upload -> ingest job -> items."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ledgerline.catalogue.models import CorpusItem
from tests import factories
from tests.catalogue.test_ingest import ABC, midi_bytes
from tests.helpers import wait_until_finished

pytestmark = pytest.mark.worker


def test_label_uploads_through_the_api_and_a_real_worker_ingests(celery_worker_process, api_client):
    org = factories.OrganisationFactory()
    label = factories.user_with_role("label", org)
    dataset = factories.DatasetFactory(organisation=org)
    api_client.force_authenticate(label)
    files = [SimpleUploadedFile("a.mid", midi_bytes()), SimpleUploadedFile("b.abc", ABC)]
    response = api_client.post(f"/api/datasets/{dataset.pk}/upload/", {"files": files}, format="multipart")
    assert response.status_code == 202, response.content
    job_id = response.json()["ingest_job"]["id"]
    job = wait_until_finished(job_id, seconds=90)
    assert job.status == "succeeded", job.error
    assert job.result["items_ingested"] == 2
    assert CorpusItem.objects.filter(dataset=dataset).count() == 2
    detail = api_client.get(f"/api/datasets/{dataset.pk}/").json()
    assert detail["status"] == "ready" and detail["ingest_job"]["progress"] == 1.0
