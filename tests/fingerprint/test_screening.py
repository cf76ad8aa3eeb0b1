"""Screening through the platform: ingest real chorales, then screen disguised copies and unrelated music."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command

from fingerprint.engine import transforms
from fingerprint.models import Fingerprint, Screening, SimilarityFlag
from fingerprint.services import index_for
from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.models import CorpusItem
from ledgerline.catalogue.services import dataset_upload_add
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.audio import write_wav
from ledgerline.music.events import SAMPLE_RATE
from ledgerline.storage import read_blob
from tests import factories
from tests.fingerprint.chorales import NAMES, UNRELATED, chorale

pytestmark = pytest.mark.django_db
JSON_KEYS = {
    "corpus_item",
    "title",
    "dataset",
    "level",
    "score",
    "query_start",
    "query_end",
    "match_start",
    "match_end",
    "transpose",
    "tempo_ratio",
}


@pytest.fixture
def corpus(tmp_path, django_capture_on_commit_callbacks):
    """Six chorales ingested; the dataset_ingested signal fingerprints and indexes them."""
    org = factories.OrganisationFactory(slug="bach-label")
    user = factories.user_with_role("label", org)
    dataset = factories.DatasetFactory(organisation=org, name="Chorales", licence_name="CC-BY-4.0")
    for name in NAMES:
        path = tmp_path / (name.replace("/", "-") + ".mid")
        path.write_bytes(chorale(name).to_midi_bytes())
        dataset_upload_add(dataset=dataset, user=user, path=path)
    with django_capture_on_commit_callbacks(execute=True):
        job = dataset_ingest_start(dataset=dataset, user=user)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    assert Fingerprint.objects.filter(indexed=True).count() == len(NAMES)
    return dataset


def screen_json(path: Path, capsys, *extra) -> dict:
    capsys.readouterr()
    call_command("screen", str(path), "--json", *extra)
    return json.loads(capsys.readouterr().out)


def disguised_copy(tmp_path) -> Path:
    copy = transforms.reinstrument(
        transforms.change_tempo(transforms.transpose(chorale(NAMES[2]), 5), 0.85), [40, 41, 42, 71]
    )
    path = tmp_path / "copy.mid"
    path.write_bytes(copy.to_midi_bytes())
    return path


def test_screen_flags_a_transposed_slower_reinstrumented_copy_with_evidence(corpus, tmp_path, capsys):
    result = screen_json(disguised_copy(tmp_path), capsys)
    assert result["verdict"] == "flag"
    target = CorpusItem.objects.get(original_name__startswith="bach-bwv67.7")
    best = result["matches"][0]
    assert JSON_KEYS <= set(best)
    assert best["corpus_item"] == target.pk and best["dataset"] == "Chorales"
    symbolic = next(m for m in result["matches"] if m["level"] == "symbolic")
    assert symbolic["transpose"] == 5 and symbolic["tempo_ratio"] == pytest.approx(0.85, abs=0.02)
    assert symbolic["score"] >= 0.9 and symbolic["query_end"] - symbolic["query_start"] > 15
    assert symbolic["match_bars"][0] >= 1


def test_screen_clears_an_unrelated_chorale(corpus, tmp_path, capsys):
    path = tmp_path / "other.mid"
    path.write_bytes(chorale(UNRELATED).to_midi_bytes())
    out = screen_json(path, capsys)
    assert (out["verdict"], out["matches"]) == ("clear", [])
    assert out["coverage"]["complete"] and out["coverage"]["missing"] == out["coverage"]["failed"] == 0


def test_audio_level_finds_an_excerpt_of_a_corpus_recording(corpus, tmp_path, capsys):
    item = CorpusItem.objects.get(original_name__startswith="bach-bwv83.5")
    from ledgerline.music.audio import read_audio_bytes

    audio = read_audio_bytes(read_blob(item.audio_path), suffix=".flac")
    path = tmp_path / "excerpt.wav"
    path.write_bytes(write_wav(transforms.add_noise(audio[5 * SAMPLE_RATE : 17 * SAMPLE_RATE], snr_db=25)))
    result = screen_json(path, capsys)
    audio_match = next(m for m in result["matches"] if m["level"] == "audio")
    assert audio_match["corpus_item"] == item.pk and audio_match["match_start"] == pytest.approx(5.0, abs=0.6)
    assert {m["level"] for m in result["matches"]} >= {"audio", "chroma"}  # audio-only query: no symbolic level


def test_against_published_ignores_the_training_corpus(corpus, tmp_path, capsys):
    assert screen_json(disguised_copy(tmp_path), capsys, "--against", "published")["verdict"] == "clear"


@pytest.mark.parametrize(
    "name, data, message",
    [
        ("empty.mid", b"", "empty"),
        ("broken.mid", b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0MTrk\x00\x00\xff\xff", "MIDI"),
        ("noise.bin", b"\x00\x01\x02 definitely not music" * 20, "format"),
        ("silence.wav", write_wav(np.zeros(SAMPLE_RATE * 5, np.float32)), "silent"),
        ("blip.wav", write_wav(0.3 * np.sin(np.arange(SAMPLE_RATE) / 20).astype(np.float32)), "too short"),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(corpus, tmp_path, capsys, name, data, message):
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(SystemExit) as exit_info:
        call_command("screen", str(path), "--json")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message.lower() in err.lower() and err.count("\n") == 1
    assert not Screening.objects.exists() and not SimilarityFlag.objects.exists()


def test_a_corrupt_index_is_rebuilt_before_screening(corpus, tmp_path, capsys, settings):
    chroma_dir = Path(settings.LEDGERLINE_INDEX_DIR) / "chroma"
    version = (chroma_dir / "CURRENT").read_text()
    (chroma_dir / version / "index.faiss").write_bytes(b"not an index")
    result = screen_json(disguised_copy(tmp_path), capsys)
    assert result["verdict"] == "flag"
    assert index_for("chroma").current_version() != version


def test_rebuild_index_command_makes_a_new_version_of_each_index(corpus, capsys):
    before = {level: index_for(level).current_version() for level in ("audio", "chroma", "symbolic")}
    call_command("rebuild_index", "--json")
    summary = json.loads(capsys.readouterr().out)
    for level, info in summary["indexes"].items():
        assert info["version"] != before[level] and info["vectors"] > 0


def test_screening_api_flags_stores_evidence_plots_and_a_ledger_entry(corpus, tmp_path, api_client):
    org = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", org)
    api_client.force_authenticate(creator)
    upload = SimpleUploadedFile("copy.mid", disguised_copy(tmp_path).read_bytes())
    response = api_client.post("/api/screenings/", {"file": upload}, format="multipart")
    assert response.status_code == 202, response.content
    screening_id = response.json()["id"]
    body = api_client.get(f"/api/screenings/{screening_id}/").json()
    assert body["job"]["status"] == "succeeded" and body["verdict"] == "flag"
    assert SimilarityFlag.objects.filter(screening_id=screening_id, status="open").count() == 1
    for kind in ("chroma", "dtw", "pianoroll"):
        image = api_client.get(f"/api/screenings/{screening_id}/plots/0/{kind}.png")
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    assert api_client.get(f"/api/screenings/{screening_id}/plots/9/dtw.png").status_code == 404
    assert LedgerEntry.objects.filter(event="screening.completed", subject_id=str(screening_id)).exists()


def test_a_buyer_may_not_screen_and_nothing_is_stored(corpus, tmp_path, api_client):
    buyer = factories.user_with_role("buyer")
    api_client.force_authenticate(buyer)
    upload = SimpleUploadedFile("copy.mid", disguised_copy(tmp_path).read_bytes())
    response = api_client.post("/api/screenings/", {"file": upload}, format="multipart")
    assert response.status_code == 403 and "screen" in response.json()["detail"]
    assert not Screening.objects.exists()


def test_only_reviewers_decide_flags_once_with_a_reason(corpus, tmp_path, api_client):
    org = factories.OrganisationFactory(slug="studio")
    creator = factories.user_with_role("creator", org)
    reviewer = factories.user_with_role("reviewer", corpus.organisation)  # of the label whose chorale matched
    api_client.force_authenticate(creator)
    api_client.post(
        "/api/screenings/",
        {"file": SimpleUploadedFile("c.mid", disguised_copy(tmp_path).read_bytes())},
        format="multipart",
    )
    flag = SimilarityFlag.objects.get()
    url = f"/api/flags/{flag.pk}/decide/"
    assert api_client.post(url, {"decision": "clear", "reason": "mine"}).status_code == 403
    api_client.force_authenticate(reviewer)
    assert api_client.get("/api/flags/").json()["count"] == 1
    assert api_client.post(url, {"decision": "clear", "reason": " "}).status_code == 400
    response = api_client.post(url, {"decision": "require_licence", "reason": "quotes bwv67.7 throughout"})
    assert response.status_code == 200 and response.json()["status"] == "licence_required"
    again = api_client.post(url, {"decision": "clear", "reason": "changed my mind"})
    assert again.status_code == 400 and "already decided" in json.dumps(again.json())
    assert LedgerEntry.objects.filter(event="flag.decided").count() == 1
