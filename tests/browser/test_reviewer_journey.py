"""A rights reviewer, in a real browser: opens the review queue, a flag's side-by-side evidence (plots and both
recordings load), the flagged track's page and its provenance, and decides; no page it reaches has an error or
a broken link."""

from __future__ import annotations

import pytest
from django.conf import settings
from playwright.sync_api import expect

from fingerprint.engine import transforms
from fingerprint.models import SimilarityFlag
from fingerprint.services import track_screen_start
from ledgerline.catalogue.models import Track
from ledgerline.music.audio import encode_preview, write_flac
from ledgerline.music.render import render_midi
from ledgerline.storage import store_bytes
from tests import factories
from tests.fingerprint.chorales import NAMES, chorale

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def flagged_copy(tmp_path, label_org) -> Track:
    """A chorale ingested by the label, and a studio's track that is a transposed, slower copy of it, screened
    (so flagged) by the real pipeline."""
    factories.ingested_chorales(tmp_path, organisation=label_org, count=1, name="Chorales", licence_name="CC-BY-4.0")
    copy = transforms.change_tempo(transforms.transpose(chorale(NAMES[0]), 5), 0.85)
    audio = render_midi(copy.to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT)
    studio = factories.OrganisationFactory(slug="studio", name="Studio")
    creator = factories.user_with_role("creator", studio)
    track = factories.TrackFactory(
        organisation=studio,
        created_by=creator,
        title="Suspicious chorale",
        events_path=store_bytes(copy.to_npz_bytes(), suffix=".npz").relpath,
        audio_path=store_bytes(write_flac(audio), suffix=".flac").relpath,
        preview_path=store_bytes(encode_preview(audio), suffix=".ogg").relpath,
    )
    track_screen_start(track=track, user=creator)
    track.refresh_from_db()
    assert track.status == "flagged"
    return track


def test_a_reviewer_opens_a_flags_evidence_the_track_and_its_provenance_and_decides(visitor, tmp_path):
    label_org = factories.OrganisationFactory(slug="bach-label", name="Bach Label")
    track = flagged_copy(tmp_path, label_org)
    reviewer = factories.user_with_role("reviewer", label_org)

    reviewer_browser = visitor()
    reviewer_browser.log_in(reviewer)
    page = reviewer_browser.page
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Review queue").click()
    flag = SimilarityFlag.objects.filter(track=track).order_by("-score").first()
    page.locator("#flags").get_by_role("link", name=f"#{flag.pk}", exact=True).click()
    expect(page.locator("h1")).to_contain_text(f"Flag #{flag.pk}")
    expect(page.locator("#flag-status")).to_have_text("Open")
    # The evidence: every plot is an image the browser could decode, both recordings can be played.
    plots = page.locator(".evidence img")
    plots.first.scroll_into_view_if_needed()
    for plot in plots.all():
        plot.scroll_into_view_if_needed()
        expect(plot).to_have_js_property("complete", True)
        assert plot.evaluate("img => img.naturalWidth") > 0
    for audio in ("#query-audio", "#match-audio"):
        page.wait_for_function(f"document.querySelector('{audio}').readyState >= 1")

    page.get_by_role("link", name="track page").first.click()
    expect(page.locator("#track-status")).to_contain_text("Flagged")
    page.go_back()
    page.get_by_role("link", name="provenance", exact=True).first.click()
    expect(page.locator("h1")).to_contain_text("Suspicious chorale")
    page.go_back()

    page.get_by_label("Clear: not a near-copy, or allowed").check()
    page.get_by_label("Reason (recorded in the ledger)").fill("A chorale harmonisation in common practice.")
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".messages")).to_contain_text(f"Flag {flag.pk}: cleared")
    flag.refresh_from_db()
    assert (flag.status, flag.decided_by) == ("cleared", reviewer)

    reviewer_browser.crawl("/")
    reviewer_browser.assert_clean()
