"""Generation controls through the platform: arrangement, drums, prompts, regenerating from a bar. Impossible
values are refused with 400 (page: the form's message; CLI: exit 2) and nothing is written; another
organisation's track is a 404."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony
from generation.models import TrainedModel
from generation.request import GenerationRequest
from generation.services import compose
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo
from ledgerline.storage import store_bytes
from tests import factories

pytestmark = pytest.mark.django_db
CHORALE_STYLE = {"pieces": 4, "four_part_share": 1.0, "drum_share": 0.0}


@pytest.fixture
def model(db):
    """A ready Markov model of a chorale corpus (its style stored as training stores it)."""
    studio = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", studio)
    model = TrainedModel.objects.create(
        name="tiny",
        arch="markov",
        organisation=studio,
        created_by=creator,
        status="ready",
        markov_path=store_bytes(MarkovHarmony().to_json().encode(), suffix=".json").relpath,
        guard_path=store_bytes(NgramGuard.from_melodies([]).to_bytes(), suffix=".bin").relpath,
        provenance={"corpus_style": CHORALE_STYLE},
    )
    model.datasets.set([factories.DatasetFactory(is_public=True)])
    return model


def melody_score(bars: int = 2) -> Score:
    rows = [(64 + (i % 3), 80, 0, False, 0, float(i), 1.0, 0.0, 0.0) for i in range(4 * bars)]
    return Score(notes=np.array(rows, dtype=NOTE_DTYPE), tracks=[TrackInfo("Melody", 0)], tempo_bpm=100.0)


def generated_track(model: TrainedModel, **params) -> Track:
    """A finished generated track (composed for real; not rendered) of `model`'s organisation."""
    clean = GenerationRequest.build(model=model, params={"bars": 4, "seed": 5, **params}, user=model.created_by)
    score, _ = compose(model, clean)
    return Track.objects.create(
        organisation=model.organisation,
        created_by=model.created_by,
        title="source",
        model=model,
        generation_params=clean.as_params(),
        events_path=store_bytes(score.to_npz_bytes(), suffix=".npz").relpath,
        bars=clean.bars,
    )


def foreign_track() -> Track:
    other = factories.OrganisationFactory(slug="elsewhere")
    return Track.objects.create(
        organisation=other,
        title="not yours",
        events_path=store_bytes(melody_score().to_npz_bytes(), suffix=".npz").relpath,
        bars=2,
        generation_params={"bars": 2, "seed": 0},
    )


def assert_nothing_written(tracks: int = 0) -> None:
    assert Track.objects.count() == tracks
    assert not Job.objects.filter(kind="generate").exists()
    assert not LedgerEntry.objects.filter(event="track.generated").exists()


def test_chorale_data_defaults_to_satb_without_drums_and_band_can_be_asked_for(model):
    clean = GenerationRequest.build(model=model, params={}, user=model.created_by)
    assert clean.arrangement == "satb" and clean.drums is False
    score, _ = compose(model, clean)
    assert [t.name for t in score.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert not score.notes["is_drum"].any()
    band = GenerationRequest.build(model=model, params={"arrangement": "band"}, user=model.created_by)
    assert band.drums is False and not compose(model, band)[0].notes["is_drum"].any()
    drums = GenerationRequest.build(model=model, params={"arrangement": "band", "drums": True}, user=model.created_by)
    assert compose(model, drums)[0].notes["is_drum"].any()


@pytest.mark.parametrize(
    "body, field, message",
    [
        ({"arrangement": "orchestra"}, "arrangement", "unknown arrangement 'orchestra'; choose one of satb, band"),
        ({"bars": 0}, "bars", "bars must be an integer in 1..256, got 0"),
        ({"bars": -3}, "bars", "bars must be an integer in 1..256, got -3"),
        ({"temperature": 0}, "temperature", "temperature must be a number in 0.01..100"),
        ({"temperature": -1}, "temperature", "temperature must be a number in 0.01..100"),
        ({"key": "X#"}, "key", "unknown key 'X#'"),
        ({"from_bar": 2}, "from_bar", "from_bar needs from_track"),
    ],
)
def test_the_api_refuses_impossible_controls_with_400(api_client, model, body, field, message):
    api_client.force_authenticate(model.created_by)
    response = api_client.post(f"/api/models/{model.pk}/generate/", body, format="json")
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()["detail"]), response.json()
    assert_nothing_written()


def test_regenerating_beyond_the_tracks_length_is_a_400(api_client, model):
    source = generated_track(model)
    api_client.force_authenticate(model.created_by)
    for bar in (5, 0):
        response = api_client.post(
            f"/api/models/{model.pk}/generate/", {"from_track": source.pk, "from_bar": bar}, format="json"
        )
        assert response.status_code == 400
        assert "from_bar must be a bar of the track: an integer in 1..4" in " ".join(response.json()["detail"])
    assert_nothing_written(tracks=1)


def test_someone_elses_track_is_a_404_as_prompt_and_as_regeneration(api_client, model):
    theirs = foreign_track()
    api_client.force_authenticate(model.created_by)
    for body in ({"prompt_track": theirs.pk}, {"from_track": theirs.pk, "from_bar": 2}, {"prompt_track": 999999}):
        response = api_client.post(f"/api/models/{model.pk}/generate/", body, format="json")
        assert response.status_code == 404, (body, response.content)
    assert_nothing_written(tracks=1)


def test_an_uploaded_prompt_is_continued_and_keeps_its_notes(api_client, model):
    prompt = melody_score(bars=2)
    upload = SimpleUploadedFile("tune.mid", prompt.to_midi_bytes(), content_type="audio/midi")
    clean = GenerationRequest.build(
        model=model, params={"prompt_file": upload, "bars": 4, "arrangement": "band"}, user=model.created_by
    )
    assert clean.prompt["bars"] == 2 and clean.prompt["format"] == "midi" and clean.key
    score, stats = compose(model, clean)
    melody = np.sort(score.notes[score.notes["track"] == 0], order="start")
    assert [(int(n["pitch"]), float(n["start"])) for n in melody[melody["start"] < 8]] == [
        (int(n["pitch"]), float(n["start"])) for n in prompt.notes
    ]
    assert len(melody[melody["start"] >= 8]) > 0 and stats["prompt_bars"] == 2
    # Through the API: a prompt as long as the piece is refused.
    api_client.force_authenticate(model.created_by)
    response = api_client.post(
        f"/api/models/{model.pk}/generate/",
        {"prompt_file": SimpleUploadedFile("tune.mid", prompt.to_midi_bytes()), "bars": 2},
        format="multipart",
    )
    assert response.status_code == 400
    assert "the prompt fills 2 bar(s): bars must be more than that, got 2" in " ".join(response.json()["detail"])
    response = api_client.post(
        f"/api/models/{model.pk}/generate/",
        {"prompt_file": SimpleUploadedFile("tune.mid", b"not music at all"), "bars": 4},
        format="multipart",
    )
    assert response.status_code == 400 and "MIDI or MusicXML" in " ".join(response.json()["detail"])
    assert_nothing_written()


def test_a_prompt_from_ones_own_track_is_continued(model):
    source = generated_track(model, arrangement="band")
    clean = GenerationRequest.build(
        model=model, params={"prompt_track": source.pk, "bars": 6, "seed": 9}, user=model.created_by
    )
    assert clean.prompt == {"track": source.pk, "sha256": "", "transpose": 0, "bars": 4}
    score, _ = compose(model, clean)
    kept = Score.from_npz_bytes(open_blob(source.events_path))
    first = kept.notes[kept.notes["track"] == 0]
    melody = score.notes[score.notes["track"] == 0]
    assert sorted(first["pitch"].tolist()) == sorted(melody[melody["start"] < 16]["pitch"].tolist())


def open_blob(relpath: str) -> bytes:
    from ledgerline.storage import read_blob

    return read_blob(relpath)


@pytest.mark.parametrize("arrangement", ["satb", "band"])
def test_regenerating_from_bar_n_keeps_the_earlier_bars_byte_identical_in_the_midi(model, arrangement):
    source = generated_track(model, arrangement=arrangement, bars=4)
    clean = GenerationRequest.build(model=model, params={"from_track": source.pk, "from_bar": 3}, user=model.created_by)
    assert clean.seed == 6 and clean.arrangement == arrangement and clean.bars == 4
    score, _ = compose(model, clean)
    before = Score.from_npz_bytes(open_blob(source.events_path))
    boundary = 2 * before.bar_beats

    def midi_notes(score: Score, upto: float) -> list[tuple]:
        parsed = Score.from_midi_bytes(score.to_midi_bytes())
        return sorted(
            (int(n["track"]), float(n["start"]), int(n["pitch"]), int(n["velocity"]), min(float(n["start"] + n["duration"]), boundary))
            for n in parsed.notes
            if n["start"] < upto
        )  # fmt: skip

    assert midi_notes(score, boundary) == midi_notes(before, boundary)
    assert midi_notes(score, 4 * before.bar_beats) != midi_notes(before, 4 * before.bar_beats)


def test_the_generate_command_takes_the_controls_and_refuses_a_bar_beyond_the_track(model, capsys, tmp_path):
    source = generated_track(model)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        call_command(
            "generate", "--model", "tiny", "--from-track", str(source.pk), "--from-bar", "9", "--out", str(tmp_path)
        )
    assert exit_info.value.code == 2 and "from_bar must be a bar of the track" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        call_command("generate", "--model", "tiny", "--arrangement", "orchestra", "--out", str(tmp_path))
    assert exit_info.value.code == 2 and "unknown arrangement 'orchestra'" in capsys.readouterr().err
    assert_nothing_written(tracks=1)
