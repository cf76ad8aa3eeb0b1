"""Four-part harmony from the frame model, chosen per generation request (issue 16 §3): `harmony` markov|frames."""

import json

import numpy as np
import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from generation import services
from generation.models import TrainedModel
from generation.request import GenerationRequest
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from ledgerline.music.events import Score
from ledgerline.storage import read_blob
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio(tmp_path):
    label_org = factories.OrganisationFactory(slug="label")
    dataset = factories.ingested_chorales(
        tmp_path, organisation=label_org, count=3, name="Chorales", is_public=True, licence_name="CC-BY"
    )
    creator = factories.user_with_role("creator", factories.OrganisationFactory(slug="studio"))
    return {"dataset": dataset, "creator": creator}


def _train(capsys, name: str, dataset, *extra: str) -> TrainedModel:
    capsys.readouterr()
    call_command(
        "train_model", "--name", name, "--arch", "markov", "--datasets", str(dataset.pk), "--size", "debug", *extra
    )
    return TrainedModel.objects.get(name=name)


def test_a_model_trained_with_frames_harmonises_a_melody_in_four_voices(studio, capsys, settings):
    model = _train(capsys, "chorale", studio["dataset"], "--frames")
    assert model.status == "ready" and model.frames_path
    assert model.metrics["frame_nll_per_frame"] > 0
    params = {"bars": 2, "seed": 3, "harmony": "frames", "arrangement": "satb"}
    track = services.generation_start(user=studio["creator"], model=model, params=params)
    track.refresh_from_db()
    assert track.generation_params["harmony"] == "frames"
    assert track.provenance["stats"]["harmony"] == "frames"
    score = Score.from_npz_bytes(read_blob(track.events_path))
    pitched = score.notes[~score.notes["is_drum"]]
    assert len(np.unique(pitched["track"])) == 4  # soprano (the melody), alto, tenor, bass
    again, _ = services.compose(model, GenerationRequest.from_params(track.generation_params))
    assert np.array_equal(again.notes, score.notes)  # a seed gives the same voices
    with pytest.raises(ValidationError, match="the frame harmony writes four voices: use arrangement satb"):
        GenerationRequest.build(model=model, params={"harmony": "frames", "arrangement": "band"})


def test_harmony_frames_on_a_model_without_a_frame_model_is_a_clear_400(studio, capsys, api_client):
    model = _train(capsys, "plain", studio["dataset"])
    api_client.force_authenticate(studio["creator"])
    response = api_client.post(f"/api/models/{model.pk}/generate/", {"harmony": "frames"}, format="json")
    assert response.status_code == 400
    assert "has no frame harmony model" in json.dumps(response.json())
    assert not Track.objects.exists() and not Job.objects.filter(kind="generate").exists()


def test_an_unknown_harmony_is_refused_by_name(studio, capsys, api_client):
    model = _train(capsys, "plain", studio["dataset"])
    api_client.force_authenticate(studio["creator"])
    response = api_client.post(f"/api/models/{model.pk}/generate/", {"harmony": "jazz"}, format="json")
    assert response.status_code == 400
    assert "harmony must be one of markov, frames, got 'jazz'" in json.dumps(response.json())
    assert not Track.objects.exists()


def test_the_page_shows_the_refusal_next_to_the_harmony_field(studio, capsys, client):
    model = _train(capsys, "plain", studio["dataset"])
    client.force_login(studio["creator"])
    form = {"bars": 2, "tempo": 100, "key": "C", "seed": 1, "temperature": 1.0, "top_k": 0, "top_p": 0.9}
    response = client.post(f"/generation/models/{model.pk}/generate/", form | {"harmony": "frames"})
    assert response.status_code == 200
    errors = response.context["models"][0].generate_form.errors["harmony"]
    assert any("has no frame harmony model" in error for error in errors)
    assert not Track.objects.exists()
