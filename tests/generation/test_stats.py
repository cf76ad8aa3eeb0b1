"""A generated melody measured against its training corpus: the engine's measures, the track's provenance and
page, the API, and the per-model summary command."""

import json

import pytest
from django.core.management import call_command

from generation.engine.stats import compare, corpus_reference, melody_stats, summarise
from ledgerline.music.events import make_notes


def known_melody():
    # Bar 1: C D E F quarters; bar 2: the same rhythm, G F E D (contour down, rhythm repeats);
    # bar 3: F# half note, then a rest of a half bar; bars 4-5 silent; bar 6: C whole note.
    rows = [
        (60, 0, 1),
        (62, 1, 1),
        (64, 2, 1),
        (65, 3, 1),
        (67, 4, 1),
        (65, 5, 1),
        (64, 6, 1),
        (62, 7, 1),
        (66, 8, 2),
        (72, 20, 4),
    ]
    return make_notes(rows)


def test_stats_of_a_known_melody():
    stats = melody_stats(known_melody(), key="C", bar_beats=4.0)
    assert stats["notes"] == 10 and stats["bars"] == 6
    assert stats["pitch_low"] == 60 and stats["pitch_high"] == 72 and stats["pitch_range"] == 12
    assert stats["in_key_ratio"] == 0.9  # the F# is out of C major
    assert stats["longest_rest_bars"] == 2.5  # beats 10..20
    assert stats["note_density"] == pytest.approx(10 / 6, abs=1e-3)
    # Bars with notes: 1, 2, 3, 6; bar 2 repeats bar 1's rhythm; no bar repeats a contour (1 up, 2 down).
    assert stats["rhythm_repetition"] == 0.25 and stats["contour_repetition"] == 0.0
    assert stats["interval_histogram"][12 + 2] == 3 and sum(stats["interval_histogram"]) == 9


def test_the_key_is_estimated_when_not_given_and_minor_counts_its_raised_sixth_and_seventh():
    notes = make_notes([(57, 0, 1), (59, 1, 1), (60, 2, 1), (62, 3, 1), (64, 4, 1), (66, 5, 1), (68, 6, 1), (69, 7, 1)])
    assert melody_stats(notes, key="Am", bar_beats=4.0)["in_key_ratio"] == 1.0
    assert melody_stats(notes, key=None, bar_beats=4.0)["key"] in {"Am", "A", "E", "Em", "C", "G"}


def test_comparison_says_which_measures_lie_inside_the_corpus_range():
    corpus = [
        melody_stats(
            make_notes([(60 + i, 0, 1), (62 + i, 1, 1), (64 + i, 2, 1), (65 + i, 3, 1)]), key=None, bar_beats=4.0
        )
        for i in range(5)
    ]
    reference = corpus_reference(corpus)
    assert reference["pieces"] == 5 and abs(sum(reference["interval_histogram"]) - 1) < 1e-3
    assert set(reference["percentiles"]["pitch_range"]) == {"p5", "p50", "p95"}
    same = compare(corpus[0], reference)
    assert same["inside"] == same["total"] == 7 and same["interval_distance"] == 0.0
    odd = compare(melody_stats(known_melody(), key="C", bar_beats=4.0), reference)
    rows = odd["statistics"]
    assert not rows["pitch_range"]["inside"] and not rows["longest_rest_bars"]["inside"]
    assert odd["interval_distance"] > 0 and odd["inside"] < odd["total"]
    summary = summarise([corpus[0], melody_stats(known_melody(), key="C", bar_beats=4.0)], reference)
    assert summary["samples"] == 2 and summary["statistics"]["pitch_range"]["inside_share"] == 0.5


# --- through the platform -----------------------------------------------------------------------------------
@pytest.fixture
def trained(db, tmp_path, capsys):
    from tests import factories

    label_org = factories.OrganisationFactory(slug="label")
    dataset = factories.ingested_chorales(
        tmp_path, organisation=label_org, count=4, name="Chorales", is_public=True, licence_name="CC-BY"
    )
    creator_org = factories.OrganisationFactory(slug="studio")
    factories.user_with_role("creator", creator_org)
    call_command(
        "train_model",
        "--name",
        "tiny",
        "--arch",
        "lstm",
        "--datasets",
        str(dataset.pk),
        "--epochs",
        "1",
        "--size",
        "debug",
        "--json",
    )
    capsys.readouterr()
    from generation.models import TrainedModel

    return TrainedModel.objects.get(name="tiny")


def test_training_stores_the_reference_of_the_held_out_pieces(trained):
    reference = trained.provenance["corpus_reference"]
    assert reference["pieces"] == trained.metrics["held_out_pieces"] == 1
    assert 0.9 <= reference["percentiles"]["in_key_ratio"]["p50"] <= 1.0  # a Bach chorale's soprano
    assert len(reference["interval_histogram"]) == 25
    assert "licence_terms" in trained.provenance  # kept beside it


def test_a_generated_track_carries_its_comparison_in_provenance_ledger_page_and_api(
    trained, tmp_path, capsys, client, api_client
):
    from ledgerline.catalogue.models import Track
    from ledgerline.ledger.models import LedgerEntry

    call_command(
        "generate",
        "--model",
        "tiny",
        "--bars",
        "4",
        "--key",
        "G",
        "--seed",
        "3",
        "--out",
        str(tmp_path / "out"),
        "--json",
    )
    track = Track.objects.get(pk=json.loads(capsys.readouterr().out)["track"])
    comparison = track.provenance["corpus_comparison"]
    assert track.provenance["melody_stats"]["key"] == "G" and track.provenance["melody_stats"]["bars"] <= 4
    assert comparison["total"] == 7 and comparison["reference_pieces"] == 1
    assert set(comparison["statistics"]) >= {
        "pitch_range",
        "in_key_ratio",
        "longest_rest_bars",
        "rhythm_repetition",
        "interval_distance",
    }
    entry = LedgerEntry.objects.get(event="track.generated", subject_id=str(track.pk))
    assert entry.payload["corpus_inside"] == [comparison["inside"], 7]

    client.force_login(track.created_by)
    page = client.get(f"/tracks/{track.pk}/").content.decode()
    assert "This track vs the corpus (5–95 %)" in page and "Longest rest (bars)" in page
    api_client.force_authenticate(track.created_by)
    body = api_client.get(f"/api/tracks/{track.pk}/").json()
    assert body["corpus_comparison"] == comparison


def test_model_stats_summarises_samples_against_the_reference(trained, capsys):
    capsys.readouterr()
    call_command("model_stats", "--model", "tiny", "--samples", "3", "--bars", "4", "--json")
    result = json.loads(capsys.readouterr().out)
    summary = result["summary"]
    assert result["model"] == "tiny" and summary["samples"] == 3 and summary["reference_pieces"] == 1
    assert set(summary["statistics"]) == {
        "pitch_range",
        "note_density",
        "in_key_ratio",
        "longest_rest_bars",
        "rhythm_repetition",
        "contour_repetition",
        "interval_distance",
    }
    row = summary["statistics"]["in_key_ratio"]
    assert {"mean", "median", "inside_share", "p5", "p50", "p95"} <= set(row) and 0 <= row["inside_share"] <= 1
    assert 0 <= summary["pooled_interval_distance"] <= 1


@pytest.mark.parametrize(
    "args, message",
    [
        (("--model", "nope"), "unknown model 'nope'"),
        (("--model", "tiny", "--samples", "0"), "--samples must be in 1..1000"),
        (("--model", "tiny", "--bars", "0"), "bars must be an integer"),
    ],
)
def test_model_stats_refuses_bad_input_with_one_line(trained, capsys, args, message):
    from ledgerline.catalogue.models import Track

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        call_command("model_stats", *args)
    assert exit_info.value.code == 2 and message in capsys.readouterr().err
    assert not Track.objects.exists()


# --- the per-model summary as a job (page and API) ----------------------------------------------------------
def test_the_owner_summarises_samples_in_a_job_that_the_page_and_api_show(
    trained, client, api_client, django_capture_on_commit_callbacks
):
    from ledgerline.jobs.models import Job, JobKind

    owner = trained.created_by
    api_client.force_authenticate(owner)
    before = api_client.get(f"/api/models/{trained.pk}/stats/").json()
    assert before == {"job": None, "summary": None, "readiness": before["readiness"]}
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/models/{trained.pk}/stats/", {"samples": 2}, format="json")
    assert response.status_code == 202, response.content
    job = Job.objects.get(pk=response.json()["id"])
    assert job.kind == JobKind.MODEL_STATS and job.status == "succeeded" and job.progress == 1.0
    assert job.message == "2 of 2 pieces composed"
    body = api_client.get(f"/api/models/{trained.pk}/stats/").json()
    assert body["job"]["id"] == str(job.pk) and body["summary"]["summary"]["samples"] == 2
    assert body["summary"]["reference"]["pieces"] == 1 and body["readiness"] == body["summary"]["readiness"]
    row = body["summary"]["summary"]["statistics"]["pitch_range"]
    assert {"mean", "median", "inside_share", "p5", "p50", "p95"} <= set(row)

    client.force_login(owner)
    page = client.get(f"/generation/models/{trained.pk}/").content.decode()
    assert 'id="model-stats-table"' in page and "Pitch range (semitones)" in page and "Corpus 5 %" in page
    assert "Summarise 50 samples" in page and "Readiness" in page
    assert f'href="/generation/models/{trained.pk}/"' in client.get("/generation/").content.decode()


def test_the_page_starts_the_summary_and_shows_its_progress(trained, client):
    from ledgerline.jobs.models import Job

    client.force_login(trained.created_by)
    response = client.post(f"/generation/models/{trained.pk}/stats/", {"samples": "3"})
    assert response.status_code == 302 and response["Location"] == f"/generation/models/{trained.pk}/"
    job = Job.objects.get(kind="model_stats")
    assert job.params == {"model": trained.pk, "samples": 3} and job.created_by == trained.created_by
    assert job.result["summary"]["samples"] == 3
    # While a summary runs, the page shows its bar (polled) and a second request returns it, not a new job.
    Job.objects.filter(pk=job.pk).update(status="running", progress=0.4, message="1 of 3 pieces composed")
    page = client.get(f"/generation/models/{trained.pk}/").content.decode()
    assert f'data-job="{job.pk}"' in page and "1 of 3 pieces composed" in page and "/api/jobs/" in page
    assert '<button type="submit" disabled>Summarise 50 samples</button>' in page
    client.post(f"/generation/models/{trained.pk}/stats/", {"samples": "3"})
    assert Job.objects.filter(kind="model_stats").count() == 1
    response = client.post(f"/generation/models/{trained.pk}/stats/", {"samples": "many"}, follow=True)
    assert "samples must be a whole number" in response.content.decode()


def test_only_the_owner_and_staff_may_start_the_summary(trained, client, api_client):
    from ledgerline.jobs.models import Job
    from tests import factories

    colleague = factories.user_with_role("creator", trained.organisation)  # same organisation, not the owner
    outsider = factories.user_with_role("creator")  # another organisation: the model is not visible
    for user, page_status, api_status in ((colleague, 403, 403), (outsider, 404, 404)):
        client.force_login(user)
        assert client.post(f"/generation/models/{trained.pk}/stats/", {"samples": "2"}).status_code == page_status
        api_client.force_authenticate(user)
        response = api_client.post(f"/api/models/{trained.pk}/stats/", {"samples": 2}, format="json")
        assert response.status_code == api_status
    client.force_login(colleague)
    assert "Summarise 50 samples" not in client.get(f"/generation/models/{trained.pk}/").content.decode()
    assert client.get(f"/generation/models/{trained.pk}/").status_code == 200  # it may look
    client.force_login(outsider)
    assert client.get(f"/generation/models/{trained.pk}/").status_code == 404
    api_client.force_authenticate(None)
    assert api_client.post(f"/api/models/{trained.pk}/stats/", {"samples": 2}, format="json").status_code in (401, 403)
    assert not Job.objects.filter(kind="model_stats").exists()

    staff = factories.UserFactory(is_staff=True)
    api_client.force_authenticate(staff)
    assert api_client.post(f"/api/models/{trained.pk}/stats/", {"samples": 2}, format="json").status_code == 202


@pytest.mark.parametrize(
    "change, samples, message",
    [
        ({}, 0, "must be between 1 and 1000"),
        ({"status": "training"}, 2, "has no trained weights to sample"),
    ],
)
def test_the_summary_refuses_bad_requests_and_starts_nothing(trained, api_client, change, samples, message):
    from generation.models import TrainedModel
    from ledgerline.jobs.models import Job

    TrainedModel.objects.filter(pk=trained.pk).update(**change)
    api_client.force_authenticate(trained.created_by)
    response = api_client.post(f"/api/models/{trained.pk}/stats/", {"samples": samples}, format="json")
    assert response.status_code == 400 and message in json.dumps(response.json())
    assert not Job.objects.filter(kind="model_stats").exists()


def test_the_reference_widens_to_pieces_added_after_training_and_the_track_page_uses_it(
    trained, tmp_path, capsys, client, api_client
):
    """The demo's Markov model holds out one of its first 8 chorales; once the others are in, its tracks are
    compared with the chorales it never saw (`model_reference_refresh`, run by the demo's lstm stage)."""
    from django.test import TestCase

    from generation.services import model_reference_refresh
    from ledgerline.catalogue.ingest import dataset_ingest_start
    from ledgerline.catalogue.models import Track
    from ledgerline.catalogue.services import dataset_upload_add
    from tests.fingerprint.chorales import NAMES, chorale

    call_command("generate", "--model", "tiny", "--bars", "4", "--seed", "3", "--out", str(tmp_path / "out"))
    track = Track.objects.get(model=trained)
    assert track.provenance["corpus_comparison"]["reference_pieces"] == 1
    dataset = trained.datasets.get()
    label = dataset.uploads.first().uploaded_by
    for name in NAMES[4:6]:
        path = tmp_path / (name.replace("/", "-") + ".mid")
        path.write_bytes(chorale(name).to_midi_bytes())
        dataset_upload_add(dataset=dataset, user=label, path=path)
    with TestCase.captureOnCommitCallbacks(execute=True):
        dataset_ingest_start(dataset=dataset, user=label)

    reference = model_reference_refresh(model=trained)
    assert reference["pieces"] == 3 and reference["unseen"] == {"held_out": 1, "added_after_training": 2}
    trained.refresh_from_db()
    assert trained.provenance["corpus_reference"]["pieces"] == 3 and "licence_terms" in trained.provenance
    assert model_reference_refresh(model=trained, limit=2)["pieces"] == 3  # never narrowed again

    client.force_login(track.created_by)
    page = client.get(f"/tracks/{track.pk}/").content.decode()
    assert "against the 3 pieces of the model's datasets it never trained on" in page
    assert track.provenance["corpus_comparison"]["reference_pieces"] == 1  # provenance keeps what was measured
    api_client.force_authenticate(track.created_by)
    assert api_client.get(f"/api/tracks/{track.pk}/").json()["corpus_comparison"]["reference_pieces"] == 3
