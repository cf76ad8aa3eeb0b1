"""Ingestion: good files become corpus items; each bad input is rejected with a reason and leaves nothing."""

import io
import json
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from ledgerline.catalogue.ingest import dataset_ingest_start
from ledgerline.catalogue.models import CorpusItem, Dataset, DatasetStatus
from ledgerline.catalogue.services import dataset_upload_add
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.audio import write_wav
from ledgerline.music.events import Score, TrackInfo, make_notes, with_seconds
from ledgerline.storage import blob_path
from tests import factories
from tests.helpers import media_files
from tests.music.pieces import midi_lasting_days, silent_flac

pytestmark = pytest.mark.django_db

ABC = b"X:1\nT:Little Scale\nC:Trad.\nM:4/4\nL:1/4\nK:G\nGABc|dedc|BAG2|\n"


def midi_bytes(pitches=(60, 62, 64, 65)) -> bytes:
    rows = [(p, i, 1) for i, p in enumerate(pitches)]
    bass = make_notes([(36, 0, 4)], track=1, program=32)
    score = Score(
        notes=np.concatenate([make_notes(rows, program=0), bass]),
        tracks=[TrackInfo("Piano", 0), TrackInfo("Bass", 32)],
        tempo_bpm=120,
    )
    return with_seconds(score).to_midi_bytes()


def tone_wav(seconds=1.0) -> bytes:
    t = np.arange(int(22050 * seconds)) / 22050
    return write_wav((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


def zip_bytes(members: dict) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return buffer.getvalue()


@pytest.fixture
def label_dataset():
    org = factories.OrganisationFactory(slug="label-org")
    user = factories.user_with_role("label", org)
    return user, factories.DatasetFactory(organisation=org)


def ingest(tmp_path: Path, user, dataset, files: dict[str, bytes]) -> dict:
    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        dataset_upload_add(dataset=dataset, user=user, path=path)
    job = dataset_ingest_start(dataset=dataset, user=user)
    job.refresh_from_db()
    assert job.status == "succeeded", job.error
    return job.result


def reasons(result) -> dict:
    return {r["name"]: r["reason"] for r in result["items_rejected"]}


def test_midi_abc_and_wav_become_items_with_metadata_renders_and_ledger_entries(tmp_path, label_dataset):
    user, dataset = label_dataset
    result = ingest(tmp_path, user, dataset, {"a.mid": midi_bytes(), "b.abc": ABC, "c.wav": tone_wav()})
    assert result["items_ingested"] == 3 and result["items_rejected"] == []
    midi_item = CorpusItem.objects.get(original_name="a.mid")
    assert midi_item.kind == "symbolic" and midi_item.format == "midi"
    assert [i["program"] for i in midi_item.instruments] == [0, 32]
    assert len(midi_item.stems) == 2 and all(blob_path(s["path"]).exists() for s in midi_item.stems)
    assert midi_item.duration_s == pytest.approx(2.0) and midi_item.tempo_bpm == pytest.approx(120)
    abc_item = CorpusItem.objects.get(original_name="b.abc")
    assert abc_item.title == "Little Scale" and abc_item.key.startswith("G") and abc_item.time_signature == "4/4"
    wav_item = CorpusItem.objects.get(original_name="c.wav")
    assert wav_item.kind == "audio" and wav_item.duration_s == pytest.approx(1.0, abs=0.01)
    assert LedgerEntry.objects.filter(event="corpus_item.ingested").count() == 3
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.READY


def test_format_is_detected_by_content_not_name(tmp_path, label_dataset):
    user, dataset = label_dataset
    result = ingest(tmp_path, user, dataset, {"actually_midi.wav": midi_bytes()})
    assert result["items_ingested"] == 1
    assert CorpusItem.objects.get().format == "midi"


def test_the_same_content_twice_is_one_item(tmp_path, label_dataset):
    user, dataset = label_dataset
    ingest(tmp_path, user, dataset, {"a.mid": midi_bytes()})
    again = ingest(tmp_path, user, dataset, {"copy.mid": midi_bytes()})
    assert again["items_ingested"] == 0 and again["items_duplicate"] == 2  # a.mid and copy.mid
    assert CorpusItem.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("truncated.mid", midi_bytes()[:40], "MIDI"),
        ("notxml.musicxml", b"<?xml version='1.0'?><score-partwise><part>", "musicxml"),
        ("html.xml", b"<?xml version='1.0'?><html></html>", "not MusicXML"),
        ("liar.wav", tone_wav()[:3000], "header"),
        ("mystery.bin", b"\x00\x01\x02 not music at all", "unknown format"),
    ],
)
def test_bad_files_are_rejected_with_a_reason_and_write_nothing(tmp_path, label_dataset, name, data, reason):
    user, dataset = label_dataset
    result = ingest(tmp_path, user, dataset, {name: data})
    assert result["items_ingested"] == 0
    assert reason.lower() in reasons(result)[name].lower()
    assert not CorpusItem.objects.exists()
    assert not LedgerEntry.objects.filter(event="corpus_item.ingested").exists()
    dataset.refresh_from_db()
    assert dataset.status == DatasetStatus.FAILED


def test_archive_with_bad_members_keeps_the_good_ones_and_names_each_rejection(tmp_path, label_dataset):
    user, dataset = label_dataset
    archive = zip_bytes(
        {
            "good/one.mid": midi_bytes(),
            "good/two.abc": ABC,
            "../escape.mid": midi_bytes((70, 71)),
            "bad/empty.mid": b"",
            "bad/text.txt": b"hello",
            "nested.zip": zip_bytes({"x.abc": ABC}),
        }
    )
    result = ingest(tmp_path, user, dataset, {"batch.zip": archive})
    assert result["items_ingested"] == 2
    got = reasons(result)
    assert "traversal" in got["batch.zip/../escape.mid"]
    assert "empty" in got["batch.zip/bad/empty.mid"]
    assert "unknown format" in got["batch.zip/bad/text.txt"]
    assert "inside archives" in got["batch.zip/nested.zip"]
    assert sorted(CorpusItem.objects.values_list("original_name", flat=True)) == [
        "batch.zip/good/one.mid",
        "batch.zip/good/two.abc",
    ]


def test_tar_with_symlink_and_absolute_member_is_refused_member_by_member(tmp_path, label_dataset):
    user, dataset = label_dataset
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, payload in {"ok.abc": ABC, "/abs.abc": ABC}.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        link = tarfile.TarInfo("link.mid")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/shadow"
        archive.addfile(link)
    result = ingest(tmp_path, user, dataset, {"batch.tar.gz": buffer.getvalue()})
    assert result["items_ingested"] == 1
    got = reasons(result)
    assert "absolute" in got["batch.tar.gz//abs.abc"] and "link" in got["batch.tar.gz/link.mid"]


def test_zip_bomb_is_refused_without_unpacking(tmp_path, label_dataset, settings):
    settings.LEDGERLINE_ARCHIVE_MAX_RATIO = 100
    user, dataset = label_dataset
    bomb = zip_bytes({"bomb.wav": b"\x00" * (40 * 1024 * 1024)})
    result = ingest(tmp_path, user, dataset, {"bomb.zip": bomb})
    assert "zip bomb" in reasons(result)["bomb.zip"]
    assert not CorpusItem.objects.exists()


def test_ingest_command_prints_a_json_summary(tmp_path, capsys):
    org = factories.OrganisationFactory(slug="cmd-label")
    folder = tmp_path / "music"
    folder.mkdir()
    (folder / "tune.abc").write_bytes(ABC)
    (folder / "empty.mid").write_bytes(b"")
    (folder / "noise.txt").write_bytes(b"not music")
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps({"revenue_share_percent": "5", "training_allowed": False}))
    call_command("ingest_dataset", str(folder), "--org", org.slug, "--name", "Tunes", "--terms", str(terms), "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["items_ingested"] == 1 and summary["status"] == "succeeded"
    assert {r["name"] for r in summary["items_rejected"]} == {"empty.mid", "noise.txt"}
    dataset = Dataset.objects.get(pk=summary["dataset"])
    assert not dataset.training_allowed and str(dataset.revenue_share_percent) == "5.00"


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ({"revenue_share_percent": "150"}, "between 0 and 100"),
        ({"revenue_share_percent": -3}, "between 0 and 100"),
        ("not json", "not valid JSON"),
    ],
)
def test_ingest_command_refuses_bad_terms_with_exit_2_and_creates_nothing(tmp_path, terms, message):
    org = factories.OrganisationFactory(slug="cmd-label")
    (tmp_path / "tune.abc").write_bytes(ABC)
    terms_file = tmp_path / "terms.json"
    terms_file.write_text(terms if isinstance(terms, str) else json.dumps(terms))
    with pytest.raises(CommandError, match=message) as raised:
        call_command(
            "ingest_dataset", str(tmp_path / "tune.abc"), "--org", org.slug, "--name", "X", "--terms", str(terms_file)
        )
    assert raised.value.returncode == 2
    assert not Dataset.objects.exists()


def test_ingest_command_refuses_an_unknown_organisation(tmp_path):
    (tmp_path / "tune.abc").write_bytes(ABC)
    with pytest.raises(CommandError, match="unknown organisation") as raised:
        call_command("ingest_dataset", str(tmp_path / "tune.abc"), "--org", "nobody", "--name", "X")
    assert raised.value.returncode == 2


def test_pieces_longer_than_the_limit_are_rejected_before_decoding_or_rendering(tmp_path, label_dataset, settings):
    settings.LEDGERLINE_MAX_DURATION_S = 60
    user, dataset = label_dataset
    result = ingest(
        tmp_path, user, dataset, {"long.flac": silent_flac(120), "days.mid": midi_lasting_days(), "ok.abc": ABC}
    )
    assert result["items_ingested"] == 1
    got = reasons(result)
    assert got["long.flac"] == "the piece lasts 2 min, longer than the limit of 60.0 s"
    assert "days, longer than the limit of 60.0 s" in got["days.mid"]
    assert list(CorpusItem.objects.values_list("original_name", flat=True)) == ["ok.abc"]


def test_an_upload_of_which_nothing_is_usable_is_dropped_once(
    tmp_path, label_dataset, settings, django_capture_on_commit_callbacks
):
    user, dataset = label_dataset
    with django_capture_on_commit_callbacks(execute=True):
        result = ingest(tmp_path, user, dataset, {"noise.txt": b"not music", "long.mid": midi_lasting_days()})
    assert set(reasons(result)) == {"noise.txt", "long.mid"}
    assert sorted(result["uploads_removed"]) == ["long.mid", "noise.txt"]
    assert not dataset.uploads.exists() and media_files(settings) == []
    again = ingest(tmp_path, user, dataset, {"tune.abc": ABC})
    assert again["items_ingested"] == 1 and again["items_rejected"] == [] and again["uploads_removed"] == []
    assert list(dataset.uploads.values_list("original_name", flat=True)) == ["tune.abc"]


def test_a_zip_of_many_bad_members_lists_the_first_hundred_and_counts_the_rest_by_reason(tmp_path, label_dataset):
    user, dataset = label_dataset
    members = {f"junk/{index}.txt": f"not music {index}".encode() for index in range(150)}
    members["junk/empty.mid"] = b""
    result = ingest(tmp_path, user, dataset, {"junk.zip": zip_bytes(members)})
    assert len(result["items_rejected"]) == 100 and result["items_rejected_total"] == 151
    assert result["rejected_by_reason"] == {
        "unknown format (not MIDI, MusicXML, ABC, Humdrum, WAV, FLAC, OGG, MP3, ZIP or TAR)": 150,
        "the file is empty (0 bytes)": 1,
    }


def test_a_zip_of_more_members_than_the_limit_is_refused_in_one_line(tmp_path, label_dataset):
    user, dataset = label_dataset
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(10_050):
            archive.writestr(f"{index}.txt", b"x")
    result = ingest(tmp_path, user, dataset, {"many.zip": buffer.getvalue()})
    assert result["items_rejected"] == [
        {"name": "many.zip", "reason": "archive refused: archive has 10050 members, more than the limit of 10000"}
    ]
    assert result["items_rejected_total"] == 1 and not CorpusItem.objects.exists()
