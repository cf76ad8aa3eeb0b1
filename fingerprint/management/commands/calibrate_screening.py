"""python manage.py calibrate_screening --positives DIR --negatives DIR [--target-fpr 0.01] [--json]  (exact interface)

POSITIVES holds one folder per tune with a.<ext> (ingested as corpus) and b.<ext> (screened, another setting or
transcription of the same tune); NEGATIVES holds files of other tunes of the same style, screened against the
same corpus (fingerprint/calibration.py). Writes ROC and precision-recall curves per level and fused (PNG and
SVG) into --report, the operating point at the target false-flag rate into the data folder's
screening-thresholds.json (merged over the settings by fingerprint.screening.thresholds), and a
`screening.calibrated` ledger entry with the data's hashes. Exit 2 with one line on bad input, nothing written.
"""

import json
import sys
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from fingerprint import calibration
from fingerprint.engine import screen as screen_mod
from fingerprint.screening import thresholds as deployment_thresholds
from ledgerline.ledger.services import ledger_append


class Command(BaseCommand):
    help = "Fit the screening thresholds on labelled variants and write them as this deployment's thresholds."

    def add_arguments(self, parser):
        parser.add_argument("--positives", required=True, type=Path)
        parser.add_argument("--negatives", required=True, type=Path)
        parser.add_argument("--target-fpr", type=float, default=0.01, help="false-flag rate allowed (0-1)")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.add_argument(
            "--report",
            type=Path,
            default=None,
            help="folder for the curves (default: DATA_DIR/reports/calibration-<time>)",
        )
        parser.add_argument("--workers", type=int, default=1, help="processes analysing files")
        parser.add_argument("--cache", type=Path, default=None, help="folder caching each file's features")
        parser.add_argument(
            "--symbolic-only",
            action="store_true",
            help="fit the melody levels alone (nothing rendered; audio and chroma keep their thresholds)",
        )

    def handle(self, *args, **options):
        target = options["target_fpr"]
        try:
            if not 0 <= target < 1:
                raise calibration.CalibrationError(f"--target-fpr {target}: must be at least 0 and below 1")
            if options["workers"] < 1:
                raise calibration.CalibrationError("--workers must be at least 1")
            labelled = calibration.labelled_set(options["positives"], options["negatives"])
            base = deployment_thresholds()
            levels = calibration.SYMBOLIC_LEVELS if options["symbolic_only"] else screen_mod.MATCH_LEVELS
            scores = calibration.screen_set(
                labelled,
                thresholds=base,
                workers=options["workers"],
                cache=options["cache"],
                symbolic_only=options["symbolic_only"],
            ).scores(base, levels)
        except calibration.CalibrationError as exc:
            sys.stderr.write(f"calibrate_screening: {exc}\n")
            sys.exit(2)
        chosen, path = calibration.fit(
            scores, target_fpr=target, base={level: base.score_of(level) for level in scores.levels}
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%S")
        report = options["report"] or Path(settings.LEDGERLINE_DATA_DIR) / "reports" / f"calibration-{stamp}"
        curves = calibration.curves(scores, path)
        plots = calibration.plot_curves(curves, report, chosen=chosen, target_fpr=target)
        (report / "curves.json").write_text(json.dumps(curves))
        values = calibration.thresholds_update(chosen)
        hashes = labelled.sha256()
        summary = {
            "target_fpr": target,
            "positives": len(labelled.pairs),
            "negatives": len(labelled.negatives),
            "recall": round(chosen.recall, 4),
            "false_flag_rate": round(chosen.false_flag_rate, 4),
            "caught": chosen.caught,
            "false_flags": chosen.false_flags,
            "min_lengths": scores.lengths,
            "data_sha256": hashes,
            "report": str(report),
        }
        thresholds_path = Path(settings.LEDGERLINE_DATA_DIR) / screen_mod.THRESHOLDS_FILE
        with transaction.atomic():  # the entry and the file together: a failed write rolls the entry back
            file_sha = calibration.thresholds_write(thresholds_path, values=values, calibration=summary)
            entry = ledger_append(
                event="screening.calibrated",
                subject_type="screening_thresholds",
                subject_id="deployment",
                payload={"thresholds": values, "thresholds_sha256": file_sha, **summary},
            )
        out = {
            **summary,
            "thresholds": values,
            "thresholds_file": str(thresholds_path),
            "ledger_index": entry.index,
            "plots": [str(p) for p in plots],
            "fused_points": len(path),
        }
        if options["json"]:
            self.stdout.write(json.dumps(out))
            return
        self.stdout.write(f"{len(labelled.pairs)} pairs, {len(labelled.negatives)} negatives, target {target:g}")
        for i, level in enumerate(scores.levels):
            alone = calibration.evaluate(
                scores, {lv: (chosen.thresholds[level] if lv == level else calibration.NO_FLAG) for lv in scores.levels}
            )
            self.stdout.write(
                f"  {level:<9} threshold {chosen.thresholds[level]:.3f}  alone: recall {alone.recall:.2f}, "
                f"false flags {alone.false_flag_rate:.3f}  (best positive score median "
                f"{float(np.median(scores.positives[:, i])):.2f})"
            )
        self.stdout.write(
            f"  fused: recall {chosen.recall:.2f} ({chosen.caught}/{len(labelled.pairs)}), false flags "
            f"{chosen.false_flag_rate:.3f} ({chosen.false_flags}/{len(labelled.negatives)})"
        )
        self.stdout.write(f"  thresholds written to {thresholds_path}; ledger entry {entry.index}; curves in {report}")
