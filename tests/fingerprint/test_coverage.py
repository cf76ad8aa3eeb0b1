"""No silent "clear": ingest then screen never clears an ingested file, on every task runner.

The bug this guards against: on the embedded defaults `ingest_dataset` exited while the fingerprint job it had
caused was still running in a thread, so nothing was indexed and `screen` of an ingested file answered "clear".
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from fingerprint.models import Fingerprint, Screening
from fingerprint.services import index_rebuild
from ledgerline.catalogue.models import CorpusItem
from ledgerline.jobs.models import Job
from tests import factories
from tests.conftest import REPO
from tests.fingerprint.chorales import NAMES, chorale

PIECES = NAMES[:3]


def write_pieces(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in PIECES:
        (folder / (name.replace("/", "-") + ".mid")).write_bytes(chorale(name).to_midi_bytes())
    return folder


def screen_out(path: Path, capsys, *extra: str) -> tuple[int, dict]:
    """Run `screen --json` in this process; returns (exit code, JSON)."""
    capsys.readouterr()
    code = 0
    try:
        call_command("screen", str(path), "--json", *extra)
    except SystemExit as exc:
        code = int(exc.code)
    return code, json.loads(capsys.readouterr().out)


def _env(settings, runner: str) -> dict[str, str]:
    env = dict(os.environ)
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.postgresql":
        env["DATABASE_URL"] = (
            f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
            f"{db.get('PORT') or 5432}/{db['NAME']}"
        )
    else:
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    env.update(
        LEDGERLINE_DATA_DIR=str(settings.LEDGERLINE_DATA_DIR), LEDGERLINE_TASK_RUNNER=runner, PYTHONUNBUFFERED="1"
    )
    return env


def manage(settings, runner: str, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", *args],
        cwd=REPO,
        env=_env(settings, runner),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


# --- eager (the tests' runner) ------------------------------------------------------------------------------
def test_ingest_command_then_screen_flags_the_ingested_file_eager(transactional_db, tmp_path, capsys):
    """Outside a test transaction (as from a shell), the eager runner indexes before the command returns."""
    factories.OrganisationFactory(slug="eager-label")
    folder = write_pieces(tmp_path / "pieces")
    call_command("ingest_dataset", str(folder), "--org", "eager-label", "--name", "t", "--json")
    summary = json.loads(capsys.readouterr().out)
    assert summary["indexing"]["status"] == "succeeded" and summary["indexing"]["fingerprinted"] == len(PIECES)
    code, out = screen_out(next(folder.iterdir()), capsys, "--against", "corpus")
    assert (code, out["verdict"]) == (0, "flag")
    assert out["coverage"] == {**out["coverage"], "complete": True, "missing": 0, "failed": 0}


@pytest.mark.django_db
def test_unindexed_item_makes_the_verdict_incomplete_until_the_sweep(
    tmp_path, capsys, django_capture_on_commit_callbacks
):
    """An item whose fingerprint work died is named; the verdict is never clear; the sweep then indexes it."""
    factories.OrganisationFactory(slug="crash-label")
    folder = write_pieces(tmp_path / "pieces")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_dataset", str(folder), "--org", "crash-label", "--name", "t", "--json")
    capsys.readouterr()
    # The fingerprint work of one item "died": no fingerprint row, nothing in the index for it.
    lost = CorpusItem.objects.order_by("pk").last()
    Fingerprint.objects.filter(corpus_item=lost).delete()
    index_rebuild()  # the live indexes hold exactly what the database says is indexed
    unrelated = tmp_path / "unrelated.mid"
    unrelated.write_bytes(chorale("bach/bwv145.5").to_midi_bytes())
    code, out = screen_out(unrelated, capsys)
    assert code == 3 and out["verdict"] == "incomplete"
    assert out["coverage"]["missing"] == 1 and out["coverage"]["missing_corpus_items"] == [lost.pk]
    assert any("not indexed yet" in line for line in out["problems"])

    capsys.readouterr()
    call_command("rebuild_index", "--missing", "--json")
    assert json.loads(capsys.readouterr().out)["fingerprinted"] == 1
    code, out = screen_out(unrelated, capsys)
    assert (code, out["verdict"], out["coverage"]["complete"]) == (0, "clear", True)
    lost_file = folder / Path(lost.original_name).name
    code, out = screen_out(lost_file, capsys, "--against", "corpus")
    assert out["verdict"] == "flag" and lost.pk in {m["corpus_item"] for m in out["matches"]}


@pytest.mark.django_db
def test_a_track_screened_incomplete_stays_screening_and_is_rescreened_after_indexing(
    tmp_path, django_capture_on_commit_callbacks
):
    from fingerprint.services import track_screen_start
    from fingerprint.sweep import index_sweep
    from ledgerline.rendering import render_track_score

    org = factories.OrganisationFactory(slug="t-label")
    folder = write_pieces(tmp_path / "pieces")
    with django_capture_on_commit_callbacks(execute=True):
        call_command("ingest_dataset", str(folder), "--org", "t-label", "--name", "t", "--json")
    Fingerprint.objects.filter(corpus_item=CorpusItem.objects.first()).update(indexed=False)
    blobs = render_track_score(chorale("bach/bwv145.5"))
    track = factories.TrackFactory(
        organisation=org,
        midi_path=blobs["midi"].relpath,
        events_path=blobs["events"].relpath,
        audio_path=blobs["mix"].relpath,
        preview_path=blobs["preview"].relpath,
        stems=blobs["stems"],
    )
    track_screen_start(track=track)
    track.refresh_from_db()
    assert Screening.objects.get(track=track).verdict == "incomplete"
    assert track.status == "screening" and "indexes" in track.status_reason
    with django_capture_on_commit_callbacks(execute=True):
        jobs = index_sweep()
    assert len(jobs) == 1
    track.refresh_from_db()
    assert track.status == "clear"
    assert list(Screening.objects.filter(track=track).order_by("id").values_list("verdict", flat=True)) == [
        "incomplete",
        "clear",
    ]


@pytest.mark.django_db
def test_screen_refuses_silent_and_too_short_queries(tmp_path, capsys):
    import numpy as np

    from ledgerline.music.audio import write_wav
    from ledgerline.music.events import SAMPLE_RATE

    silent = tmp_path / "silent.wav"
    silent.write_bytes(write_wav(np.zeros(SAMPLE_RATE * 20, np.float32)))
    short = tmp_path / "short.wav"
    short.write_bytes(write_wav(0.3 * np.sin(np.arange(SAMPLE_RATE // 2) * 0.05).astype(np.float32)))
    for path, words in ((silent, "silent"), (short, "too short")):
        with pytest.raises(SystemExit) as exit_info:
            call_command("screen", str(path), "--json")
        assert exit_info.value.code == 2
        assert words in capsys.readouterr().err
    assert not Screening.objects.exists()


# --- the embedded defaults: thread runner, a separate process as a user runs it ------------------------------
@pytest.mark.slow
def test_ingest_command_on_the_thread_runner_waits_for_indexing_and_a_kill_gives_incomplete(
    transactional_db, settings, tmp_path, capsys
):
    """As reported: `ingest_dataset` then `screen` on the embedded defaults. Then a kill mid-fingerprinting."""
    if connection.vendor != "postgresql":
        pytest.skip("a second process needs a shared database (PostgreSQL)")
    factories.OrganisationFactory(slug="thread-label")
    folder = write_pieces(tmp_path / "pieces")
    proc = manage(settings, "thread", "ingest_dataset", str(folder), "--org", "thread-label", "--name", "t", "--json")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"can't register atexit" not in err
    assert json.loads(out)["indexing"]["fingerprinted"] == len(PIECES)
    assert Fingerprint.objects.filter(indexed=True).count() == len(PIECES)
    code, result = screen_out(next(folder.iterdir()), capsys, "--against", "corpus")
    assert (code, result["verdict"]) == (0, "flag")

    # A second dataset; the process is killed while its fingerprint job runs (what the OOM killer does).
    more = tmp_path / "more"
    more.mkdir()
    for name in NAMES[3:6]:
        (more / (name.replace("/", "-") + ".mid")).write_bytes(chorale(name).to_midi_bytes())
    proc = manage(
        settings, "thread", "ingest_dataset", str(more), "--org", "thread-label", "--name", "u", start_new_session=True
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if Job.objects.filter(kind="fingerprint", status__in=["queued", "running"]).exists():
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, "the ingest finished before it could be killed"
    code, result = screen_out(next(more.iterdir()), capsys, "--against", "corpus")
    assert code == 3 and result["verdict"] == "incomplete" and result["coverage"]["missing"] >= 1

    capsys.readouterr()
    call_command("rebuild_index", "--missing")
    code, result = screen_out(next(more.iterdir()), capsys, "--against", "corpus")
    assert (code, result["verdict"]) == (0, "flag")
