"""Variant alignment: a substitution- and gap-tolerant local alignment of two reduced melody lines.

Independent settings of one tune (folk-song variants, a hymn tune in two harmonisations) agree on most of the
notes on the beat but not note for note: a passing note lands on a beat in one and not the other, a note is
sung an octave lower, a phrase gains or loses a held note or a repeat. Alignment-based folk-tune similarity
(van Kranenburg et al., "Musical models for folk-song melody alignment", 2009/2013; Janssen et al., "Finding
occurrences of melodic segments in folk songs", 2017) scores such pairs by local alignment with a substitution
score that gives partial credit to near pitches, gap penalties, and a transposition chosen before aligning.

Here the sequences are the beat-level reduced lines (`beat_line`, then `merge_held`: the pitch on each beat,
held pitches merged), so ornaments between beats have already vanished. The screening's melody level
(`fingerprint.engine.melody`) and the generators' anti-copy guard (`generation.engine.anticopy`) both use them. `variant_similarity`:

1. tries every transposition within half an octave of the one that lines up the two lines' mean pitches
   (the key drops out; a variant in the relative key is not the same tune);
2. at the best one, adds up to `SEGMENTS` disjoint local alignments (Smith-Waterman), best first: variants
   drift apart at phrase ends (a fermata, an upbeat), which ends one alignment; the next phrases are found in
   what is left, each used once;
3. normalises the summed alignment score by the shorter line's length: 1.0 when the shorter line is found
   whole, equal pitch for equal pitch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EQUAL = 1.0  # the same pitch (after transposition)
OCTAVE = 0.5  # the same pitch class in another octave (a note sung or played an octave away)
NEAR = 0.0  # one or two semitones apart: a passing or neighbour note on the beat in one variant
MISMATCH = -1.0
GAP_OPEN = 0.7  # a beat in one line and not the other (a longer note, a missing upbeat)
GAP_EXTEND = 0.2  # each further beat of that gap: a phrase one variant adds costs little more than one beat
SEGMENTS = 4
MIN_SEGMENT = 6.0  # alignment score of a segment worth adding (six beats)
TRANSPOSE_RANGE = 6  # semitones either side of the mean-pitch transposition
_USED = -10_000  # a beat already aligned: no pitch is near it, and a query's and an item's never meet


def beat_line(
    onsets: np.ndarray, pitches: np.ndarray, end: float, *, step: float = 1.0, phase: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """MIDI pitch sounding at each grid point `phase + k * step` (quarter notes) from the first onset to `end`,
    and the grid points; a note holds through the rest that follows it. `onsets` [notes] sorted, one pitch per
    onset (a skyline). ([points] int64, [points] float64)"""
    onsets = np.asarray(onsets, np.float64)
    if len(onsets) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    first = np.ceil((float(onsets[0]) - phase) / step - 1e-6)
    grid = phase + step * np.arange(first, np.ceil((float(end) - phase) / step - 1e-6))
    index = np.searchsorted(onsets, grid + 1e-6, side="right") - 1
    return np.asarray(pitches)[index].astype(np.int64), grid


def merge_held(line: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A beat line's reduced line: the pitch of every grid point where it changes, and those grid points. A note
    held a beat longer (a fermata, a longer upbeat) or a tune moved to another metre changes how many beats each
    pitch lasts, not the order of the pitches."""
    if len(line) == 0:
        return line, grid
    keep = np.concatenate([[True], np.diff(line) != 0])
    return line[keep], grid[keep]


@dataclass(frozen=True)
class Weights:
    equal: float = EQUAL
    octave: float = OCTAVE
    near: float = NEAR
    mismatch: float = MISMATCH
    gap_open: float = GAP_OPEN
    gap_extend: float = GAP_EXTEND


@dataclass(frozen=True)
class Segment:
    score: float  # alignment score of this stretch
    equal: int  # beats aligned to the same pitch
    query_span: tuple[int, int]  # reduced-line indices [start, end)
    match_span: tuple[int, int]


@dataclass(frozen=True)
class VariantAlignment:
    similarity: float  # summed segment scores / the shorter line's length, 0..1
    equal: int  # beats aligned to the same pitch over all segments
    transpose: int  # query pitch - match pitch
    segments: list[Segment]


def _segments(query: np.ndarray, match: np.ndarray, w: Weights, count: int, min_segment: float) -> list[Segment]:
    from ledgerline.music.align_kernels import local_alignment

    query, match = query.copy(), match.copy()
    found: list[Segment] = []
    for _ in range(count):
        score, same, q0, q1, m0, m1 = local_alignment(
            query, match, w.equal, w.octave, w.near, w.mismatch, w.gap_open, w.gap_extend
        )
        if score < min_segment:
            break
        found.append(Segment(float(score), int(same), (int(q0), int(q1)), (int(m0), int(m1))))
        query[q0:q1] = _USED  # each stretch is used once on either side
        match[m0:m1] = _USED - 5_000
    return found


def variant_similarity(
    query: np.ndarray,
    match: np.ndarray,
    *,
    weights: Weights | None = None,
    transpositions: list[int] | None = None,
    segments: int = SEGMENTS,
    min_segment: float = MIN_SEGMENT,
) -> VariantAlignment:
    """How much of the shorter of two reduced lines [beats] (MIDI pitches) the other holds, 0..1, at the best
    transposition (`transpositions`, or every one within TRANSPOSE_RANGE of the mean-pitch difference)."""
    from ledgerline.music.align_kernels import local_alignment  # numba loads with the work, not at start

    w = weights or Weights()
    query, match = np.asarray(query, np.int64), np.asarray(match, np.int64)
    if len(query) == 0 or len(match) == 0:
        return VariantAlignment(0.0, 0, 0, [])
    if transpositions is None:
        centre = int(round(float(query.mean() - match.mean())))
        transpositions = list(range(centre - TRANSPOSE_RANGE, centre + TRANSPOSE_RANGE))
    # the single best alignment picks the transposition; the segments are then added up at that one
    best = max(
        transpositions,
        key=lambda t: local_alignment(
            query - t, match, w.equal, w.octave, w.near, w.mismatch, w.gap_open, w.gap_extend
        )[0],
    )
    found = _segments(query - best, match, w, segments, min_segment)
    total = sum(seg.score for seg in found)
    shorter = min(len(query), len(match))
    return VariantAlignment(
        round(min(total / (w.equal * shorter), 1.0), 4), sum(seg.equal for seg in found), int(best), found
    )
