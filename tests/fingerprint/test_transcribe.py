"""Recordings get the symbolic level: Basic Pitch transcription, the melody line, and the platform's use of it."""

import json

import numpy as np
import pytest
from django.core.management import call_command

from fingerprint.engine import melody, transcribe, transforms
from fingerprint.models import Fingerprint
from fingerprint.services import features_of
from fingerprint.transcription import TRANSCRIBED_TRACK, transcribed_score
from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.models import CorpusItem
from ledgerline.catalogue.services import dataset_upload_add
from ledgerline.music.audio import write_wav
from ledgerline.music.events import SAMPLE_RATE
from ledgerline.music.render import render_midi
from tests import factories
from tests.fingerprint.chorales import NAMES, chorale

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"


@pytest.fixture(scope="module")
def rendered():
    return render_midi(chorale(NAMES[1]).to_midi_bytes(), soundfont=SOUNDFONT)


def top_voice_agreement(melody_notes: list[transcribe.Note], soprano: np.ndarray) -> float:
    """Share of the score's soprano notes with a melody note of the same pitch class within 80 ms."""
    onsets = np.array([n.onset_s for n in melody_notes])
    classes = np.array([n.pitch % 12 for n in melody_notes])
    nearest = np.abs(onsets[None, :] - soprano["start_s"][:, None]).argmin(axis=1)
    close = np.abs(onsets[nearest] - soprano["start_s"]) < 0.08
    return float(np.mean(close & (classes[nearest] == soprano["pitch"] % 12)))


def test_rendered_chorale_transcribes_to_a_melody_on_its_soprano_line(rendered):
    notes = transcribe.transcribe(rendered, SAMPLE_RATE)
    line = transcribe.melody_notes(notes)
    score = chorale(NAMES[1])
    soprano = score.notes[score.notes["track"] == 0]
    assert score.tracks[0].name == "Soprano"
    assert len(notes) > 2 * len(line)  # the transcription is polyphonic, the melody one voice
    assert top_voice_agreement(line, soprano) >= 0.7  # 0.86 measured; the rest are inner voices and misses
    assert all(a.onset_s < b.onset_s for a, b in zip(line, line[1:], strict=False))


def test_audio_at_another_sample_rate_is_resampled_for_the_model():
    rate = 16000
    t = np.arange(2 * rate) / rate
    tone = (0.3 * np.sin(2 * np.pi * 440.0 * t)).astype(np.float32)
    notes = transcribe.transcribe(tone, rate)
    assert max(notes, key=lambda n: n.offset_s - n.onset_s).pitch == 69  # A4


@pytest.mark.parametrize(
    ("audio", "reason"),
    [
        (np.zeros(5 * SAMPLE_RATE, np.float32), "silent"),
        (np.zeros(0, np.float32), "no audio"),
        (np.full(SAMPLE_RATE, np.nan, np.float32), "non-finite"),
        (np.full(100, 0.5, np.float32), "too short"),
    ],
)
def test_audio_without_notes_raises_transcription_error(audio, reason):
    with pytest.raises(transcribe.TranscriptionError, match=reason):
        transcribe.transcribe(audio, SAMPLE_RATE)


def test_a_recording_without_score_gets_a_symbolic_level_from_its_transcription(rendered):
    features = features_of(audio=rendered, score=None, query=False)
    assert features.melody is not None and len(features.melody) >= 2 * melody.WINDOW_NOTES
    assert not [p for p in features.problems if p.startswith("symbolic")]
    assert not features.beats_from_score
    windows, _ = melody.windows(features.melody)
    assert len(windows) == len(features.melody) - melody.WINDOW_NOTES + 1


def test_a_silent_recording_says_why_it_has_no_symbolic_level():
    features = features_of(audio=np.zeros(5 * SAMPLE_RATE, np.float32), score=None, query=True)
    assert features.melody is None
    assert "symbolic: the recording could not be transcribed (the audio is silent)" in features.problems
    assert not any("no transcription model" in p for p in features.problems)


def test_transcribed_score_holds_every_transcribed_note_in_one_track(rendered):
    score = transcribed_score(audio=rendered)
    assert [t.name for t in score.tracks] == [TRANSCRIBED_TRACK]
    assert len(score.notes) == len(transcribe.transcribe(rendered, SAMPLE_RATE))
    assert score.duration_s == pytest.approx(chorale(NAMES[1]).duration_s, abs=1.0)  # seconds as heard


@pytest.mark.django_db
def test_an_audio_only_chorale_is_flagged_when_a_recording_of_a_transposed_copy_is_screened(
    tmp_path, capsys, django_capture_on_commit_callbacks
):
    org = factories.OrganisationFactory(slug="recordings-label")
    user = factories.user_with_role("label", org)
    dataset = factories.DatasetFactory(organisation=org, name="Recordings", licence_name="CC-BY-4.0")
    for name in (NAMES[1], NAMES[2]):
        path = tmp_path / (name.replace("/", "-") + ".wav")
        path.write_bytes(write_wav(render_midi(chorale(name).to_midi_bytes(), soundfont=SOUNDFONT)))
        dataset_upload_add(dataset=dataset, user=user, path=path)
    with django_capture_on_commit_callbacks(execute=True):
        job = dataset_ingest_start(dataset=dataset, user=user)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    items = CorpusItem.objects.filter(dataset=dataset)
    assert {item.kind for item in items} == {"audio"} and not any(item.events_path for item in items)
    fingerprints = Fingerprint.objects.filter(corpus_item__in=items, indexed=True)
    assert len(fingerprints) == 2 and all(f.melody_windows > 0 for f in fingerprints)  # transcribed melodies

    copy = tmp_path / "copy.wav"
    copy.write_bytes(
        write_wav(render_midi(transforms.transpose(chorale(NAMES[2]), 3).to_midi_bytes(), soundfont=SOUNDFONT))
    )
    capsys.readouterr()
    call_command("screen", str(copy), "--json")
    result = json.loads(capsys.readouterr().out)
    target = items.get(original_name__startswith=NAMES[2].replace("/", "-"))
    assert result["verdict"] == "flag"
    assert result["matches"][0]["corpus_item"] == target.pk
    assert not [p for p in result["problems"] if p.startswith("symbolic")]
