"""Training and generation through the platform: licence checks, commands, determinism, provenance, screening."""

import json

import pytest
from django.core.management import call_command

from generation.models import TrainedModel
from ledgerline.catalogue.models import Track
from ledgerline.ledger.models import LedgerEntry
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
    return {"dataset": dataset, "creator": creator, "label_org": label_org}


def run(capsys, *args) -> dict:
    capsys.readouterr()
    call_command(*args, "--json")
    return json.loads(capsys.readouterr().out)


def refused(capsys, *args) -> str:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        call_command(*args)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_train_generate_is_deterministic_screened_and_recorded(studio, tmp_path, capsys):
    dataset = studio["dataset"]
    trained = run(
        capsys,
        "train_model",
        "--name",
        "tiny",
        "--arch",
        "lstm",
        "--datasets",
        str(dataset.pk),
        "--epochs",
        "2",
        "--size",
        "debug",
    )
    assert trained["status"] == "ready" and len(trained["checkpoint_sha256"]) == 64
    assert trained["metrics"]["held_out_nll_per_token"] > 0 and trained["metrics"]["steps"] > 0
    model = TrainedModel.objects.get(name="tiny")
    assert {i["sha256"] for i in model.training_items} == set(dataset.items.values_list("sha256", flat=True))
    assert LedgerEntry.objects.filter(event="model.trained", subject_id=str(model.pk)).exists()

    first = run(
        capsys,
        "generate",
        "--model",
        "tiny",
        "--bars",
        "4",
        "--tempo",
        "110",
        "--key",
        "G",
        "--seed",
        "7",
        "--out",
        str(tmp_path / "a"),
    )
    again = run(
        capsys,
        "generate",
        "--model",
        "tiny",
        "--bars",
        "4",
        "--tempo",
        "110",
        "--key",
        "G",
        "--seed",
        "7",
        "--out",
        str(tmp_path / "b"),
    )
    other = run(
        capsys,
        "generate",
        "--model",
        "tiny",
        "--bars",
        "4",
        "--tempo",
        "110",
        "--key",
        "G",
        "--seed",
        "8",
        "--out",
        str(tmp_path / "c"),
    )
    # Every file of a generation, not only the MIDI, is byte-identical for the same model, request and seed.
    made = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert made == sorted(p.name for p in (tmp_path / "b").iterdir()) and "mix.ogg" in made
    for name in made:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert first["midi_sha256"] == again["midi_sha256"] != other["midi_sha256"]
    assert len(first["files"]["stems"]) == 4 and (tmp_path / "a" / "mix.flac").stat().st_size > 1000
    track = Track.objects.get(pk=first["track"])
    assert track.bars == 4 and track.status in {"clear", "flagged"} and first["verdict"] in {"clear", "flag"}
    assert track.provenance["checkpoint_sha256"] == model.checkpoint_sha256
    assert track.provenance["datasets"][0]["id"] == dataset.pk
    assert LedgerEntry.objects.filter(event="track.generated", subject_id=str(track.pk)).exists()


def test_markov_model_trains_without_a_network_and_generates(studio, tmp_path, capsys):
    run(capsys, "train_model", "--name", "harmony", "--arch", "markov", "--datasets", str(studio["dataset"].pk))
    result = run(capsys, "generate", "--model", "harmony", "--bars", "2", "--out", str(tmp_path / "m"))
    assert (tmp_path / "m" / "piece.mid").exists() and result["status"] in {"clear", "flagged"}


def test_a_dataset_whose_licence_forbids_training_is_refused_by_name(studio, capsys):
    studio["dataset"].training_allowed = False
    studio["dataset"].save()
    err = refused(capsys, "train_model", "--name", "nope", "--arch", "lstm", "--datasets", str(studio["dataset"].pk))
    assert "Chorales" in err and "CC-BY" in err and "does not allow training" in err
    assert not TrainedModel.objects.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bars", "0"], "bars"),
        (["--tempo", "0"], "tempo"),
        (["--tempo", "1000"], "tempo"),
        (["--temperature", "0"], "temperature"),
        (["--key", "H"], "key"),
        (["--program", "melody=200"], "program"),
    ],
)
def test_impossible_parameters_are_refused_and_nothing_is_made(studio, tmp_path, capsys, args, message):
    run(capsys, "train_model", "--name", "harmony", "--arch", "markov", "--datasets", str(studio["dataset"].pk))
    err = refused(capsys, "generate", "--model", "harmony", *args, "--out", str(tmp_path / "x"))
    assert message in err.lower()
    assert not Track.objects.exists()


def test_unknown_and_untrained_models_are_refused(studio, tmp_path, capsys):
    assert "unknown model" in refused(capsys, "generate", "--model", "ghost", "--out", str(tmp_path))
    TrainedModel.objects.create(
        name="later",
        arch="lstm",
        organisation=studio["creator"].memberships.first().organisation,
        created_by=studio["creator"],
    )
    assert "not trained yet" in refused(capsys, "generate", "--model", "later", "--out", str(tmp_path))


def test_buyers_and_labels_may_not_train_or_generate_through_the_api(studio, api_client):
    from generation.services import model_train_start  # noqa: F401

    buyer = factories.user_with_role("buyer")
    api_client.force_authenticate(buyer)
    response = api_client.post(
        "/api/models/", {"name": "b", "arch": "markov", "datasets": [studio["dataset"].pk]}, format="json"
    )
    assert response.status_code == 403
    assert not TrainedModel.objects.exists()


def test_load_demo_trains_demo_models_a_newcomer_can_generate_with(
    settings, tmp_path, capsys, django_capture_on_commit_callbacks
):
    settings.LEDGERLINE_DEMO_STEPS = ["ledgerline.catalogue.demo.load", "generation.demo.load"]
    with django_capture_on_commit_callbacks(execute=True):  # the ingest's indexing runs once it commits
        call_command("load_demo", "--chorales", "3", "--quiet")
    assert set(TrainedModel.objects.filter(status="ready").values_list("name", flat=True)) == {
        "demo-markov",
        "demo-lstm",
    }
    demo_track = Track.objects.get(title="Demo chorale fantasy")  # waiting for the newcomer to publish it
    assert demo_track.status in {"clear", "flagged"} and len(demo_track.stems) == 4
    result = run(capsys, "generate", "--model", "demo-lstm", "--bars", "2", "--out", str(tmp_path / "demo"))
    assert result["status"] in {"clear", "flagged"} and (tmp_path / "demo" / "mix.ogg").exists()


def test_a_training_job_that_fails_marks_its_model_failed(studio):
    from generation.services import model_train_start
    from ledgerline.catalogue.models import CorpusItem

    audio_only = factories.DatasetFactory(organisation=studio["label_org"], name="Recordings", is_public=True)
    CorpusItem.objects.create(
        dataset=audio_only, sha256="a" * 64, original_name="take.wav", format="wav", kind="audio", source_path="x"
    )
    model = model_train_start(
        user=studio["creator"],
        organisation=studio["creator"].memberships.first().organisation,
        name="no-scores",
        arch="markov",
        dataset_ids=[audio_only.pk],
        epochs=1,
    )
    model.refresh_from_db()
    assert model.status == "failed" and "no symbolic items" in model.job.error
