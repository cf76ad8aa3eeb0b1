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
