"""The sweep screens again the tracks whose latest screening was incomplete (fingerprint.sweep), with a fixed number
of queries to find them, however many tracks wait in screening (no N+1)."""

from __future__ import annotations

import datetime

import pytest

from fingerprint.models import Fingerprint, Screening
from fingerprint.sweep import tracks_rescreen_incomplete
from ledgerline.catalogue.models import TrackStatus
from tests import factories

pytestmark = pytest.mark.django_db

LONG_AGO = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)


def _screened(track, *verdicts: str, by=None) -> None:
    """Screenings of `track` with these verdicts, oldest first."""
    for n, verdict in enumerate(verdicts):
        screening = Screening.objects.create(
            organisation=track.organisation, track=track, verdict=verdict, created_by=by
        )
        Screening.objects.filter(pk=screening.pk).update(created_at=LONG_AGO + datetime.timedelta(minutes=n))


def test_only_tracks_whose_latest_screening_is_incomplete_are_screened_again():
    creator = factories.user_with_role("creator")
    waiting = factories.TrackFactory(status=TrackStatus.SCREENING)
    _screened(waiting, "clear", "incomplete", by=creator)
    rescreened_since = factories.TrackFactory(status=TrackStatus.SCREENING)
    _screened(rescreened_since, "incomplete", "")
    never_screened = factories.TrackFactory(status=TrackStatus.SCREENING)
    published = factories.TrackFactory(status=TrackStatus.PUBLISHED)
    _screened(published, "incomplete")
    Fingerprint.objects.create(track=published, indexed=True)  # nothing left to index: the sweep may rescreen

    assert tracks_rescreen_incomplete() == 1
    latest = Screening.objects.filter(track=waiting).order_by("-created_at", "-id").first()
    assert (latest.verdict, latest.created_by, latest.job.kind) == ("", creator, "screening")
    assert Screening.objects.filter(track=rescreened_since).count() == 2
    assert not Screening.objects.filter(track=never_screened).exists()
    assert Screening.objects.filter(track=published).count() == 1


@pytest.mark.parametrize("rows", [3, 30])
def test_finding_the_tracks_to_screen_again_runs_the_same_queries_for_3_and_30_tracks(rows, django_assert_num_queries):
    for _ in range(rows):
        track = factories.TrackFactory(status=TrackStatus.SCREENING)
        _screened(track, "incomplete", "")  # screened again already: waiting on the newer one
    # missing corpus items?, missing published tracks?, the tracks waiting on an incomplete verdict (none here, so
    # no query for the users who asked)
    with django_assert_num_queries(3):
        assert tracks_rescreen_incomplete() == 0
