"""Variant alignment: a substitution- and gap-tolerant local alignment of two reduced melody lines.

Independent settings of one tune (folk-song variants, a hymn tune in two harmonisations) agree on most of the
notes on the beat but not note for note: a passing note lands on a beat in one and not the other, a note is
sung an octave lower, a phrase gains or loses a held note or a repeat. Alignment-based folk-tune similarity
(van Kranenburg et al., "Musical models for folk-song melody alignment", 2009/2013; Janssen et al., "Finding
occurrences of melodic segments in folk songs", 2017) scores such pairs by local alignment with a substitution
score that gives partial credit to near pitches, gap penalties, and a transposition chosen before aligning.

Here the sequences are the beat-level reduced lines of `melody.reduced_line` (the pitch on each beat, held
pitches merged), so ornaments between beats have already vanished. `variant_similarity`:

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

import numba
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


@numba.njit(cache=True)
def _substitution(a: int, b: int, equal: float, octave: float, near: float, mismatch: float) -> float:
    d = abs(a - b)
    if d == 0:
        return equal
    if d > 1000:
        return mismatch
    if d <= 2:
        return near
    if d % 12 == 0:
        return octave
    return mismatch


@numba.njit(cache=True)
def _local(
    query: np.ndarray,
    match: np.ndarray,
    equal: float,
    octave: float,
    near: float,
    mismatch: float,
    gap_open: float,
    gap_extend: float,
) -> tuple[float, int, int, int, int, int]:
    """Best local alignment with affine gaps (Gotoh): (score, equal pitches, q0, q1, m0, m1), spans [start, end).

    Three score matrices, row by row: ending in an aligned pair (M), in a gap in the match (X: the query goes on)
    or in the query (Y). Each cell carries its path's start and equal-pitch count, so no traceback is needed.
    """
    n, m = len(query), len(match)
    neg = -1e18
    # two rows of each matrix (previous, current), swapped after each row; starts: [row, 3] (start i, start j, equal)
    M, pM = np.zeros(m + 1), np.zeros(m + 1)
    X, pX = np.full(m + 1, neg), np.full(m + 1, neg)
    Y, pY = np.full(m + 1, neg), np.full(m + 1, neg)
    Ms, pMs = np.zeros((m + 1, 3), np.int64), np.zeros((m + 1, 3), np.int64)
    Xs, pXs = np.zeros((m + 1, 3), np.int64), np.zeros((m + 1, 3), np.int64)
    Ys, pYs = np.zeros((m + 1, 3), np.int64), np.zeros((m + 1, 3), np.int64)
    best, bi, bj = 0.0, 0, 0
    best_start = np.zeros(3, np.int64)
    for i in range(1, n + 1):
        M, pM, X, pX, Y, pY = pM, M, pX, X, pY, Y
        Ms, pMs, Xs, pXs, Ys, pYs = pMs, Ms, pXs, Xs, pYs, Ys
        M[0], X[0], Y[0] = 0.0, neg, neg
        for j in range(1, m + 1):
            # X: query beat i against a gap, from row i - 1
            if pM[j] - gap_open >= pX[j] - gap_extend:
                X[j] = pM[j] - gap_open
                Xs[j, 0], Xs[j, 1], Xs[j, 2] = pMs[j, 0], pMs[j, 1], pMs[j, 2]
            else:
                X[j] = pX[j] - gap_extend
                Xs[j, 0], Xs[j, 1], Xs[j, 2] = pXs[j, 0], pXs[j, 1], pXs[j, 2]
            # Y: match beat j against a gap, from column j - 1 of this row
            if M[j - 1] - gap_open >= Y[j - 1] - gap_extend:
                Y[j] = M[j - 1] - gap_open
                Ys[j, 0], Ys[j, 1], Ys[j, 2] = Ms[j - 1, 0], Ms[j - 1, 1], Ms[j - 1, 2]
            else:
                Y[j] = Y[j - 1] - gap_extend
                Ys[j, 0], Ys[j, 1], Ys[j, 2] = Ys[j - 1, 0], Ys[j - 1, 1], Ys[j - 1, 2]
            sub = _substitution(query[i - 1], match[j - 1], equal, octave, near, mismatch)
            same = 1 if query[i - 1] == match[j - 1] else 0
            prev, origin = 0.0, -1
            if pM[j - 1] > prev:
                prev, origin = pM[j - 1], 0
            if pX[j - 1] > prev:
                prev, origin = pX[j - 1], 1
            if pY[j - 1] > prev:
                prev, origin = pY[j - 1], 2
            M[j] = prev + sub
            if origin == -1:
                Ms[j, 0], Ms[j, 1], Ms[j, 2] = i - 1, j - 1, same
            elif origin == 0:
                Ms[j, 0], Ms[j, 1], Ms[j, 2] = pMs[j - 1, 0], pMs[j - 1, 1], pMs[j - 1, 2] + same
            elif origin == 1:
                Ms[j, 0], Ms[j, 1], Ms[j, 2] = pXs[j - 1, 0], pXs[j - 1, 1], pXs[j - 1, 2] + same
            else:
                Ms[j, 0], Ms[j, 1], Ms[j, 2] = pYs[j - 1, 0], pYs[j - 1, 1], pYs[j - 1, 2] + same
            if M[j] > best:
                best, bi, bj = M[j], i, j
                best_start[0], best_start[1], best_start[2] = Ms[j, 0], Ms[j, 1], Ms[j, 2]
    return best, int(best_start[2]), int(best_start[0]), bi, int(best_start[1]), bj


def _segments(query: np.ndarray, match: np.ndarray, w: Weights, count: int, min_segment: float) -> list[Segment]:
    query, match = query.copy(), match.copy()
    found: list[Segment] = []
    for _ in range(count):
        score, same, q0, q1, m0, m1 = _local(
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
        key=lambda t: _local(query - t, match, w.equal, w.octave, w.near, w.mismatch, w.gap_open, w.gap_extend)[0],
    )
    found = _segments(query - best, match, w, segments, min_segment)
    total = sum(seg.score for seg in found)
    shorter = min(len(query), len(match))
    return VariantAlignment(
        round(min(total / (w.equal * shorter), 1.0), 4), sum(seg.equal for seg in found), int(best), found
    )
