"""List endpoints of the catalogue run a fixed number of queries, however many rows they show (no N+1)."""

from __future__ import annotations

import pytest
from rest_framework import serializers

from ledgerline.catalogue.models import CorpusItem, Dataset
from ledgerline.catalogue.selectors import datasets_with_item_counts
from ledgerline.catalogue.serializers import DatasetSerializer
from ledgerline.jobs.models import Job
from tests import factories

pytestmark = pytest.mark.django_db


def _datasets(organisation, count: int) -> None:
    for n in range(count):
        job = Job.objects.create(kind="ingest", organisation=organisation)
        dataset = factories.DatasetFactory(organisation=organisation, is_public=True, ingest_job=job)
        CorpusItem.objects.bulk_create(
            [
                CorpusItem(
                    dataset=dataset,
                    sha256=f"{n:032x}{i:032x}",
                    original_name=f"{i}.mid",
                    format="midi",
                    kind="symbolic",
                    source_path="x",
                )
                for i in range(n % 3 + 1)
            ]
        )


def _tracks(organisation, count: int) -> None:
    for _ in range(count):
        factories.TrackFactory(organisation=organisation, status="published")


@pytest.mark.parametrize("rows", [3, 30])
def test_dataset_list_api_runs_the_same_queries_for_3_and_30_datasets(rows, api_client, django_assert_max_num_queries):
    label = factories.user_with_role("label")
    _datasets(label.memberships.get().organisation, rows)
    api_client.force_authenticate(label)
    with django_assert_max_num_queries(2):  # count, page (with item counts, organisation and job), nothing per row
        response = api_client.get("/api/datasets/")
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == rows
    assert sorted(d["item_count"] for d in data["results"]) == sorted(n % 3 + 1 for n in range(rows))
    assert all(d["ingest_job"]["kind"] == "ingest" for d in data["results"])


def test_dataset_item_count_is_shown_after_create_and_upload(api_client):
    label = factories.user_with_role("label")
    organisation = label.memberships.get().organisation
    api_client.force_authenticate(label)
    response = api_client.post("/api/datasets/", {"organisation": organisation.slug, "name": "New"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["item_count"] == 0
    _datasets(organisation, 2)
    shown = api_client.get(f"/api/datasets/{organisation.datasets.order_by('pk').last().pk}/").json()
    assert shown["item_count"] == 2


@pytest.mark.parametrize("rows", [3, 30])
def test_dataset_list_page_runs_the_same_queries_for_3_and_30_datasets(rows, client, django_assert_max_num_queries):
    label = factories.user_with_role("label")
    _datasets(label.memberships.get().organisation, rows)
    client.force_login(label)
    # session, user, roles of the menu, can-create, the datasets with their item counts
    with django_assert_max_num_queries(5):
        response = client.get("/datasets/")
    assert response.status_code == 200
    assert response.content.decode().count('href="/datasets/') >= rows


@pytest.mark.parametrize("rows", [3, 30])
def test_track_list_api_runs_the_same_queries_for_3_and_30_tracks(rows, api_client, django_assert_max_num_queries):
    creator = factories.user_with_role("creator")
    _tracks(creator.memberships.get().organisation, rows)
    api_client.force_authenticate(creator)
    with django_assert_max_num_queries(2):  # count, page with organisations
        response = api_client.get("/api/tracks/")
    assert response.status_code == 200
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_track_list_page_runs_the_same_queries_for_3_and_30_tracks(rows, client, django_assert_max_num_queries):
    creator = factories.user_with_role("creator")
    _tracks(creator.memberships.get().organisation, rows)
    client.force_login(creator)
    with django_assert_max_num_queries(5):  # session, user, roles of the menu, count, page
        response = client.get("/tracks/")
    assert response.status_code == 200


@pytest.mark.parametrize("with_job", [True, False])
def test_dataset_representation_is_drfs(with_job):
    """The hand-built dict of `DatasetSerializer` is what DRF's field-by-field representation gives."""
    organisation = factories.OrganisationFactory()
    job = Job.objects.create(kind="ingest", organisation=organisation) if with_job else None
    factories.DatasetFactory(organisation=organisation, ingest_job=job, expires_at="2030-01-31")
    dataset = datasets_with_item_counts(Dataset.objects.select_related("organisation", "ingest_job")).get()
    fast = DatasetSerializer(dataset).data
    assert dict(fast) == dict(serializers.ModelSerializer.to_representation(DatasetSerializer(dataset), dataset))
    assert list(fast) == DatasetSerializer.Meta.fields
