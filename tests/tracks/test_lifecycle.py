"""A track's status changes only by the transitions of `tracks.lifecycle`: each allowed one applies and says why,
every other one is refused with nothing written, and two racing changes never both apply."""

from __future__ import annotations

import pytest

from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.ledger.models import LedgerEntry
from tests import factories
from tracks.lifecycle import (
    TRANSITIONS,
    Decision,
    Event,
    ForbiddenTransition,
    may_transition,
    track_screened,
    track_transition,
)

pytestmark = pytest.mark.django_db

ALLOWED = [(t.event, source, t.target) for t in TRANSITIONS for source in sorted(t.source)]
FORBIDDEN = [
    (event, status)
    for event in Event
    for status in TrackStatus
    if not any(t.event == event and status in t.source for t in TRANSITIONS)
]


@pytest.mark.parametrize("event, source, target", ALLOWED)
def test_an_allowed_transition_moves_the_track(event, source, target):
    track = factories.TrackFactory(status=source)
    payload = {"by": "someone"} if event == Event.PUBLISHED else None
    track_transition(track=track, event=event, target=target, payload=payload)
    stored = Track.objects.get(pk=track.pk)
    assert stored.status == track.status == target
    assert (stored.published_at is not None) == (target == TrackStatus.PUBLISHED)


@pytest.mark.parametrize("event, status", FORBIDDEN)
def test_a_forbidden_transition_is_refused_and_writes_nothing(event, status):
    track = factories.TrackFactory(status=status, status_reason="as it was")
    with pytest.raises(ForbiddenTransition, match=f"track {track.pk} is {status}"):
        track_transition(track=track, event=event)
    stored = Track.objects.get(pk=track.pk)
    assert (stored.status, stored.status_reason, stored.published_at) == (status, "as it was", None)
    assert not LedgerEntry.objects.exists()
    assert not may_transition(track, event)


def test_the_table_covers_every_screening_verdict_and_every_decision():
    assert {t.target for t in TRANSITIONS if t.event == Event.REVIEWED} == {d.track_status for d in Decision}
    track = factories.TrackFactory(status=TrackStatus.SCREENING)
    with pytest.raises(ValueError, match="unknown screening verdict 'maybe'"):
        track_screened(track=track, verdict="maybe")


@pytest.mark.parametrize(
    "verdict, status, reason",
    [
        ("clear", TrackStatus.CLEAR, ""),
        ("flag", TrackStatus.FLAGGED, "awaiting review"),
        ("incomplete", TrackStatus.SCREENING, "screened again then"),
    ],
)
def test_a_screening_verdict_moves_a_screening_track_and_says_why(verdict, status, reason):
    track = factories.TrackFactory(status=TrackStatus.SCREENING)
    track_screened(track=track, verdict=verdict)
    track.refresh_from_db()
    assert track.status == status and reason in track.status_reason


def test_a_review_decision_names_the_tracks_status_and_keeps_the_reviewers_reason():
    track = factories.TrackFactory(status=TrackStatus.FLAGGED)
    track_transition(
        track=track, event=Event.REVIEWED, target=Decision.REQUIRE_LICENCE.track_status, reason="quotes bwv67.7"
    )
    track.refresh_from_db()
    assert (track.status, track.status_reason) == (TrackStatus.LICENSED, "quotes bwv67.7")


def test_a_change_made_meanwhile_wins_and_the_stale_one_is_refused():
    track = factories.TrackFactory(status=TrackStatus.FLAGGED)
    stale = Track.objects.get(pk=track.pk)
    track_transition(track=track, event=Event.REVIEWED, target=TrackStatus.BLOCKED, reason="a near-copy")
    with pytest.raises(ForbiddenTransition, match="is blocked"):
        track_transition(track=stale, event=Event.REVIEWED, target=TrackStatus.CLEARED)
    assert Track.objects.get(pk=track.pk).status == TrackStatus.BLOCKED


def test_publishing_writes_its_ledger_entry_in_the_transition():
    track = factories.TrackFactory(status=TrackStatus.CLEARED)
    track_transition(track=track, event=Event.PUBLISHED, payload={"title": track.title, "by": "creator"})
    entry = LedgerEntry.objects.get(event="track.published")
    assert entry.subject_id == str(track.pk) and entry.payload == {"title": track.title, "by": "creator"}
    assert not entry.private
