"""The generation request validated once (issue 13): `GenerationRequest.build` normalises, the track stores
`as_params()`, the job reads it back with `from_params`, and nothing is stored for a user who may not generate."""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile

from generation import services
from generation.engine.anticopy import NgramGuard
from generation.engine.markov import MarkovHarmony
from generation.models import TrainedModel
from generation.request import GenerationRequest
from ledgerline.catalogue.models import Track
from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo
from ledgerline.storage import media_root, store_bytes
from tests import factories

pytestmark = pytest.mark.django_db
STORED_KEYS = [
    "harmony",
    "key",
    "anti_copy",
    "title",
    "programs",
    "time_signature",
    "bars",
    "tempo",
    "seed",
    "temperature",
    "top_k",
    "top_p",
    "arrangement",
    "drums",
]


@pytest.fixture
def model(db):
    studio = factories.OrganisationFactory(slug="studio")
    model = TrainedModel.objects.create(
        name="tiny",
        arch="markov",
        organisation=studio,
        created_by=factories.user_with_role("creator", studio),
        status="ready",
        markov_path=store_bytes(MarkovHarmony().to_json().encode(), suffix=".json").relpath,
        guard_path=store_bytes(NgramGuard.from_melodies([]).to_bytes(), suffix=".bin").relpath,
        provenance={"corpus_style": {"pieces": 4, "four_part_share": 0.0, "drum_share": 1.0}},
    )
    model.datasets.set([factories.DatasetFactory(is_public=True)])
    return model


def test_a_request_is_typed_frozen_and_stored_as_the_json_it_reads_back(model):
    request = GenerationRequest.build(
        model=model, params={"bars": "8", "tempo": 90, "seed": 3.0, "programs": {"bass": 33}}, user=model.created_by
    )
    assert (request.bars, request.tempo, request.seed, request.key) == (8, 90.0, 3, "C")
    assert isinstance(request.tempo, float) and request.time_signature == (4, 4)
    assert (request.arrangement, request.drums, request.programs) == ("band", True, {"bass": 33})
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.seed = 4  # type: ignore[misc]
    stored = request.as_params()
    assert list(stored) == STORED_KEYS and stored["time_signature"] == [4, 4]
    assert GenerationRequest.from_params(stored) == request

    track = services.generation_start(user=model.created_by, model=model, params={"bars": 8, "seed": 3})
    track.refresh_from_db()  # through the JSON column
    assert sorted(track.generation_params) == sorted(STORED_KEYS)
    assert GenerationRequest.from_params(track.generation_params).as_params() == track.generation_params


def test_a_request_stored_before_the_newer_fields_reads_back_with_the_old_defaults():
    request = GenerationRequest.from_params({"bars": 2, "seed": 0, "tempo": 120, "key": "G", "temperature": 1})
    assert (request.arrangement, request.drums, request.harmony, request.anti_copy) == ("band", True, "markov", True)
    assert request.prompt is None and request.from_track is None and request.latent is None
    assert request.tempo == 120.0 and request.time_signature == (4, 4)


def test_a_prompt_file_from_someone_who_may_not_generate_is_refused_before_it_is_stored(model):
    outsider = factories.user_with_role("creator", factories.OrganisationFactory(slug="elsewhere"))
    rows = [(60 + i, 80, 0, False, 0, float(i), 1.0, 0.0, 0.0) for i in range(7)]
    prompt = Score(notes=np.array(rows, dtype=NOTE_DTYPE), tracks=[TrackInfo("Melody", 0)], tempo_bpm=97.0)
    data = prompt.to_midi_bytes()
    with pytest.raises(PermissionDenied):
        services.generation_start(
            user=outsider, model=model, params={"prompt_file": SimpleUploadedFile("tune.mid", data), "bars": 4}
        )
    stored = lambda: list(media_root().rglob(f"{hashlib.sha256(data).hexdigest()}*"))  # noqa: E731
    assert not stored() and not Track.objects.exists()
    # The same request from a creator of the model's organisation stores it.
    services.generation_start(
        user=model.created_by, model=model, params={"prompt_file": SimpleUploadedFile("tune.mid", data), "bars": 4}
    )
    assert len(stored()) == 1
