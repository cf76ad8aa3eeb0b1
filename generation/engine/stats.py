"""How a melody compares with a corpus: range, intervals, density, key, rests and repetition (no Django).

`melody_stats` measures one melody (NOTE_DTYPE notes of one part), `corpus_reference` keeps the 5th/50th/95th
percentiles of those measures over a corpus's melodies and its pooled interval histogram, and `compare` says for
each measure whether a melody lies inside the corpus's 5-95 % range. `summarise` does the same over many samples.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import numpy as np

from ledgerline.music.events import Score

from . import tokens as tok
from .markov import Key, estimate_key, parse_key, score_key

#: The JSON documents this module makes (stored in a model's metrics and shown on its page): one melody's
#: measures (`melody_stats`), a corpus reference (`corpus_reference`), a comparison (`compare`) and a summary of
#: many samples (`summarise`). Their keys are listed in each function's docstring.
StatsDoc = dict[str, Any]

HARMONIC_MINOR_EXTRA = (9, 11)  # raised 6th and 7th of the minor mode count as in key
MAX_INTERVAL = 12  # intervals beyond an octave fall into the edge bins of the histogram
GRID = 12  # onsets and durations are compared on a twelfth-of-a-beat grid (covers triplets and sixteenths)

#: The per-melody measures kept as percentiles; with the side on which a value counts as outside the corpus
#: ("both": below p5 or above p95; "low": only below p5 (more in key is never worse); "high": only above p95).
STATISTICS: dict[str, str] = {
    "pitch_range": "both",
    "note_density": "both",
    "in_key_ratio": "low",
    "longest_rest_bars": "high",
    "rhythm_repetition": "both",
    "contour_repetition": "both",
    "interval_distance": "high",
}
LABELS = {
    "pitch_range": "Pitch range (semitones)",
    "note_density": "Notes per bar",
    "in_key_ratio": "In-key ratio",
    "longest_rest_bars": "Longest rest (bars)",
    "rhythm_repetition": "Bars repeating an earlier bar's rhythm",
    "contour_repetition": "Bars repeating an earlier bar's contour",
    "interval_distance": "Interval histogram distance (TV)",
}


def scale_pitch_classes(key: Key) -> set[int]:
    """Key-relative pitch classes counted as in key: the major scale, or natural minor plus the raised 6th/7th."""
    return set(key.scale) | (set(HARMONIC_MINOR_EXTRA) if key.mode == "minor" else set())


def in_key_mask(pitches: np.ndarray, key: Key) -> tuple[np.ndarray, np.ndarray]:
    """(key-relative pitch classes [n], bool mask [n] of the notes in `key`)."""
    relative = (np.asarray(pitches, dtype=np.int64) - key.tonic) % 12
    return relative, np.isin(relative, sorted(scale_pitch_classes(key)))


def interval_counts(pitches: np.ndarray) -> np.ndarray:
    """Counts [2 * MAX_INTERVAL + 1] of successive melodic intervals, -12..+12 semitones (wider ones clipped)."""
    steps = np.clip(np.diff(np.asarray(pitches, dtype=np.int64)), -MAX_INTERVAL, MAX_INTERVAL)
    return np.bincount(steps + MAX_INTERVAL, minlength=2 * MAX_INTERVAL + 1).astype(np.float64)


def tv_distance(a: Sequence[float], b: Sequence[float]) -> float:
    """Total variation distance (0..1) between two histograms (each normalised; an empty one is uniform)."""
    p, q = (np.asarray(h, dtype=np.float64) for h in (a, b))
    p = p / p.sum() if p.sum() > 0 else np.full_like(p, 1 / len(p))
    q = q / q.sum() if q.sum() > 0 else np.full_like(q, 1 / len(q))
    return float(0.5 * np.abs(p - q).sum())


def _share_repeating(signatures: Sequence[Hashable | None]) -> float:
    """Share of the bars with a signature whose signature appeared in an earlier bar."""
    seen: set[Hashable] = set()
    counted = repeated = 0
    for signature in signatures:
        if signature is None:
            continue
        counted += 1
        repeated += signature in seen
        seen.add(signature)
    return repeated / counted if counted else 0.0


def melody_stats(notes: np.ndarray, *, key: Key | str | None, bar_beats: float) -> StatsDoc:
    """The measures of one melody (NOTE_DTYPE; beats from 0). `key` None: estimated from the notes.

    pitch_range: highest minus lowest pitch; note_density: notes per bar over the bars the melody spans;
    in_key_ratio: share of notes in the key's scale; longest_rest_bars: the longest silence before or between
    notes, in bars; rhythm_repetition / contour_repetition: share of bars with notes whose (onset in bar,
    duration) pattern / up-down-same pattern (bars of two notes or more) repeats an earlier bar's;
    interval_histogram: the counts of `interval_counts`.
    """
    if bar_beats <= 0:
        raise ValueError(f"bar_beats must be > 0, got {bar_beats}")
    notes = np.sort(np.asarray(notes), order=["start", "pitch"])
    pitches = notes["pitch"].astype(np.int64)
    if isinstance(key, str):
        key = parse_key(key)
    if key is None:
        key = estimate_key(pitches, notes["duration"])
    result: StatsDoc = {
        "notes": int(len(notes)),
        "key": key.name,
        "bars": 0,
        "pitch_low": None,
        "pitch_high": None,
        "pitch_range": 0,
        "note_density": 0.0,
        "in_key_ratio": 0.0,
        "longest_rest_bars": 0.0,
        "rhythm_repetition": 0.0,
        "contour_repetition": 0.0,
        "interval_histogram": [0] * (2 * MAX_INTERVAL + 1),
    }
    if len(notes) == 0:
        return result
    starts, ends = notes["start"], notes["start"] + notes["duration"]
    bars = max(int(np.ceil(float(ends.max()) / bar_beats - 1e-9)), 1)
    covered = np.maximum.accumulate(np.concatenate([[0.0], ends[:-1]]))  # where sound has reached so far
    rests = np.maximum(starts - covered, 0.0)
    rhythms: list[tuple[tuple[int, int], ...] | None] = [None] * bars  # per bar: (onset, duration) on the grid
    contours: list[tuple[int, ...] | None] = [None] * bars  # per bar: signs of the successive intervals
    bar_of = np.minimum((starts // bar_beats).astype(np.int64), bars - 1)
    for bar in range(bars):
        inside = notes[bar_of == bar]
        if len(inside):
            offsets = np.round((inside["start"] - bar * bar_beats) * GRID).astype(np.int64)
            lengths = np.round(inside["duration"] * GRID).astype(np.int64)
            rhythms[bar] = tuple(zip(offsets.tolist(), lengths.tolist(), strict=True))
            if len(inside) >= 2:
                contours[bar] = tuple(np.sign(np.diff(inside["pitch"].astype(np.int64))).tolist())
    result.update(
        bars=bars,
        pitch_low=int(pitches.min()),
        pitch_high=int(pitches.max()),
        pitch_range=int(pitches.max() - pitches.min()),
        note_density=round(len(notes) / bars, 4),
        in_key_ratio=round(float(in_key_mask(pitches, key)[1].mean()), 4),
        longest_rest_bars=round(float(rests.max()) / bar_beats, 4),
        rhythm_repetition=round(_share_repeating(rhythms), 4),
        contour_repetition=round(_share_repeating(contours), 4),
        interval_histogram=[int(c) for c in interval_counts(pitches)],
    )
    return result


def corpus_melody_stats(score: Score) -> StatsDoc:
    """The measures of a corpus piece's melody as the models see it: its top voice through the tokeniser, in
    the piece's written (else estimated) key."""
    melody = tok.decode(tok.encode_melody(score), time_signature=score.time_signature)
    return melody_stats(melody.notes[melody.notes["track"] == 0], key=score_key(score), bar_beats=score.bar_beats)


def corpus_reference(melodies: Sequence[StatsDoc]) -> StatsDoc:
    """The reference of a corpus from the `melody_stats` of its melodies: the pooled interval histogram
    (normalised) and the 5th/50th/95th percentile of each measure (interval_distance: each melody's distance
    to the pooled histogram). An empty corpus gives an empty reference (`pieces` 0)."""
    melodies = [m for m in melodies if m.get("notes")]
    if not melodies:
        return {"pieces": 0, "interval_histogram": [], "percentiles": {}}
    pooled = np.sum([m["interval_histogram"] for m in melodies], axis=0).astype(np.float64)
    pooled = pooled / pooled.sum() if pooled.sum() > 0 else pooled
    values = {name: [float(m[name]) for m in melodies] for name in STATISTICS if name != "interval_distance"}
    values["interval_distance"] = [tv_distance(m["interval_histogram"], pooled) for m in melodies]
    return {
        "pieces": len(melodies),
        "interval_histogram": [round(float(p), 5) for p in pooled],
        "percentiles": {
            name: {f"p{q}": round(float(np.percentile(v, q)), 4) for q in (5, 50, 95)} for name, v in values.items()
        },
    }


def _inside(value: float, band: dict[str, float], side: str) -> bool:
    low_ok = side == "high" or value >= band["p5"] - 1e-9
    high_ok = side == "low" or value <= band["p95"] + 1e-9
    return bool(low_ok and high_ok)


def compare(stats: StatsDoc, reference: StatsDoc) -> StatsDoc:
    """For each measure of `stats`: its value, the corpus's p5/p50/p95 and whether it is inside the corpus's
    5-95 % range (one-sided for in-key ratio and longest rest, see STATISTICS); plus the interval histogram's
    total variation distance to the corpus's. `inside`/`total` count the measures inside."""
    if not reference.get("pieces"):
        return {"reference_pieces": 0, "statistics": {}, "inside": 0, "total": 0, "interval_distance": None}
    values = {name: stats[name] for name in STATISTICS if name != "interval_distance"}
    values["interval_distance"] = round(tv_distance(stats["interval_histogram"], reference["interval_histogram"]), 4)
    rows = {}
    for name, value in values.items():
        band = reference["percentiles"][name]
        rows[name] = {
            "label": LABELS[name],
            "value": value,
            **band,
            "inside": _inside(float(value), band, STATISTICS[name]),
        }
    return {
        "reference_pieces": reference["pieces"],
        "statistics": rows,
        "inside": sum(r["inside"] for r in rows.values()),
        "total": len(rows),
        "interval_distance": values["interval_distance"],
    }


def summarise(samples: Sequence[StatsDoc], reference: StatsDoc) -> StatsDoc:
    """Over many melodies' `melody_stats`: per measure the mean, the median and the share of samples inside the
    corpus's range; plus the distance of the samples' pooled interval histogram to the corpus's."""
    comparisons = [compare(s, reference) for s in samples]
    result: StatsDoc = {"samples": len(samples), "reference_pieces": reference.get("pieces", 0), "statistics": {}}
    if not samples or not reference.get("pieces"):
        return result
    for name in STATISTICS:
        values = [float(c["statistics"][name]["value"]) for c in comparisons]
        result["statistics"][name] = {
            "label": LABELS[name],
            "mean": round(float(np.mean(values)), 4),
            "median": round(float(np.median(values)), 4),
            "inside_share": round(float(np.mean([c["statistics"][name]["inside"] for c in comparisons])), 4),
            **reference["percentiles"][name],
        }
    pooled = np.sum([s["interval_histogram"] for s in samples], axis=0)
    result["pooled_interval_distance"] = round(tv_distance(pooled, reference["interval_histogram"]), 4)
    result["all_inside_share"] = round(float(np.mean([c["inside"] == c["total"] for c in comparisons])), 4)
    return result
