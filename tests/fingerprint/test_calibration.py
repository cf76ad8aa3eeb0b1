"""Fitting the screening thresholds on labelled variants: `manage.py calibrate_screening` and the fit itself."""

import hashlib
import json

import numpy as np
import pytest
from django.core.management import call_command

from fingerprint import calibration
from fingerprint.engine import screen, transforms
from fingerprint.services import thresholds
from ledgerline.ledger.models import LedgerEntry
from tests.fingerprint.chorales import NAMES, UNRELATED, chorale
from tests.fingerprint.variants import ornamented

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(tmp_path):
    """Three tunes, each as a (corpus) and an ornamented setting in another key (b); three other chorales."""
    positives, negatives = tmp_path / "positives", tmp_path / "negatives"
    for shift, name in zip((2, -3, 5), NAMES[:3], strict=True):
        folder = positives / name.replace("/", "-")
        folder.mkdir(parents=True)
        (folder / "a.mid").write_bytes(chorale(name).to_midi_bytes())
        (folder / "b.mid").write_bytes(transforms.transpose(ornamented(chorale(name), every=1), shift).to_midi_bytes())
    negatives.mkdir()
    for name in (*NAMES[3:5], UNRELATED):
        (negatives / f"{name.replace('/', '-')}.mid").write_bytes(chorale(name).to_midi_bytes())
    return positives, negatives


def test_calibration_writes_the_thresholds_the_screener_then_uses_curves_and_a_ledger_entry(
    labelled, tmp_path, settings, capsys
):
    positives, negatives = labelled
    call_command(
        "calibrate_screening",
        "--positives",
        str(positives),
        "--negatives",
        str(negatives),
        "--target-fpr",
        "0.01",
        "--json",
        "--report",
        str(tmp_path / "report"),
        "--symbolic-only",
        "--workers",
        "2",
    )
    out = json.loads(capsys.readouterr().out)
    assert out["recall"] == 1.0 and out["false_flags"] == 0 and out["positives"] == 3 and out["negatives"] == 3
    written = json.loads((settings.LEDGERLINE_DATA_DIR / screen.THRESHOLDS_FILE).read_text())
    assert set(written["thresholds"]) == {"symbolic_score", "melody_score"}
    assert thresholds().melody_score == written["thresholds"]["melody_score"]
    for name in ("roc", "precision-recall"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 1000
        assert (tmp_path / "report" / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    entry = LedgerEntry.objects.get(event="screening.calibrated")
    assert entry.payload["thresholds"] == written["thresholds"]
    assert set(entry.payload["data_sha256"]) == {"positives", "negatives"}
    file_bytes = (settings.LEDGERLINE_DATA_DIR / screen.THRESHOLDS_FILE).read_bytes()
    assert entry.payload["thresholds_sha256"] == hashlib.sha256(file_bytes).hexdigest()
    assert entry.index == out["ledger_index"]


def test_calibration_over_every_level_renders_the_files_as_the_platform_does(labelled, tmp_path, capsys):
    positives, negatives = labelled
    for extra in list(negatives.iterdir())[1:]:
        extra.unlink()
    (negatives / "random.mid").write_bytes(transforms.transpose(chorale(NAMES[5]), 1).to_midi_bytes())
    call_command(
        "calibrate_screening",
        "--positives",
        str(positives),
        "--negatives",
        str(negatives),
        "--json",
        "--report",
        str(tmp_path / "report"),
    )
    out = json.loads(capsys.readouterr().out)
    assert set(out["thresholds"]) == {f"{level}_score" for level in screen.MATCH_LEVELS}
    assert out["recall"] == 1.0


def _drop_a_b_file(positives, negatives) -> dict:
    next(positives.iterdir()).joinpath("b.mid").unlink()
    return {}


def _keep_one_negative(positives, negatives) -> dict:
    for path in sorted(negatives.iterdir())[1:]:
        path.unlink()
    return {}


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda p, n: {"--positives": str(p / "missing")}, "no such folder"),
        (_drop_a_b_file, "needs a.<ext>"),
        (_keep_one_negative, "fewer than 2 music files"),
        (lambda p, n: {"--target-fpr": "1.5"}, "--target-fpr"),
    ],
)
def test_bad_labelled_data_exits_2_with_one_line_and_writes_nothing(
    labelled, tmp_path, settings, capsys, change, message
):
    positives, negatives = labelled
    args = {"--positives": str(positives), "--negatives": str(negatives), "--report": str(tmp_path / "report")}
    args |= change(positives, negatives)
    with pytest.raises(SystemExit) as exit_info:
        call_command("calibrate_screening", *[x for pair in args.items() for x in pair], "--symbolic-only")
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (settings.LEDGERLINE_DATA_DIR / screen.THRESHOLDS_FILE).exists()
    assert not (tmp_path / "report").exists()
    assert not LedgerEntry.objects.filter(event="screening.calibrated").exists()


def test_the_fit_takes_the_highest_recall_within_the_false_flag_budget():
    levels = ("symbolic", "melody")
    positives = np.array([[0.9, 0.0], [0.0, 0.85], [0.0, 0.7], [0.6, 0.6]])
    negatives = np.array([[0.55, 0.65], [0.0, 0.72]] + [[0.0, 0.5]] * 98)
    scores = calibration.Scores(levels, positives, negatives, {})
    chosen, path = calibration.fit(scores, target_fpr=0.01, base={"symbolic": 0.8, "melody": 0.8})
    # melody passes one negative (0.72) to reach 0.7; each threshold then sits halfway to the next negative
    assert chosen.false_flags == 1 and chosen.caught == 4
    assert chosen.thresholds == {"symbolic": pytest.approx(0.575), "melody": pytest.approx(0.675)}
    strict, _ = calibration.fit(scores, target_fpr=0.0, base={"symbolic": 0.8, "melody": 0.8})
    assert strict.false_flags == 0 and strict.caught == 3
    assert path[0].false_flags == 0 and path[-1].recall == 1.0
