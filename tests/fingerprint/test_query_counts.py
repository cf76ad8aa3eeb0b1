"""The flag queue (API and page) runs a fixed number of queries, however many flags it shows (no N+1)."""

from __future__ import annotations

import pytest

from fingerprint.models import Screening, SimilarityFlag
from ledgerline.catalogue.models import CorpusItem
from tests import factories

pytestmark = pytest.mark.django_db


def _reviewer_with_flags(count: int):
    """A label's reviewer, and `count` flags of other studios' tracks against the label's corpus items."""
    label = factories.OrganisationFactory()
    dataset = factories.DatasetFactory(organisation=label)
    for n in range(count):
        item = CorpusItem.objects.create(
            dataset=dataset,
            sha256=f"{n:064x}",
            original_name=f"{n}.mid",
            format="midi",
            kind="symbolic",
            title=f"BWV {n}",
            source_path="x",
        )
        track = factories.TrackFactory(status="flagged")
        screening = Screening.objects.create(organisation=track.organisation, track=track, verdict="flag")
        SimilarityFlag.objects.create(
            screening=screening, track=track, corpus_item=item, level="symbolic", score=0.5 + n / 100
        )
    return factories.user_with_role("reviewer", label)


@pytest.mark.parametrize("rows", [3, 30])
def test_flag_list_api_runs_the_same_queries_for_3_and_30_flags(rows, api_client, django_assert_max_num_queries):
    api_client.force_authenticate(_reviewer_with_flags(rows))
    with django_assert_max_num_queries(2):  # count, page with its related rows
        response = api_client.get("/api/flags/")
    assert response.status_code == 200
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_flag_queue_page_runs_the_same_queries_for_3_and_30_flags(rows, client, django_assert_max_num_queries):
    client.force_login(_reviewer_with_flags(rows))
    # session, user, roles of the menu, is-reviewer, status counts, the flags with screening, track, item, dataset
    with django_assert_max_num_queries(6):
        response = client.get("/fingerprint/")
    assert response.status_code == 200
    assert response.content.decode().count('class="flag-row"') == rows
