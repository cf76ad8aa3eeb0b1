"""Fitting the screening thresholds on a deployment's own labelled variants (`manage.py calibrate_screening`).

Layout of the labelled data (any symbolic format the platform screens: MIDI, MusicXML, ABC, Humdrum):

    POSITIVES/<tune>/a.<ext>   ingested as the corpus
    POSITIVES/<tune>/b.<ext>   screened: another setting or transcription of the same tune (must find its a)
    NEGATIVES/<piece>.<ext>    screened against the same corpus: other tunes of the same style (must stay clear)

Every file is analysed as the platform analyses it (parsed, rendered with FluidSynth, features extracted) and
screened against temporary indexes of the a files, so the fit touches neither the live indexes nor the database.
A query's score at a level is the best score of the matches long enough to count (`Screened.scores`): of its
own a for a positive, of any item for a negative. The operating point (`fit`) flags when any level reaches
its threshold, as the screener does, and is the one with the highest recall whose false-flag rate on the
negatives is at most the target.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from fingerprint.engine import melody as melody_mod
from fingerprint.engine import screen as screen_mod
from fingerprint.engine.features import Features
from fingerprint.engine.index import VersionedIndex
from fingerprint.index_key import IndexKey

SUFFIXES = {".mid", ".midi", ".xml", ".musicxml", ".mxl", ".abc", ".krn"}
FLOORS = {"audio": 0.3, "chroma": 0.5, "symbolic": 0.5, "melody": 0.3}  # a fitted threshold never goes lower
SYMBOLIC_LEVELS = ("symbolic", "melody")  # the levels a symbolic-only calibration fits
NO_FLAG = 2.0  # a threshold above every score: the level flags nothing


class CalibrationError(ValueError):
    """The labelled data cannot be used: the message says why (exit code 2, nothing written)."""


@dataclass
class LabelledSet:
    pairs: list[tuple[str, Path, Path]]  # (tune, a: corpus file, b: screened file)
    negatives: list[Path]

    def sha256(self) -> dict[str, str]:
        """One digest per side over every file's name and bytes, for the ledger."""
        digests = {}
        for side, paths in (
            ("positives", [p for _, a, b in self.pairs for p in (a, b)]),
            ("negatives", self.negatives),
        ):
            digest = hashlib.sha256()
            for path in paths:
                digest.update(f"{path.parent.name}/{path.name}\0".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
            digests[side] = digest.hexdigest()
        return digests


def _music_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in SUFFIXES)


def labelled_set(positives: Path, negatives: Path) -> LabelledSet:
    """Check the layout and list the files. Raises CalibrationError with a one-line reason."""
    for name, folder in (("--positives", positives), ("--negatives", negatives)):
        if not folder.is_dir():
            raise CalibrationError(f"{name} {folder}: no such folder")
    pairs = []
    for tune in sorted(p for p in positives.iterdir() if p.is_dir()):
        files = {p.stem: p for p in _music_files(tune)}
        if "a" not in files or "b" not in files:
            raise CalibrationError(f"{tune}: a positive pair needs a.<ext> (corpus) and b.<ext> (screened)")
        pairs.append((tune.name, files["a"], files["b"]))
    if len(pairs) < 2:
        raise CalibrationError(f"--positives {positives}: fewer than 2 pairs (<tune>/a.<ext> and <tune>/b.<ext>)")
    negative_files = _music_files(negatives)
    if len(negative_files) < 2:
        raise CalibrationError(f"--negatives {negatives}: fewer than 2 music files")
    return LabelledSet(pairs, negative_files)


# --- screening the labelled set ---------------------------------------------------------------------------
def _analyse(job: tuple[Path, str, Path | None]) -> Features | str:
    """Features of one file as the platform computes them (a string: why the file cannot be screened).

    mode: "query" or "corpus" (all levels), or "symbolic" (the melody only, nothing rendered).
    """
    from ledgerline.music.audio import CorruptFile
    from ledgerline.music.detect import UnsupportedFormat, detect_format
    from ledgerline.music.parse import parse_symbolic

    from .indexing import features_of
    from .screening import BadQuery, query_from_bytes

    path, mode, cache = job
    data = path.read_bytes()
    cached = cache / f"{hashlib.sha256(data).hexdigest()}-{mode}.pickle" if cache else None
    if cached is not None and cached.exists():
        return pickle.loads(cached.read_bytes())  # noqa: S301 - written by this function, in the data folder
    try:
        if mode == "symbolic":
            fmt = detect_format(data)
            if not fmt.is_symbolic:
                raise BadQuery(f"{fmt.value} is not a symbolic format")
            score = parse_symbolic(data, fmt, name=path.name)
            features = Features(
                duration_s=score.duration_s,
                melody=melody_mod.melody_line(score.notes, [track.name for track in score.tracks]),
                bar_beats=score.bar_beats,
                beats_from_score=True,
            )
        else:
            parsed = query_from_bytes(data, name=path.name)
            features = (
                parsed.features
                if mode == "query"
                else features_of(audio=_render(parsed.score), score=parsed.score, query=False)
            )
    except (BadQuery, CorruptFile, UnsupportedFormat, OSError) as exc:
        return f"{path}: {exc}"
    if cached is not None:
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(pickle.dumps(features))
        os.replace(partial, cached)
    return features


def _render(score) -> np.ndarray:
    from django.conf import settings

    from ledgerline.music.render import render_midi

    return render_midi(score.to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT)


def _analyse_all(jobs: list[tuple[Path, str, Path | None]], workers: int) -> list[Features]:
    if workers > 1:
        # Forked workers touch no database; they end with os._exit, so the parent's connection stays open (and
        # closing it here would end a caller's transaction).
        with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
            results = list(pool.map(_analyse, jobs, chunksize=4))
    else:
        results = [_analyse(job) for job in jobs]
    problems = [r for r in results if isinstance(r, str)]
    if problems:
        raise CalibrationError(f"{len(problems)} file(s) cannot be screened, first: {problems[0]}")
    return results  # type: ignore[return-value]


@dataclass
class Screened:
    """What screening found for each file: (level, score, length) of every verified match, of its own a for a
    positive and of any item for a negative, so scores can be read under any minimum lengths."""

    positives: list[list[tuple[str, float, int]]]
    negatives: list[list[tuple[str, float, int]]]
    positive_names: list[str]
    negative_names: list[str]

    def scores(self, thresholds: screen_mod.Thresholds, levels: tuple[str, ...] = screen_mod.MATCH_LEVELS) -> Scores:
        """Each file's best score per level over its matches long enough to count under `thresholds`."""

        def table(rows: list[list[tuple[str, float, int]]]) -> np.ndarray:
            out = np.zeros((len(rows), len(levels)))
            for r, matches in enumerate(rows):
                for level, score, length in matches:
                    if level in levels and thresholds.long_enough(level, length):
                        c = levels.index(level)
                        out[r, c] = max(out[r, c], score)
            return out

        return Scores(
            levels,
            table(self.positives),
            table(self.negatives),
            {level: _min_length(thresholds, level) for level in levels},
        )


@dataclass
class Scores:
    """Best score per level of every screened file: positives [pairs, levels], negatives [files, levels]."""

    levels: tuple[str, ...]
    positives: np.ndarray
    negatives: np.ndarray
    lengths: dict  # the minimum lengths the scores were taken under


def screen_set(
    labelled: LabelledSet,
    *,
    thresholds: screen_mod.Thresholds,
    workers: int = 1,
    cache: Path | None = None,
    symbolic_only: bool = False,
) -> Screened:
    """Screen every b and negative against temporary indexes of the a files. symbolic_only: the melody levels
    alone (nothing rendered: the audio and chroma levels find nothing and keep their thresholds)."""
    corpus_mode, query_mode = ("symbolic", "symbolic") if symbolic_only else ("corpus", "query")
    jobs = [(a, corpus_mode, cache) for _, a, _ in labelled.pairs]
    jobs += [(path, query_mode, cache) for path in [b for _, _, b in labelled.pairs] + labelled.negatives]
    analysed = _analyse_all(jobs, workers)
    count = len(labelled.pairs)
    corpus = {IndexKey.of(corpus_item_id=i): features for i, features in enumerate(analysed[:count])}
    found: list[list[tuple[str, float, int]]] = []
    with tempfile.TemporaryDirectory(prefix="ledgerline-calibrate-") as root:
        indexes = {level: VersionedIndex(Path(root), screen_mod.level_spec(level)) for level in screen_mod.LEVELS}
        for level, index in indexes.items():
            index.rebuild(*screen_mod.level_vectors(corpus, level))
        screener = screen_mod.Screener(
            audio=indexes["audio"],
            chroma=indexes["chroma"],
            symbolic=indexes["symbolic"],
            load=corpus.get,
            thresholds=thresholds,
        )
        for position, features in enumerate(analysed[count:]):
            own = IndexKey.of(corpus_item_id=position) if position < count else None
            found.append(
                [
                    (m.level, float(m.score), screen_mod.match_length(m))
                    for m in screener.screen(features).considered
                    if own is None or m.key == own
                ]
            )
    return Screened(
        found[:count], found[count:], [tune for tune, _, _ in labelled.pairs], [p.name for p in labelled.negatives]
    )


def _min_length(thresholds: screen_mod.Thresholds, level: str) -> int:
    return next(n for n in range(10_000) if thresholds.long_enough(level, n))


# --- the operating point -----------------------------------------------------------------------------------
@dataclass
class OperatingPoint:
    thresholds: dict[str, float]  # level -> score threshold (NO_FLAG: the level flags nothing)
    recall: float
    false_flag_rate: float
    caught: int
    false_flags: int


def decide(scores: np.ndarray, levels: tuple[str, ...], thresholds: dict[str, float]) -> np.ndarray:
    """Flag (any level at or over its threshold) per row of [rows, levels] scores. [rows] bool"""
    limits = np.array([thresholds[level] for level in levels])
    return (scores >= limits[None, :]).any(axis=1) if len(scores) else np.zeros(0, bool)


def evaluate(scores: Scores, thresholds: dict[str, float]) -> OperatingPoint:
    caught = decide(scores.positives, scores.levels, thresholds)
    flagged = decide(scores.negatives, scores.levels, thresholds)
    return OperatingPoint(
        dict(thresholds), float(caught.mean()), float(flagged.mean()), int(caught.sum()), int(flagged.sum())
    )


def fused_path(scores: Scores, *, base: dict[str, float]) -> list[OperatingPoint]:
    """The fused curve: operating points from the strictest to every level at its floor.

    1. Start with every level just over its highest negative score (no false flags), or at its base threshold
       where that is higher, and never under its floor.
    2. Repeatedly lower one level's threshold to one of its positives' scores under the current threshold,
       choosing the move that catches the most positives per false flag it adds (free catches first; a move
       may pass several negatives to reach a group of positives), and record each point.
    3. When no move catches another positive, end with every level at its floor.
    """
    levels = scores.levels
    current = {}
    for i, level in enumerate(levels):
        top_negative = float(scores.negatives[:, i].max()) if len(scores.negatives) else 0.0
        current[level] = min(max(base.get(level, NO_FLAG), _just_over(top_negative), FLOORS[level]), NO_FLAG)
    path = [evaluate(scores, current)]
    while True:
        here, best = path[-1], None
        for i, level in enumerate(levels):
            targets = np.unique(scores.positives[:, i])
            for target in targets[(targets >= FLOORS[level]) & (targets < current[level])]:
                trial = evaluate(scores, {**current, level: float(target)})
                gained, cost = trial.caught - here.caught, trial.false_flags - here.false_flags
                rank = (gained / (cost + 0.5), -cost, float(target))
                if gained > 0 and (best is None or rank > best[0]):
                    best = (rank, level, float(target), trial)
        if best is None:
            break
        current[best[1]] = best[2]
        path.append(best[3])
    floors = {level: FLOORS[level] for level in levels}
    if floors != current:
        path.append(evaluate(scores, floors))
    return path


def _just_over(score: float) -> float:
    return float(np.nextafter(np.float32(score), np.float32(np.inf))) + 1e-4


def _with_margin(scores: Scores, point: OperatingPoint, start: OperatingPoint) -> OperatingPoint:
    """Each threshold the fit lowered moved on down to halfway to the highest negative score under it (or to the
    floor): the same decisions on the fitted data, and room for a variant that scores a little lower. A level
    the data gave no reason to lower keeps its threshold."""
    moved = {}
    for i, level in enumerate(scores.levels):
        limit = point.thresholds[level]
        if limit >= start.thresholds[level]:
            moved[level] = limit
            continue
        below = scores.negatives[:, i][scores.negatives[:, i] < limit]
        floor = max(float(below.max()) if len(below) else FLOORS[level], FLOORS[level])
        moved[level] = round((limit + floor) / 2, 4) if floor < limit else limit
    return evaluate(scores, moved)


def fit(scores: Scores, *, target_fpr: float, base: dict[str, float]) -> tuple[OperatingPoint, list[OperatingPoint]]:
    """The operating point with the highest recall at a false-flag rate of at most `target_fpr` (ties: fewer
    false flags), with its margin (`_with_margin`), and the fused curve it was chosen from."""
    path = fused_path(scores, base=base)
    allowed = [p for p in path if p.false_flag_rate <= target_fpr + 1e-12] or path[:1]
    chosen = max(allowed, key=lambda p: (p.recall, -p.false_flags))
    return _with_margin(scores, chosen, path[0]), path


# --- curves ------------------------------------------------------------------------------------------------
def level_curve(positive: np.ndarray, negative: np.ndarray) -> dict[str, list[float]]:
    """ROC (false-flag rate, recall) and precision-recall of one score, thresholds from high to low."""
    values = np.unique(np.concatenate([positive, negative, [NO_FLAG]]))[::-1]
    tp = np.array([(positive >= v).sum() for v in values], np.float64)
    fp = np.array([(negative >= v).sum() for v in values], np.float64)
    return _curve(tp, fp, len(positive), len(negative), values)


def _curve(tp, fp, positives: int, negatives: int, thresholds) -> dict[str, list[float]]:
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 1.0)
    return {
        "fpr": (fp / max(negatives, 1)).tolist(),
        "recall": (tp / max(positives, 1)).tolist(),
        "precision": precision.tolist(),
        "threshold": np.asarray(thresholds, np.float64).tolist(),
    }


def curves(scores: Scores, path: list[OperatingPoint]) -> dict[str, dict[str, list[float]]]:
    out = {level: level_curve(scores.positives[:, i], scores.negatives[:, i]) for i, level in enumerate(scores.levels)}
    tp = np.array([p.caught for p in path], np.float64)
    fp = np.array([p.false_flags for p in path], np.float64)
    out["fused"] = _curve(tp, fp, len(scores.positives), len(scores.negatives), np.arange(len(path)))
    return out


def plot_curves(
    all_curves: dict[str, dict[str, list[float]]], folder: Path, *, chosen: OperatingPoint, target_fpr: float
) -> list[Path]:
    """roc.png/.svg and precision-recall.png/.svg in `folder`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (x, y, xlabel, ylabel) in {
        "roc": ("fpr", "recall", "false-flag rate", "recall"),
        "precision-recall": ("recall", "precision", "recall", "precision"),
    }.items():
        fig, ax = plt.subplots(figsize=(6, 5))
        for level, curve in all_curves.items():
            style = {"linewidth": 2.5, "color": "black"} if level == "fused" else {"linewidth": 1.2}
            ax.step(curve[x], curve[y], where="post", label=level, **style)
        if name == "roc":
            ax.axvline(target_fpr, color="grey", linestyle=":", label=f"target {target_fpr:g}")
            ax.plot([chosen.false_flag_rate], [chosen.recall], "o", color="red", label="operating point")
            ax.set_xscale("symlog", linthresh=0.01)
        else:
            ax.plot(
                [chosen.recall],
                [chosen.caught / max(chosen.caught + chosen.false_flags, 1)],
                "o",
                color="red",
                label="operating point",
            )
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="lower right")
        for fmt in ("png", "svg"):
            path = folder / f"{name}.{fmt}"
            fig.savefig(path, format=fmt, dpi=110, bbox_inches="tight")
            written.append(path)
        plt.close(fig)
    return written


def thresholds_update(chosen: OperatingPoint) -> dict[str, float]:
    """The deployment's threshold values: each level's fitted score threshold (NO_FLAG kept as it is)."""
    return {f"{level}_score": round(value, 4) for level, value in chosen.thresholds.items()}


def thresholds_write(path: Path, *, values: dict, calibration: dict) -> str:
    """Write the thresholds file atomically; its SHA-256."""
    text = json.dumps({"thresholds": values, "calibration": calibration}, indent=1, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.tmp")
    partial.write_text(text)
    os.replace(partial, path)
    return hashlib.sha256(text.encode()).hexdigest()
