"""The compiled kernel of `align`: one best local alignment of two reduced melody lines, with affine gaps.

A module of its own so that numba (0.14 s at import, and scipy with it) loads when a screening aligns melodies,
not in every process's start (tests/test_startup.py).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def substitution(a: int, b: int, equal: float, octave: float, near: float, mismatch: float) -> float:
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
def local_alignment(
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
            sub = substitution(query[i - 1], match[j - 1], equal, octave, near, mismatch)
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
