"""What a screening's coverage names (fingerprint.coverage.coverage_of), and that reading it costs what is missing:
a few queries, none of which counts the corpus, the unsearched fingerprints read through their partial index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fingerprint.coverage import coverage_of
from fingerprint.models import UNSEARCHED, Against, Fingerprint
from ledgerline.catalogue.models import CorpusItem, TrackStatus
from tests import factories

pytestmark = pytest.mark.django_db


def _item(dataset, n: int, **fingerprint) -> CorpusItem:
    item = CorpusItem.objects.create(
        dataset=dataset, sha256=f"{n:064x}", original_name=f"{n}.mid", format="midi", kind="symbolic", source_path="x"
    )
    if fingerprint:
        Fingerprint.objects.create(corpus_item=item, **fingerprint)
    return item


def _track(status: str, **fingerprint):
    track = factories.TrackFactory(status=status)
    if fingerprint:
        Fingerprint.objects.create(track=track, **fingerprint)
    return track


@pytest.fixture
def scope():
    """Corpus items and tracks in every state a fingerprint can be in."""
    dataset = factories.DatasetFactory()
    published = TrackStatus.PUBLISHED
    return {
        "indexed_item": _item(dataset, 1, indexed=True),
        "unfingerprinted_item": _item(dataset, 2),
        "pending_item": _item(dataset, 3, indexed=False),
        "failed_item": _item(dataset, 4, indexed=False, error="corrupt blob"),
        # index_rebuild marks every fingerprint of the scope indexed, a failed one too: it holds no vectors.
        "failed_rebuilt_item": _item(dataset, 5, indexed=True, error="transcription failed"),
        "indexed_track": _track(published, indexed=True),
        "unfingerprinted_track": _track(published),
        "pending_track": _track(published, indexed=False),
        "failed_track": _track(published, indexed=False, error="no audio"),
        "own_track": _track(published, indexed=False),
        "draft_track": _track(TrackStatus.DRAFT, indexed=False),
    }


def test_coverage_names_the_missing_and_failed_subjects_of_its_scope(scope):
    pk = {name: subject.pk for name, subject in scope.items()}
    coverage = coverage_of(against=Against.ALL, exclude_track_id=pk["own_track"])
    assert coverage.missing_corpus_items == sorted([pk["unfingerprinted_item"], pk["pending_item"]])
    assert coverage.failed_corpus_items == sorted([pk["failed_item"], pk["failed_rebuilt_item"]])
    assert coverage.missing_tracks == sorted([pk["unfingerprinted_track"], pk["pending_track"]])
    assert coverage.failed_tracks == [pk["failed_track"]]
    assert coverage.missing == 4 and not coverage.complete
    assert "searched" not in coverage.as_json()

    corpus = coverage_of(against=Against.CORPUS)
    assert (corpus.missing_tracks, corpus.failed_tracks) == ([], [])
    assert corpus.missing_corpus_items == coverage.missing_corpus_items
    published = coverage_of(against=Against.PUBLISHED)
    assert (published.missing_corpus_items, published.failed_corpus_items) == ([], [])
    assert published.missing_tracks == sorted([*coverage.missing_tracks, pk["own_track"]])


def test_a_fully_indexed_scope_is_complete(scope):
    Fingerprint.objects.update(indexed=True, error="")
    Fingerprint.objects.bulk_create(
        [Fingerprint(corpus_item=scope["unfingerprinted_item"], indexed=True)]
        + [Fingerprint(track=scope["unfingerprinted_track"], indexed=True)]
    )
    assert coverage_of(against=Against.ALL).complete
    assert not coverage_of(against=Against.ALL, index_lost=True).complete


@pytest.mark.parametrize("size", [3, 30])
def test_reading_coverage_counts_nothing_and_costs_the_same_queries_at_any_corpus_size(size):
    dataset = factories.DatasetFactory()
    for n in range(size):
        _item(dataset, n, indexed=True)
        _track(TrackStatus.PUBLISHED, indexed=True)
    with CaptureQueriesContext(connection) as queries:
        coverage = coverage_of(against=Against.ALL)
    assert coverage.complete
    assert len(queries) == 3
    assert not any("COUNT(" in query["sql"].upper() for query in queries)


@pytest.mark.postgres
def test_unsearched_fingerprints_are_read_through_their_partial_index():
    if connection.vendor != "postgresql":
        pytest.skip("the partial index is a PostgreSQL plan")
    sql, params = Fingerprint.objects.filter(UNSEARCHED).values_list("id").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "fingerprint_unsearched" in plan, plan
