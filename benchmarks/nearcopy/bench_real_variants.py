"""Real variants: independent settings and transcriptions of the same tunes, thresholds fitted and held out.

    .venv/bin/python benchmarks/nearcopy/bench_real_variants.py [--data var/bench-real-variants] [--workers 2]
        [--target-fpr 0.01] [--with-audio] [--json PATH] [--plots DIR]

1. Builds the labelled set once (real_variants_data.py: Bach's settings of one hymn tune, folk tunes in two
   collections; negatives of the same styles) in the `calibrate_screening` layout, split by tune into a fit part
   and a held-out part. Parsed scores and each file's features are cached under --data.
2. Screens the fit part (fingerprint.calibration.screen_set: corpus = the a files, queries = the b files and the
   negatives) and fits the operating point at --target-fpr, for each minimum length of the melody level tried.
3. Screens the held-out part with the fitted thresholds and reports recall and false flags per level and fused,
   by kind (chorale, folk), against the engine's defaults and the note windows alone (the engine before beat lines).
4. Does 2-3 twice: on the original labels (titles) and on the cleaned labels (`real_variants_data.clean_labels`:
   pairs whose melodies share neither incipit nor most of their intervals are left out of fit and held-out alike;
   negatives unchanged). Curves: --plots for the original labels, --plots/cleaned for the cleaned ones.
By default only the symbolic levels are screened (nothing is rendered; see RESULTS-real-variants.md for why);
--with-audio renders every file and screens all levels as the platform does (about 1 s of CPU a file).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
os.environ.setdefault("LIBROSA_CACHE_DIR", tempfile.mkdtemp(prefix="librosa-cache-"))
warnings.filterwarnings("ignore")

import django  # noqa: E402

django.setup()

import real_variants_data  # noqa: E402

from fingerprint import calibration as C  # noqa: E402
from fingerprint.engine import screen as S  # noqa: E402

MELODY_MIN_BEATS = (16, 20, 24, 32)


def _row(point: C.OperatingPoint, total_pos: int, total_neg: int) -> str:
    return (
        f"{point.recall:.2f} ({point.caught}/{total_pos}) | {point.false_flag_rate:.3f} "
        f"({point.false_flags}/{total_neg})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=ROOT / "var" / "bench-real-variants")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--target-fpr", type=float, default=0.01)
    parser.add_argument("--with-audio", action="store_true")
    parser.add_argument("--json", default="")
    parser.add_argument("--plots", type=Path, default=None, help="folder for the held-out curves (PNG and SVG)")
    args = parser.parse_args()
    started = time.perf_counter()
    manifest = real_variants_data.build(args.data)
    kinds = {p["tune"]: p["kind"] for p in manifest["positives"]} | {
        n["name"] + ".mid": n["kind"] for n in manifest["negatives"]
    }
    levels = S.MATCH_LEVELS if args.with_audio else C.SYMBOLIC_LEVELS
    # named by what the features hold: the melody line of the tracks named as the tune's part (v2)
    cache = args.data / ("features-all-v2" if args.with_audio else "features-symbolic-v2")
    screened = {}
    for part in ("fit", "held-out"):
        labelled = C.labelled_set(args.data / part / "positives", args.data / part / "negatives")
        t0 = time.perf_counter()
        screened[part] = C.screen_set(
            labelled, thresholds=S.Thresholds(), workers=args.workers, cache=cache, symbolic_only=not args.with_audio
        )
        seconds = time.perf_counter() - t0
        queries = len(labelled.pairs) + len(labelled.negatives)
        print(
            f"{part}: {len(labelled.pairs)} pairs, {len(labelled.negatives)} negatives screened in {seconds:.0f} s "
            f"({1000 * seconds / queries:.0f} ms a query, features cached or not)",
            file=sys.stderr,
        )
    same_tune = real_variants_data.clean_labels(args.data)
    report = {}
    for labels, keep in (("original", lambda tune: True), ("cleaned", lambda tune: same_tune[tune])):
        parts = {part: _positives_only(found, keep) for part, found in screened.items()}
        print(f"\n## {labels} labels")
        plots = None if args.plots is None else args.plots if labels == "original" else args.plots / labels
        report[labels] = _evaluate(parts, levels, kinds, args, plots=plots)
    print(f"wall time {time.perf_counter() - started:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


def _positives_only(found: C.Screened, keep) -> C.Screened:
    """The screened set with the positive pairs whose tune `keep` accepts (negatives unchanged)."""
    rows = [i for i, tune in enumerate(found.positive_names) if keep(tune)]
    return C.Screened(
        [found.positives[i] for i in rows],
        found.negatives,
        [found.positive_names[i] for i in rows],
        found.negative_names,
    )


def _evaluate(screened: dict[str, C.Screened], levels, kinds, args, *, plots: Path | None) -> dict:
    """Fit on the fit part at the target, for each minimum length of the melody level; report the held-out part."""
    defaults = S.Thresholds()
    base = {level: defaults.score_of(level) for level in levels}
    fits = []
    for min_beats in MELODY_MIN_BEATS:
        thresholds = dataclasses.replace(defaults, melody_min_beats=min_beats)
        chosen, path = C.fit(screened["fit"].scores(thresholds, levels), target_fpr=args.target_fpr, base=base)
        fits.append((chosen.recall, -chosen.false_flags, min_beats, chosen, path, thresholds))
        print(
            f"fit, melody_min_beats {min_beats}: recall {chosen.recall:.3f}, false flags {chosen.false_flags} "
            f"{chosen.thresholds}",
            file=sys.stderr,
        )
    *_, min_beats, chosen, path, fitted_lengths = max(fits, key=lambda f: f[:3])
    fit_scores = screened["fit"].scores(fitted_lengths, levels)
    held = screened["held-out"].scores(fitted_lengths, levels)
    held_default = screened["held-out"].scores(defaults, levels)
    n_pos, n_neg = len(held.positives), len(held.negatives)
    off = dict.fromkeys(levels, C.NO_FLAG)
    rows = {
        "note windows only, threshold 0.8": C.evaluate(held_default, off | {"symbolic": defaults.symbolic_score}),
        "engine defaults (note windows + variant alignment)": C.evaluate(held_default, base),
        f"fitted at {args.target_fpr:g} (melody_min_beats {min_beats})": C.evaluate(held, chosen.thresholds),
    }
    for level in levels:
        rows[f"  {level} alone, fitted threshold"] = C.evaluate(held, off | {level: chosen.thresholds[level]})
    by_kind = {}
    for kind in ("chorale", "folk"):
        pos = np.array([kinds[name] == kind for name in screened["held-out"].positive_names])
        neg = np.array([kinds.get(name) == kind for name in screened["held-out"].negative_names])
        part = C.Scores(levels, held.positives[pos], held.negatives[neg], held.lengths)
        by_kind[kind] = C.evaluate(part, chosen.thresholds)
    print(
        f"held-out: {n_pos} pairs, {n_neg} negatives; fit: {len(fit_scores.positives)} pairs, "
        f"{len(fit_scores.negatives)} negatives; levels {', '.join(levels)}"
    )
    print("| thresholds | recall | false flags |")
    print("|---|---|---|")
    for name, point in rows.items():
        print(f"| {name} | {_row(point, n_pos, n_neg)} |")
    for kind, point in by_kind.items():
        print(
            f"| fitted, {kind}s only | {point.recall:.2f} ({point.caught}) | {point.false_flag_rate:.3f} "
            f"({point.false_flags}) |"
        )
    print("fitted thresholds:", json.dumps({k: round(v, 4) for k, v in chosen.thresholds.items()}))
    fit_point = C.evaluate(fit_scores, chosen.thresholds)
    print(f"on the fit part: recall {fit_point.recall:.3f}, false flags {fit_point.false_flag_rate:.3f}")
    names = screened["held-out"]
    missed = [
        f"{name} ({' '.join(f'{s:.2f}' for s in row)})"
        for name, row, caught in zip(
            names.positive_names, held.positives, C.decide(held.positives, levels, chosen.thresholds), strict=True
        )
        if not caught
    ]
    flagged = [
        f"{name} ({' '.join(f'{s:.2f}' for s in row)})"
        for name, row, hit in zip(
            names.negative_names, held.negatives, C.decide(held.negatives, levels, chosen.thresholds), strict=True
        )
        if hit
    ]
    print(f"held-out misses (scores: {', '.join(levels)}):", ", ".join(missed) or "none")
    print("held-out false flags:", ", ".join(flagged) or "none")
    if plots:
        _, held_path = C.fit(held, target_fpr=args.target_fpr, base=chosen.thresholds)
        C.plot_curves(C.curves(held, held_path), plots, chosen=rows[list(rows)[2]], target_fpr=args.target_fpr)
    return {
        "rows": {k: dataclasses.asdict(v) for k, v in rows.items()},
        "by_kind": {k: dataclasses.asdict(v) for k, v in by_kind.items()},
        "melody_min_beats": min_beats,
        "missed": missed,
        "false_flags": flagged,
    }


if __name__ == "__main__":
    main()
