"""Creators upload their own pieces: scores are rendered to stems, recordings are beat-tracked and separated."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from ledgerline.jobs.tasks import job_run
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.audio import write_wav
from ledgerline.music.render import mix, render_stems
from rights.market.models import Asset
from rights.market.services.publishing import track_publish
from tests.helpers import media_files
from tests.music.pieces import midi_lasting_days, silent_flac
from tests.rights.market import four_part_score, market_people
from tracks.lifecycle import Event, may_transition

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return market_people()


def _upload(client, user, name: str, data: bytes, **extra):
    client.force_authenticate(user)
    return client.post("/api/tracks/upload/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart")


def test_an_uploaded_recording_is_screened_published_and_split_by_beat_tracking(market, api_client, settings):
    score = four_part_score(bars=8, tempo=120.0, seed=3)
    _, audio = mix(render_stems(score, soundfont=settings.LEDGERLINE_SOUNDFONT))
    response = _upload(api_client, market.creator, "my-take.wav", write_wav(audio), title="My take")
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    assert track.source == "uploaded" and track.status == "clear" and not track.events_path
    assert track.tempo_bpm == pytest.approx(120, rel=0.03) and track.bars >= 6
    assert LedgerEntry.objects.filter(event="track.uploaded", subject_id=str(track.pk)).exists()
    track_publish(user=market.creator, track=track)
    assets = Asset.objects.filter(track=track)
    assert set(assets.values_list("stem", flat=True)) == {"harmonic", "percussive", "mix"}
    assert set(assets.values_list("method", flat=True)) == {"beat-tracking+hpss"}
    assert assets.filter(bars=4).count() >= 3


def test_an_uploaded_score_is_rendered_to_stems(market, api_client):
    response = _upload(api_client, market.creator, "piece.mid", four_part_score(bars=2).to_midi_bytes())
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    assert len(track.stems) == 4 and track.events_path and track.bars == 2 and track.tempo_bpm == pytest.approx(120)


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("a.mid", four_part_score(bars=1).to_midi_bytes())
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("broken.wav", b"RIFF\x24\x00\x00\x00WAVEfmt " + b"\x00" * 8, "could not be read"),
        ("notes.txt", b"just some text, not music", "notes.txt"),
        ("bundle.zip", None, "one piece at a time"),
        ("empty.mid", b"", "empty"),
    ],
)
def test_bad_uploads_are_refused_and_nothing_is_written(market, api_client, name, data, message):
    response = _upload(api_client, market.creator, name, _zip() if data is None else data)
    assert response.status_code == 400 and message in str(response.json())
    assert not Track.objects.exists() and not LedgerEntry.objects.filter(event="track.uploaded").exists()


def test_only_creators_upload(market, api_client):
    response = _upload(api_client, market.buyer, "piece.mid", four_part_score(bars=1).to_midi_bytes())
    assert response.status_code == 403 and not Track.objects.exists()


@pytest.mark.parametrize(
    "name, data, message",
    [
        (
            "ten-minutes.flac",
            silent_flac(600),
            "ten-minutes.flac: the piece lasts 10 min, longer than the limit of 5 min",
        ),
        ("days.mid", midi_lasting_days(), "longer than the limit of 5 min"),
    ],
)
def test_a_piece_longer_than_the_limit_is_refused_from_its_header_and_nothing_is_written(
    market, api_client, settings, name, data, message
):
    settings.LEDGERLINE_MAX_DURATION_S = 300
    response = _upload(api_client, market.creator, name, data)
    assert response.status_code == 400 and message in str(response.json())
    assert not Track.objects.exists() and not Job.objects.filter(kind="track_upload").exists()
    assert media_files(settings) == []


def test_an_upload_is_analysed_in_its_job_not_in_the_request(market, api_client, settings):
    settings.LEDGERLINE_TASK_RUNNER = "thread"  # the job is sent on commit, which a test never reaches
    response = _upload(api_client, market.creator, "piece.mid", four_part_score(bars=2).to_midi_bytes())
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    assert track.status == "draft" and not track.audio_path and not track.stems
    job = Job.objects.get(pk=track.provenance["job"])
    assert job.kind == "track_upload" and job.status == "queued"
    settings.LEDGERLINE_TASK_RUNNER = "eager"  # as a worker would: the job renders, then screening runs
    job_run.apply(args=[str(job.pk)])
    track.refresh_from_db()
    assert track.status == "clear" and len(track.stems) == 4 and track.audio_path and track.bars == 2
    assert LedgerEntry.objects.filter(event="track.uploaded", subject_id=str(track.pk)).exists()


def test_a_score_that_fails_in_its_job_says_why_on_the_track(market, api_client):
    broken = b"<?xml version='1.0'?><score-partwise><part>"
    response = _upload(api_client, market.creator, "broken.musicxml", broken)
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    job = Job.objects.get(pk=track.provenance["job"])
    assert job.status == "failed" and "broken.musicxml could not be read" in job.error
    assert (
        track.status == "draft"
        and "could not be read" in track.status_reason
        and not may_transition(track, Event.PUBLISHED)
    )
    assert not LedgerEntry.objects.filter(event="track.uploaded").exists()


def test_a_file_name_with_an_odd_suffix_is_read_by_its_content(market, api_client, settings):
    response = _upload(api_client, market.creator, "pièce.mïd", four_part_score(bars=1).to_midi_bytes())
    assert response.status_code == 202, response.content
    assert Track.objects.get().title == "pièce.mïd"
    assert not [f for f in media_files(settings) if ".incoming-" in f]
