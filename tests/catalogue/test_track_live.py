"""The track page follows its jobs without a reload (a `live/` fragment the page polls), and a flagged track's
page and provenance open for exactly those who may see its flags."""

from __future__ import annotations

import re

import pytest

from fingerprint.models import Screening, SimilarityFlag
from ledgerline.catalogue.models import CorpusItem, TrackStatus
from ledgerline.jobs.models import Job
from tests import factories
from tests.browser import live
from tests.fingerprint.flags import POLICY, flag_world
from tracks.lifecycle import Event, track_screened, track_transition

pytestmark = pytest.mark.django_db


def _poll_ms(body: str) -> int:
    return int(re.search(r'id="live-state" hidden data-poll-ms="(\d+)"', body)[1])


def _step(body: str, name: str) -> str:
    """The words of one progress step: its state badge and its detail."""
    match = re.search(rf'data-step="{name}">.*?</li>', body, re.S)
    assert match, f"no step {name}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match[0]))


def _screened(track, verdict: str) -> None:
    """What a track's screening does to it: it starts screening, then its verdict moves it on."""
    track_transition(track=track, event=Event.SCREENING_STARTED)
    track_screened(track=track, verdict=verdict)


@pytest.fixture
def generating():
    studio = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", studio)
    track = factories.TrackFactory(
        organisation=studio, created_by=creator, title="Fresh piece", status=TrackStatus.DRAFT
    )
    job = Job.objects.create(
        kind="generate", organisation=studio, params={"track": track.pk}, subject_type="track", subject_id=track.pk
    )
    track.provenance = {"job": str(job.pk)}
    track.save()
    return {"track": track, "job": job, "creator": creator, "studio": studio}


def test_the_track_page_follows_generation_rendering_and_screening_until_the_verdict(client, generating):
    track, job = generating["track"], generating["job"]
    client.force_login(generating["creator"])
    page = client.get(f"/tracks/{track.pk}/").content.decode()
    assert f'data-live-url="/tracks/{track.pk}/live/"' in page and _poll_ms(page) > 0
    assert "in progress" in _step(page, "Generation") and "Not screened yet" in _step(page, "Screening")

    job.status, job.progress, job.message = "running", 0.5, "rendering with FluidSynth"
    job.save()
    live = client.get(f"/tracks/{track.pk}/live/")
    body = live.content.decode()
    assert live["Cache-Control"] == "no-store" and "<html" not in body
    assert "rendering with FluidSynth" in _step(body, "Generation") and "in progress" in _step(body, "Rendering")
    assert "width:50%" in body

    # Generation finishes and causes a screening, which finds nothing: the next poll shows the player and verdict.
    job.status, job.progress = "succeeded", 1.0
    job.save()
    track.preview_path, track.audio_path, track.content_sha256 = "p.ogg", "m.flac", "a" * 64
    track.save()
    screening = Screening.objects.create(organisation=track.organisation, track=track)
    screening_job = Job.objects.create(
        kind="screening",
        organisation=track.organisation,
        params={"screening": screening.pk, "caused_by": str(job.pk)},
        status="running",
        progress=0.6,
        message="searching the indexes",
    )
    screening.job = screening_job
    screening.save()
    body = client.get(f"/tracks/{track.pk}/live/").content.decode()
    assert "searching the indexes" in _step(body, "Screening") and _poll_ms(body) > 0
    assert f'src="/tracks/{track.pk}/preview/"' in body and "done" in _step(body, "Rendering")

    screening_job.status, screening.verdict = "succeeded", "clear"
    screening_job.save()
    screening.save()
    _screened(track, "clear")
    body = client.get(f"/tracks/{track.pk}/live/").content.decode()
    assert "Screened clear: no near-copy" in _step(body, "Screening") and "Ready to publish" in body
    assert f'action="/tracks/{track.pk}/publish/"' in body and _poll_ms(body) == 0  # nothing left to wait for
    assert 'id="verdict">Clear<' in body


def test_an_incomplete_screening_is_said_in_words_and_the_page_keeps_asking(client, generating):
    track, job = generating["track"], generating["job"]
    Job.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0)
    screening_job = Job.objects.create(kind="screening", status="succeeded", params={"caused_by": str(job.pk)})
    Screening.objects.create(organisation=track.organisation, track=track, verdict="incomplete", job=screening_job)
    _screened(track, "incomplete")
    client.force_login(generating["creator"])
    body = client.get(f"/tracks/{track.pk}/").content.decode()
    assert "Screening incomplete: part of the corpus is not indexed yet" in _step(body, "Screening")
    assert "screened again automatically when the indexes catch up" in body
    assert _poll_ms(body) == 10_000


def test_a_finished_generation_that_failed_stops_the_polling_and_shows_the_error(client, generating):
    Job.objects.filter(pk=generating["job"].pk).update(status="failed", error="the model file is missing")
    client.force_login(generating["creator"])
    body = client.get(f"/tracks/{generating['track'].pk}/").content.decode()
    assert "the model file is missing" in _step(body, "Generation") and "failed" in _step(body, "Rendering")
    assert _poll_ms(body) == 0


def test_jobs_another_track_owes_to_the_same_cause_are_not_shown(client, generating):
    track, job = generating["track"], generating["job"]
    other = factories.TrackFactory(organisation=generating["studio"])
    Job.objects.create(
        kind="generate",
        params={"track": other.pk, "caused_by": str(job.pk)},
        subject_type="track",
        subject_id=other.pk,
        status="running",
        message="a secret of the other track",
    )
    mine = Job.objects.create(
        kind="generate",
        params={"track": track.pk, "caused_by": str(job.pk)},
        subject_type="track",
        subject_id=track.pk,
        status="running",
        message="retrying the rendering",
    )
    client.force_login(generating["creator"])
    body = client.get(f"/tracks/{track.pk}/live/").content.decode()
    assert "a secret of the other track" not in body and mine.message in body


def test_the_creator_sees_what_matched_and_where_in_bars(client):
    studio = factories.OrganisationFactory()
    creator = factories.user_with_role("creator", studio)
    dataset = factories.DatasetFactory(name="Label chorales")
    item = CorpusItem.objects.create(
        dataset=dataset,
        sha256="b" * 64,
        original_name="bwv67.7.mid",
        format="midi",
        kind="symbolic",
        title="BWV 67.7",
        composer="J. S. Bach",
        source_path="x",
    )
    track = factories.TrackFactory(organisation=studio, title="Too close", status=TrackStatus.FLAGGED)
    screening = Screening.objects.create(organisation=studio, track=track, verdict="flag")
    match = {
        "level": "symbolic",
        "score": 0.91,
        "query_start": 4.0,
        "query_end": 16.0,
        "match_start": 0.0,
        "match_end": 12.0,
        "query_bars": [3.0, 9.0],
        "match_bars": [1.0, 7.0],
        "transpose": 5,
    }
    flag = SimilarityFlag.objects.create(
        screening=screening, track=track, corpus_item=item, level="symbolic", score=0.91, evidence={"matches": [match]}
    )
    client.force_login(creator)
    body = client.get(f"/tracks/{track.pk}/").content.decode()
    summary = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body[body.index('id="flags"') :]))
    assert "“BWV 67.7” by J. S. Bach in the dataset Label chorales" in summary
    assert "bars 3–9 of this track ↔ bars 1–7 (+5 semitones)" in summary
    assert f'href="/fingerprint/flags/{flag.pk}/"' in body and "held for review" in _step(body, "Screening")


# --- who may open a flagged track ----------------------------------------------------------------------
READERS = sorted(w for w, flags in POLICY.items() if flags["on_corpus"][0] or flags["on_track"][0])
OUTSIDERS = sorted(w for w in POLICY if w not in READERS)


@pytest.mark.parametrize("who", READERS)
def test_those_who_see_a_flag_open_the_flagged_tracks_page_and_provenance(client, who):
    world = flag_world()
    track = world.on_corpus.track
    client.force_login(world.users[who])
    for url in (f"/tracks/{track.pk}/", f"/tracks/{track.pk}/live/", f"/rights/tracks/{track.pk}/provenance/"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "Suspicious piece" in response.content.decode()
    # ... and see on it only the flags they may see.
    page = client.get(f"/tracks/{track.pk}/").content.decode()
    for flag in (world.on_corpus, world.on_track):
        sees = POLICY[who]["on_corpus" if flag == world.on_corpus else "on_track"][0]
        assert (f'href="/fingerprint/flags/{flag.pk}/"' in page) == sees


@pytest.mark.parametrize("who", OUTSIDERS)
def test_nobody_else_opens_a_flagged_track_that_is_not_published(client, who):
    world = flag_world()
    track = world.on_corpus.track
    client.force_login(world.users[who])
    for url in (
        f"/tracks/{track.pk}/",
        f"/tracks/{track.pk}/live/",
        f"/rights/tracks/{track.pk}/provenance/",
        f"/tracks/{track.pk}/preview/",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "Suspicious piece" not in response.content.decode()


def test_a_reviewer_reads_the_flagged_track_but_may_not_publish_it(client):
    world = flag_world()
    track = world.on_corpus.track
    track.status = TrackStatus.CLEARED
    track.save()
    client.force_login(world.users["label reviewer"])
    assert f'action="/tracks/{track.pk}/publish/"' not in client.get(f"/tracks/{track.pk}/").content.decode()
    assert client.post(f"/tracks/{track.pk}/publish/").status_code == 404
    track.refresh_from_db()
    assert track.status == TrackStatus.CLEARED


def test_the_reviewers_track_page_and_provenance_links_on_a_flag_open(client):
    world = flag_world()
    client.force_login(world.users["label reviewer"])
    flag_page = client.get(f"/fingerprint/flags/{world.on_corpus.pk}/").content.decode()
    track_id = world.on_corpus.track_id
    for href in (f"/tracks/{track_id}/", f"/rights/tracks/{track_id}/provenance/"):
        assert f'href="{href}"' in flag_page
        assert client.get(href).status_code == 200


def test_the_generation_page_follows_a_tracks_status_through_its_fragment(client, generating):
    from generation.models import TrainedModel

    model = TrainedModel.objects.create(
        name="live-model", arch="markov", organisation=generating["studio"], status="ready"
    )
    track = generating["track"]
    track.model = model
    track.save()
    screening = factories.TrackFactory(organisation=generating["studio"], model=model, status=TrackStatus.SCREENING)
    published = factories.TrackFactory(organisation=generating["studio"], model=model, status=TrackStatus.PUBLISHED)
    client.force_login(generating["creator"])
    body = client.get("/generation/").content.decode()
    for followed in (track, screening, published):
        assert f'data-live-url="/tracks/{followed.pk}/live/" data-status="{followed.status}"' in body
    assert '["draft", "screening"].includes(cell.dataset.status)' in body  # settled tracks are not polled


def test_the_review_queue_links_each_flagged_track_and_its_provenance(client):
    world = flag_world()
    track_id = world.on_corpus.track_id
    client.force_login(world.users["label reviewer"])
    queue = client.get("/fingerprint/").content.decode()
    assert f'href="/tracks/{track_id}/"' in queue and f'href="/rights/tracks/{track_id}/provenance/"' in queue


# --- in a real browser ------------------------------------------------------------------------------------
chromium, browser_page = live.chromium, live.browser_page  # the browser tests' fixtures


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_a_browser_the_track_page_shows_the_verdict_without_a_reload(live_server, client, browser_page):
    studio = factories.OrganisationFactory(slug="browser-studio")
    creator = factories.user_with_role("creator", studio)
    track = factories.TrackFactory(organisation=studio, title="Watched piece", status=TrackStatus.DRAFT)
    job = Job.objects.create(
        kind="generate",
        organisation=studio,
        params={"track": track.pk},
        subject_type="track",
        subject_id=track.pk,
        status="running",
        message="composing",
    )
    track.provenance = {"job": str(job.pk)}
    track.save()
    client.force_login(creator)
    page = browser_page
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page.goto(f"{live_server.url}/tracks/{track.pk}/")
    assert page.inner_text("#track-status") == "Draft"
    # The header keeps to two lines on a 390 px screen: brand and account, then the menu.
    assert page.eval_on_selector("header", "h => h.getBoundingClientRect().height") < 100
    page.evaluate("window.notReloaded = true")

    Job.objects.filter(pk=job.pk).update(status="succeeded", progress=1.0)
    screening_job = Job.objects.create(kind="screening", status="succeeded", params={"caused_by": str(job.pk)})
    Screening.objects.create(organisation=studio, track=track, verdict="clear", job=screening_job)
    _screened(track, "clear")

    page.wait_for_function("document.getElementById('track-status').textContent === 'Screened clear'", timeout=15_000)
    assert page.evaluate("window.notReloaded") is True
    assert "Screened clear: no near-copy" in page.inner_text("#progress")
    assert page.locator(f'form[action="/tracks/{track.pk}/publish/"]').count() == 1
