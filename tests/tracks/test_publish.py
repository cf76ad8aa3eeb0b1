"""Publishing through the life cycle: who may not publish, and indexing that does not depend on the split."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from fingerprint.models import Against, Fingerprint
from fingerprint.services import screen_bytes
from ledgerline.catalogue.models import TrackStatus
from ledgerline.jobs.models import Job
from ledgerline.ledger.models import LedgerEntry
from ledgerline.storage import read_blob
from rights.market.models import Asset
from rights.market.services.publishing import track_publish
from tests import factories
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return market_people()


@pytest.mark.parametrize("who", ["buyer", "reviewer", "label", "creator elsewhere", "anyone"])
def test_only_the_tracks_creators_may_publish_it(market, who):
    track = screened_track(market)
    user = {
        "buyer": market.buyer,
        "reviewer": market.reviewer,
        "label": market.label_a,
        "creator elsewhere": factories.user_with_role("creator"),
        "anyone": factories.UserFactory(),
    }[who]
    with pytest.raises(PermissionDenied, match="Only creators of the track's organisation may publish"):
        track_publish(user=user, track=track)
    track.refresh_from_db()
    assert track.status == TrackStatus.CLEAR and track.published_at is None
    assert not LedgerEntry.objects.filter(event="track.published").exists()
    assert not Job.objects.filter(kind__in=["split", "fingerprint"]).exists()


def test_a_track_whose_split_fails_is_still_in_the_published_index(market):
    track = screened_track(market)
    track.stems = track.stems[:1]  # its score has four parts: cutting the stems for sale fails
    track.save(update_fields=["stems"])
    track = track_publish(user=market.creator, track=track)

    split = Job.objects.get(kind="split", params__track=track.pk)
    assert split.status == "failed" and not Asset.objects.filter(track=track).exists()
    track.refresh_from_db()
    assert track.status == TrackStatus.PUBLISHED
    assert Fingerprint.objects.get(track=track).indexed
    result, _ = screen_bytes(read_blob(track.audio_path), name="copy.flac", against=Against.PUBLISHED)
    assert result.verdict == "flag" and track.pk in {match.track for match in result.matches}
