"""The creators' track pages: list, detail with screening and provenance, publishing, the preview stream."""

from __future__ import annotations

import pytest

from fingerprint.models import Screening, SimilarityFlag
from ledgerline.catalogue.models import TrackStatus
from ledgerline.jobs.models import Job
from rights.market.models import Asset
from tests import factories
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return market_people()


def _body(response) -> str:
    return response.content.decode()


def test_track_list_shows_the_organisations_tracks_and_published_ones_only(client, market):
    own = factories.TrackFactory(organisation=market.studio, title="Own draft", status=TrackStatus.DRAFT)
    published = factories.TrackFactory(title="Elsewhere published", status=TrackStatus.PUBLISHED)
    hidden = factories.TrackFactory(title="Elsewhere draft", status=TrackStatus.CLEAR)
    client.force_login(market.creator)
    body = _body(client.get("/tracks/"))
    assert f'href="/tracks/{own.pk}/"' in body and '<span class="badge draft">Draft</span>' in body
    assert published.title in body and hidden.title not in body
    assert client.get(f"/tracks/{hidden.pk}/").status_code == 404
    assert client.get(f"/tracks/{hidden.pk}/preview/").status_code == 404


def test_creator_publishes_from_the_track_page_and_is_led_to_its_loops(client, market):
    track = screened_track(market)
    client.force_login(market.creator)
    body = _body(client.get(f"/tracks/{track.pk}/"))
    assert f'action="/tracks/{track.pk}/publish/"' in body
    assert f'src="/tracks/{track.pk}/preview/"' in body and "market-model" in body
    preview = client.get(f"/tracks/{track.pk}/preview/")
    assert preview.status_code == 200 and preview["Content-Type"] == "audio/ogg"
    assert b"".join(preview.streaming_content)[:4] == b"OggS"

    response = client.post(f"/tracks/{track.pk}/publish/", follow=True)
    track.refresh_from_db()
    assert track.status == TrackStatus.PUBLISHED
    job = Job.objects.get(kind="split", params__track=track.pk)
    assert job.status == "succeeded"
    body = _body(response)
    assert "is published" in body and f'data-job="{job.pk}"' in body
    assert f'href="/market/?track={track.pk}"' in body and "35 loops" in body
    assert f'action="/tracks/{track.pk}/publish/"' not in body  # no second publish

    market_page = _body(client.get(f"/market/?track={track.pk}"))
    assert "35 assets for sale" in market_page
    assert Asset.objects.filter(track=track).count() == 35


def test_buyers_and_other_organisations_cannot_publish(client, market):
    track = screened_track(market)
    outsiders = [market.buyer, factories.user_with_role("creator"), market.label_a]
    for user in outsiders:
        client.force_login(user)
        assert client.post(f"/tracks/{track.pk}/publish/").status_code == 404
    studio_buyer = factories.user_with_role("buyer", market.studio)
    client.force_login(studio_buyer)
    assert "/publish/" not in _body(client.get(f"/tracks/{track.pk}/"))
    assert client.post(f"/tracks/{track.pk}/publish/").status_code == 403
    client.force_login(market.creator)
    assert client.get(f"/tracks/{track.pk}/publish/").status_code == 405
    track.refresh_from_db()
    assert track.status == TrackStatus.CLEAR and not Job.objects.filter(kind="split").exists()


def test_a_flagged_track_shows_its_flags_and_the_refusal_and_stays_unpublished(client, market):
    track = factories.TrackFactory(
        organisation=market.studio,
        title="Too close",
        status=TrackStatus.FLAGGED,
        status_reason="Screening found a possible near-copy; awaiting review.",
        provenance={"model": "markov-7", "seed": 42, "datasets": [{"id": 1, "name": "Chorales"}]},
    )
    screening = Screening.objects.create(organisation=market.studio, track=track, verdict="flag")
    SimilarityFlag.objects.create(screening=screening, track=track, level="melody", score=0.93)
    client.force_login(market.creator)
    body = _body(client.get(f"/tracks/{track.pk}/"))
    assert "possible near-copy; awaiting review" in body and "markov-7" in body and "Chorales" in body
    assert "melody" in body and "0.93" in body and ">Open<" in body and ">42<" in body
    assert f'action="/tracks/{track.pk}/publish/"' not in body

    body = _body(client.post(f"/tracks/{track.pk}/publish/", follow=True))
    assert "cannot publish &#x27;Too close&#x27;: screening flagged a possible near-copy" in body
    track.refresh_from_db()
    assert track.status == TrackStatus.FLAGGED and not Job.objects.filter(kind="split").exists()
