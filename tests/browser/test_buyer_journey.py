"""A buyer, in a real browser: browses the catalogue, filters it by key in words ("G major"), reads an asset's
licence terms in plain words, confirms, gets a receipt and downloads the file; no page it reaches has an error
or a broken link."""

from __future__ import annotations

import dataclasses

import pytest
from playwright.sync_api import expect

from fingerprint.engine import transforms
from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.rendering import render_track_score
from rights.market.models import Asset, Licence
from rights.market.services.publishing import track_publish
from tests.rights.market import Market, four_part_score, market_people

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def published(market: Market, *, title: str, key: str, semitones: int) -> Track:
    """A four-bar, four-part track in `key`, rendered, screened clear and published: its loops are cut."""
    score = transforms.transpose(four_part_score(seed=semitones), semitones)
    score = dataclasses.replace(score, key=key, title=title)
    blobs = render_track_score(score)
    track = Track.objects.create(
        organisation=market.studio,
        created_by=market.creator,
        title=title,
        model=market.model,
        status=TrackStatus.CLEAR,
        midi_path=blobs["midi"].relpath,
        events_path=blobs["events"].relpath,
        audio_path=blobs["mix"].relpath,
        preview_path=blobs["preview"].relpath,
        stems=blobs["stems"],
        tempo_bpm=score.tempo_bpm,
        key=key,
        time_signature="4/4",
        bars=4,
        duration_s=round(score.duration_s, 3),
        content_sha256=blobs["midi"].sha256,
        provenance={"mix_sha256": blobs["mix"].sha256},
    )
    return track_publish(user=market.creator, track=track)


def test_a_buyer_filters_by_key_reads_the_terms_confirms_and_downloads(visitor):
    market = market_people()
    in_g = published(market, title="Piece in G", key="G major", semitones=7)
    in_c = published(market, title="Piece in C", key="C major", semitones=0)

    buyer_browser = visitor()
    buyer_browser.log_in(market.buyer)
    page = buyer_browser.page
    page.get_by_role("link", name="Browse loops and stems").click()
    expect(page.locator(f"#pack-{in_c.pk}")).to_be_visible()
    page.get_by_label("Key").fill("G major")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(f"#pack-{in_g.pk}")).to_be_visible()
    expect(page.locator(f"#pack-{in_c.pk}")).to_have_count(0)

    mix = Asset.objects.filter(track=in_g, stem="mix").order_by("start_bar", "-bars").first()
    page.locator(f"#asset-{mix.pk}").get_by_role("link", name="mix").first.click()
    expect(page.locator("h1")).to_contain_text("Piece in G · mix")
    terms = page.locator("#terms-non_exclusive")
    expect(terms).to_contain_text("You may use the loop in your own music")
    expect(terms).to_contain_text("Territory")
    expect(page.locator("#sale-format")).to_contain_text("44.1 kHz")
    terms.get_by_role("button", name="Review and buy").click()

    offer = mix.offers.get(licence_type="non_exclusive")
    expect(page.locator("#total")).to_have_text(f"{offer.price} {offer.currency}")
    page.get_by_role("button", name=f"Confirm and pay {offer.price} {offer.currency}").click()
    expect(page.locator("#receipt")).to_contain_text(f"{offer.price} {offer.currency}")
    licence = Licence.objects.get(buyer=market.buyer)
    assert licence.asset_id == mix.pk
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the file").click()
    assert download.value.failure() is None
    assert download.value.suggested_filename.endswith(".flac")

    visited = buyer_browser.crawl("/")
    assert any(f"/market/licences/{licence.pk}/receipt/" in url for url in visited)
    buyer_browser.assert_clean()
