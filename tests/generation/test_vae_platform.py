"""The melody VAE in the platform (issue 16 §1, §5): training with the memorisation check, interpolation and style
mixing through the generation service to a screened track, and the bad inputs of a latent request."""

from __future__ import annotations

import pytest
from django.test import TestCase

from generation import services
from generation.engine.baseline import readiness
from generation.memorisation import memorisation_readiness
from generation.models import ModelStatus, TrainedModel
from ledgerline.catalogue.models import CorpusItem, Track
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.events import Score, TrackInfo, make_notes
from ledgerline.storage import store_bytes
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def studio(tmp_path):
    label_org = factories.OrganisationFactory(slug="label")
    dataset = factories.ingested_chorales(
        tmp_path, organisation=label_org, count=4, name="Chorales", is_public=True, licence_name="CC-BY"
    )
    creator_org = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", creator_org)
    with TestCase.captureOnCommitCallbacks(execute=True):
        model = services.model_train_start(
            user=creator,
            organisation=creator_org,
            name="tiny-vae",
            arch="vae",
            dataset_ids=[dataset.pk],
            epochs=2,
            config={"size": "debug", "memorisation_samples": 2},
        )
    model.refresh_from_db()
    assert model.status == ModelStatus.READY, model.job.error
    items = list(dataset.items.order_by("pk"))
    return {"dataset": dataset, "creator": creator, "org": creator_org, "model": model, "items": items}


def _track_with(org, score: Score, **fields) -> Track:
    events = store_bytes(score.to_npz_bytes(), suffix=".npz").relpath
    return factories.TrackFactory(organisation=org, events_path=events, **fields)


def _melody_score(bars: int, time_signature=(4, 4)) -> Score:
    beats = time_signature[0] * 4 / time_signature[1]
    rows = [(60 + (i % 7), i * 1.0, 1.0) for i in range(int(bars * beats))]
    return Score(notes=make_notes(rows), tracks=[TrackInfo("Lead", 0)], time_signature=time_signature)


def test_training_a_vae_records_reconstruction_and_the_memorisation_check(studio):
    model = studio["model"]
    metrics = model.metrics
    assert metrics["window_bars"] == 2 and metrics["windows"] > 0 and metrics["steps"] > 0
    assert 0 <= metrics["held_out_teacher_forced_accuracy"] <= 1 and metrics["held_out_kl_per_window"] >= 0
    check = metrics["memorisation"]
    assert check["samples"] == 2 and check["flagged_guarded"] <= check["samples"]
    assert metrics["ready"] is memorisation_readiness(check)["ready"]
    assert (readiness("vae", metrics) is None) is metrics["ready"]
    assert len(model.checkpoint_sha256) == 64
    assert LedgerEntry.objects.filter(event="model.trained", subject_id=str(model.pk)).exists()


def test_the_memorisation_check_decides_readiness():
    assert memorisation_readiness({"samples": 200, "flagged_guarded": 2, "unmeasured": 0}) == {"ready": True}
    refused = memorisation_readiness({"samples": 200, "flagged_guarded": 3, "unmeasured": 0})
    assert refused["ready"] is False and "3 of 200 samples were flagged" in refused["not_ready_reason"]
    assert (
        "not measured"
        in memorisation_readiness({"samples": 5, "flagged_guarded": 0, "unmeasured": 1})["not_ready_reason"]
    )
    assert readiness("vae", refused) == refused["not_ready_reason"]


def test_an_interpolated_track_is_rendered_screened_and_names_both_sources(studio, api_client):
    model, (first, second, *_) = studio["model"], studio["items"]
    api_client.force_authenticate(studio["creator"])
    request = {"mode": "interpolate", "source_a": f"corpus:{first.pk}", "source_b": f"corpus:{second.pk}", "t": 0.4}
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api_client.post(f"/api/models/{model.pk}/generate/", request, format="json")
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    assert track.status not in ("draft", "screening") and track.audio_path and track.bars == 2
    sources = track.provenance["sources"]
    assert [(s["role"], s["kind"], s["id"]) for s in sources] == [
        ("source_a", "corpus_item", first.pk),
        ("source_b", "corpus_item", second.pk),
    ]
    assert track.generation_params["t"] == 0.4 and len(track.generation_params["latent"]) == 8
    entry = LedgerEntry.objects.get(event="track.generated", subject_id=str(track.pk))
    assert [s["id"] for s in entry.payload["sources"]] == [first.pk, second.pk]
    # The same request decodes the same latent with the same seed: the same MIDI.
    with TestCase.captureOnCommitCallbacks(execute=True):
        again = api_client.post(f"/api/models/{model.pk}/generate/", request, format="json")
    assert Track.objects.get(pk=again.json()["id"]).content_sha256 == track.content_sha256


def test_style_mix_and_prior_samples_generate(studio, api_client):
    model, dataset = studio["model"], studio["dataset"]
    api_client.force_authenticate(studio["creator"])
    own = _track_with(studio["org"], _melody_score(4), title="Scale")
    mix = {"mode": "style_mix", "source_a": f"track:{own.pk}", "style_toward": dataset.pk, "style_away": dataset.pk}
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api_client.post(f"/api/models/{model.pk}/generate/", mix, format="json")
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    assert track.generation_params["style"]["toward"]["id"] == dataset.pk
    assert track.provenance["sources"][0] == {
        "role": "source_a",
        "kind": "track",
        "id": own.pk,
        "title": "Scale",
        "sha256": "",
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        prior = api_client.post(f"/api/models/{model.pk}/generate/", {"mode": "sample", "seed": 3}, format="json")
    assert prior.status_code == 202
    assert Track.objects.get(pk=prior.json()["id"]).provenance["sources"][0]["kind"] == "prior"


def test_bad_latent_requests_are_refused_and_write_nothing(studio, api_client):
    model, first = studio["model"], studio["items"][0]
    api_client.force_authenticate(studio["creator"])
    other = factories.OrganisationFactory(slug="elsewhere")
    hidden_track = _track_with(other, _melody_score(4))
    private = factories.DatasetFactory(organisation=other, is_public=False)
    hidden_item = CorpusItem.objects.create(
        dataset=private, sha256="0" * 64, original_name="x.mid", format="midi", kind="symbolic", source_path="x",
        events_path=first.events_path,
    )  # fmt: skip
    waltz = _track_with(studio["org"], _melody_score(4, (3, 4)), time_signature="3/4")
    short = _track_with(studio["org"], _melody_score(1))
    before = (Track.objects.count(), LedgerEntry.objects.count())

    def post(**body):
        return api_client.post(f"/api/models/{model.pk}/generate/", body, format="json")

    a = f"corpus:{first.pk}"
    response = post(mode="interpolate", source_a=a, source_b=f"track:{hidden_track.pk}")
    assert response.status_code == 404 and f"No track {hidden_track.pk} that you may see" in str(response.json())
    assert post(mode="interpolate", source_a=a, source_b=f"corpus:{hidden_item.pk}").status_code == 404
    assert post(mode="interpolate", source_a=a, source_b="corpus:999999").status_code == 404
    response = post(mode="interpolate", source_a=a, source_b=f"track:{waltz.pk}")
    assert response.status_code == 400 and "different metres (4/4 and 3/4)" in str(response.json())
    response = post(mode="interpolate", source_a=a, source_b=f"track:{short.pk}")
    assert response.status_code == 400 and "too short for one window" in str(response.json())
    for t in (1.5, -0.1, "nan"):
        response = post(mode="interpolate", source_a=a, source_b="prior", t=t)
        assert response.status_code == 400 and "t must be a number in 0..1" in str(response.json()), t
    raw = '{"latent": [1e400, 0, 0, 0, 0, 0, 0, 0]}'  # valid JSON that parses to infinity
    response = api_client.post(f"/api/models/{model.pk}/generate/", raw, content_type="application/json")
    assert response.status_code == 400 and "non-finite" in str(response.json())
    response = post(latent=[0.0] * 3)
    assert response.status_code == 400 and "needs 8 numbers" in str(response.json())
    response = post(mode="interpolate", source_a="somewhere")
    assert response.status_code == 400 and "track:ID, corpus:ID or prior" in str(response.json())
    response = post(mode="style_mix", source_a=a)
    assert response.status_code == 400 and "style mixing needs two datasets" in str(response.json())
    assert (Track.objects.count(), LedgerEntry.objects.count()) == before


def test_a_model_that_is_not_a_vae_refuses_latent_requests(studio, api_client):
    lstm = TrainedModel.objects.create(
        name="markov-only",
        arch="markov",
        organisation=studio["org"],
        status=ModelStatus.READY,
        markov_path=studio["model"].markov_path,
        guard_path=studio["model"].guard_path,
    )
    lstm.datasets.set([studio["dataset"]])
    api_client.force_authenticate(studio["creator"])
    response = api_client.post(f"/api/models/{lstm.pk}/generate/", {"mode": "interpolate", "t": 0.5}, format="json")
    assert response.status_code == 400 and "need a VAE model" in str(response.json())


def test_the_generation_page_offers_two_pieces_and_a_slider_for_a_vae(studio, client):
    model, first, second = studio["model"], *studio["items"][:2]
    client.force_login(studio["creator"])
    page = client.get("/generation/").content.decode()
    assert f'id="m{model.pk}_source_a"' in page and 'type="range"' in page and f"corpus:{first.pk}" in page
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(
            f"/generation/models/{model.pk}/generate/",
            {
                "mode": "interpolate",
                "source_a": f"corpus:{first.pk}",
                "source_b": f"corpus:{second.pk}",
                "t": "0.5",
                "seed": "0",
                "tempo": "100",
                "key": "C",
                "temperature": "1.0",
                "anti_copy": "on",
                "strength": "1",
            },
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    track = Track.objects.get(pk=int(response.url.strip("/").split("/")[-1]))
    assert {s["id"] for s in track.provenance["sources"]} == {first.pk, second.pk}


def test_a_vae_trained_with_frames_harmonises_an_interpolation_with_the_frame_model(studio, api_client):
    with TestCase.captureOnCommitCallbacks(execute=True):
        model = services.model_train_start(
            user=studio["creator"],
            organisation=studio["org"],
            name="tiny-vae-frames",
            arch="vae",
            dataset_ids=[studio["dataset"].pk],
            epochs=1,
            config={"size": "debug", "memorisation_samples": 1, "frames": True},
        )
    model.refresh_from_db()
    assert model.status == ModelStatus.READY and model.frames_path
    first, second = studio["items"][:2]
    api_client.force_authenticate(studio["creator"])
    request = {
        "mode": "interpolate",
        "source_a": f"corpus:{first.pk}",
        "source_b": f"corpus:{second.pk}",
        "harmony": "frames",
        "arrangement": "satb",
    }
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = api_client.post(f"/api/models/{model.pk}/generate/", request, format="json")
    assert response.status_code == 202, response.content
    track = Track.objects.get(pk=response.json()["id"])
    assert track.provenance["stats"]["harmony"] == "frames" and track.audio_path
