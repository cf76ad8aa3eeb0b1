"""Level 3, symbolic melodic similarity: transposition- and tempo-invariant melody windows.

The melody is the skyline (highest non-drum pitch at each onset). A note is described by the interval to the
next note and the log2 ratio of successive inter-onset intervals, so neither key nor tempo changes it.
Windows of `WINDOW_NOTES` notes are indexed in FAISS (L2); candidates are verified by local alignment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_NOTES = 8
DIM = 16  # (WINDOW_NOTES - 1) intervals + (WINDOW_NOTES - 2) ratios = 13, zero-padded for PQ
MAX_INTERVAL = 12
RATIO_WEIGHT = 2.0  # one octave of rhythm ratio weighs as much as 2 semitones of interval / 6


@dataclass
class Melody:
    pitches: np.ndarray  # [notes] MIDI pitch
    onsets: np.ndarray  # [notes] quarter-note beats
    onsets_s: np.ndarray  # [notes] seconds
    iois: np.ndarray  # [notes] beats to the next onset (last: the note's own duration)

    def __len__(self) -> int:
        return len(self.pitches)

    def intervals(self) -> np.ndarray:
        return np.clip(np.diff(self.pitches.astype(np.int64)), -MAX_INTERVAL, MAX_INTERVAL)

    def ratios(self) -> np.ndarray:
        """Quantised to quarter octaves so performance jitter does not break exact n-grams. [notes - 1]"""
        raw = np.log2(np.maximum(self.iois[1:], 1e-3) / np.maximum(self.iois[:-1], 1e-3))
        return np.clip(np.round(raw * 4) / 4, -3, 3)


def melody_line(notes: np.ndarray) -> Melody:
    """Skyline melody of a NOTE_DTYPE array."""
    pitched = notes[~notes["is_drum"]]
    if len(pitched) == 0:
        empty = np.zeros(0)
        return Melody(empty.astype(np.int64), empty, empty, empty)
    onsets = np.round(pitched["start"], 3)
    order = np.lexsort((-pitched["pitch"].astype(np.int64), onsets))
    pitched, onsets = pitched[order], onsets[order]
    first = np.concatenate([[True], np.diff(onsets) > 0])
    top = pitched[first]
    starts = top["start"]
    iois = np.append(np.diff(starts), top["duration"][-1])
    return Melody(top["pitch"].astype(np.int64), starts.astype(np.float64), top["start_s"].astype(np.float64),
                  np.maximum(iois, 1e-3))


def windows(melody: Melody) -> tuple[np.ndarray, np.ndarray]:
    """Window vectors [n, DIM] float32 and their first note index [n]."""
    count = len(melody) - WINDOW_NOTES + 1
    if count <= 0:
        return np.zeros((0, DIM), np.float32), np.zeros(0, np.int64)
    intervals = melody.intervals() / 6.0
    ratios = melody.ratios() * RATIO_WEIGHT / 6.0 * 3
    vectors = np.zeros((count, DIM), np.float32)
    for start in range(count):
        vectors[start, : WINDOW_NOTES - 1] = intervals[start:start + WINDOW_NOTES - 1]
        vectors[start, WINDOW_NOTES - 1: 2 * WINDOW_NOTES - 3] = ratios[start:start + WINDOW_NOTES - 2]
    return vectors, np.arange(count)


@dataclass(frozen=True)
class LocalAlignment:
    score: float  # share of aligned steps that match exactly, 0..1
    matched: int  # notes matched
    query_span: tuple[int, int]  # note indices [start, end)
    match_span: tuple[int, int]
    path: np.ndarray  # [steps, 2] (query note, match note)


def local_alignment(query: Melody, match: Melody, *, gap: float = 1.0, mismatch: float = 1.0) -> LocalAlignment:
    """Smith-Waterman over (interval, ratio) symbols: +1 for an equal symbol, -mismatch, -gap.

    O(len(query) * len(match)), row by row in numpy; callers pass the regions around a candidate.
    """
    qi, mi = query.intervals(), match.intervals()
    qr = np.append(query.ratios(), 0)[: len(qi)]
    mr = np.append(match.ratios(), 0)[: len(mi)]
    n, m = len(qi), len(mi)
    if n == 0 or m == 0:
        return LocalAlignment(0.0, 0, (0, 0), (0, 0), np.zeros((0, 2), np.int64))
    equal = (qi[:, None] == mi[None, :]) & (np.abs(qr[:, None] - mr[None, :]) <= 0.25)
    sub = np.where(equal, 1.0, -mismatch)
    H = np.zeros((n + 1, m + 1))
    T = np.zeros((n + 1, m + 1), np.int8)  # 0 stop, 1 diagonal, 2 up, 3 left
    for i in range(1, n + 1):
        diag = H[i - 1, :-1] + sub[i - 1]
        up = H[i - 1, 1:] - gap
        row = np.maximum(0.0, np.maximum(diag, up))
        # left moves depend on the row itself: one sweep (gaps in the match are rare in copies)
        for j in range(1, m + 1):
            left = row[j - 2] - gap if j >= 2 else -gap
            if left > row[j - 1]:
                row[j - 1] = left
        H[i, 1:] = row
        T[i, 1:] = np.where(row == 0, 0, np.where(row == diag, 1, np.where(row == up, 2, 3)))
    i, j = np.unravel_index(int(np.argmax(H)), H.shape)
    end = (int(i), int(j))
    path: list[tuple[int, int]] = []
    matches = 0
    while i > 0 and j > 0 and T[i, j] != 0:
        move = T[i, j]
        if move == 1:
            path.append((i - 1, j - 1))
            matches += int(equal[i - 1, j - 1])
            i, j = i - 1, j - 1
        elif move == 2:
            i -= 1
        else:
            j -= 1
    path.reverse()
    steps = max(end[0] - int(i), end[1] - int(j), 1)
    # interval k joins notes k and k+1: a run of intervals [a, b) covers notes [a, b + 1)
    return LocalAlignment(matches / steps, matches + 1 if matches else 0, (int(i), end[0] + 1), (int(j), end[1] + 1),
                          np.array(path, dtype=np.int64).reshape(-1, 2))
