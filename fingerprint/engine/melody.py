"""Level 3, symbolic melodic similarity: transposition- and tempo-invariant melody windows.

The melody is the skyline (highest non-drum pitch at each onset) of the tracks named as the tune's part
(`MELODY_TRACK`), else of all tracks. A note is described by the interval to the
next note and the log2 ratio of successive inter-onset intervals, so neither key nor tempo changes it.
Windows of `WINDOW_NOTES` notes are indexed in FAISS (L2); candidates are verified by local alignment.

Note windows catch copies note for note. Independent settings of one tune differ in ornaments, passing notes,
dotted or even rhythms, metre and key, and each difference breaks every note window around it. The beat line
(`beat_line`) keeps what sounds on each beat, where variants agree: ornaments and passing notes between beats
vanish, a dotted pair and an even pair put the same note on the beat. Its windows (`beat_windows`, mean-centred
pitches, so the key drops out) share the symbolic index, kept apart from note windows by a marker dimension;
the items they find most are verified by a substitution- and gap-tolerant local alignment of the
reduced lines (`align.variant_similarity`). A query is sampled on several grids (`QUERY_GRIDS`) for variants
notated in halved or doubled note values or starting half a beat apart.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ledgerline.music import align

WINDOW_NOTES = 8
DIM = 16  # (WINDOW_NOTES - 1) intervals + (WINDOW_NOTES - 2) ratios = 13, zero-padded for PQ
MAX_INTERVAL = 12
RATIO_WEIGHT = 2.0  # one octave of rhythm ratio weighs as much as 2 semitones of interval / 6
BEAT_WINDOW = 12  # beats per beat window: three bars of common time
MERGE_HELD = True  # reduced lines: held pitches merged (reduced_line)
BEAT_MARKER = 10.0  # last dimension of a beat window: >= 100 squared L2 from any note window
BEAT_POSITION = 1 << 24  # index positions at or above this are beat windows (beat index + BEAT_POSITION)
# Candidate support of a beat-window hit: exp(-squared distance / this). 0.1: one beat a tone away (0.11) counts
# a third of an equal window; on the real-variant fit part, sharper weights ranked the true item higher (top 20 of 87:
# 0.54 of pairs at 1 / (1 + d), 0.76 at this scale).
BEAT_SUPPORT_SCALE = 0.1
BEAT_MIN_PITCHES = 3  # windows of fewer distinct pitches (held notes, trills) match too much to index
# (step, phase) in quarter notes at which a query's beat line is sampled; the corpus is sampled at (1, 0).
# step 2: the query is notated in doubled note values (a half-note beat), 0.5: halved.
# Track names that mark the tune's own part (MIDI track names, MusicXML part names); matched anywhere, any case.
MELODY_TRACK = re.compile(r"sopran|melod|vocal|voice|\bvox\b|\blead\b|cantus|singer", re.IGNORECASE)
QUERY_GRIDS = ((1.0, 0.0), (1.0, 0.5), (2.0, 0.0), (2.0, 1.0), (0.5, 0.0), (0.5, 0.25))


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
        quantised: np.ndarray = np.clip(np.round(raw * 4) / 4, -3, 3)
        return quantised


def melody_line(notes: np.ndarray, track_names: Sequence[str] = ()) -> Melody:
    """Skyline melody of a NOTE_DTYPE array: the highest note starting at each onset, unless a higher note
    started earlier is still sounding there (an inner voice moving under the held melody note is not melody).

    track_names: the score's track names by track number. When some name says it carries the tune
    (`MELODY_TRACK`: "Soprano", "Melody", "Voice", ...), the skyline is taken over those tracks only: a descant
    or obbligato instrument above the tune (recorders over a chorale's soprano) is not the melody."""
    named = [track for track, name in enumerate(track_names) if MELODY_TRACK.search(name or "")]
    if named:
        chosen = notes[np.isin(notes["track"], named)]
        notes = chosen if len(chosen) else notes
    pitched = notes[~notes["is_drum"]]
    if len(pitched) == 0:
        empty = np.zeros(0)
        return Melody(empty.astype(np.int64), empty, empty, empty)
    onsets = np.round(pitched["start"], 3)
    order = np.lexsort((-pitched["pitch"].astype(np.int64), onsets))
    pitched, onsets = pitched[order], onsets[order]
    first = np.concatenate([[True], np.diff(onsets) > 0])
    top = pitched[_not_under_a_held_note(pitched, onsets, first)]
    starts = top["start"]
    iois = np.append(np.diff(starts), top["duration"][-1])
    return Melody(
        top["pitch"].astype(np.int64),
        starts.astype(np.float64),
        top["start_s"].astype(np.float64),
        np.maximum(iois, 1e-3),
    )


def _not_under_a_held_note(pitched: np.ndarray, onsets: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Rows of `pitched` (sorted by onset, highest first) that are the top of their onset and sound above every
    note still held from an earlier onset. A sweep with a max-heap of held notes by pitch. [rows] bool"""
    keep = np.zeros(len(pitched), bool)
    held: list[tuple[int, float]] = []  # (-pitch, end) of notes from earlier onsets
    ends = onsets + np.round(pitched["duration"], 3)
    row = 0
    while row < len(pitched):
        onset = onsets[row]
        while held and held[0][1] <= onset + 1e-6:
            heapq.heappop(held)
        # a higher note ending later may sit under one that has ended: drop ended notes from the top only
        keep[row] = first[row] and (not held or -held[0][0] <= int(pitched["pitch"][row]))
        group_end = row
        while group_end < len(pitched) and onsets[group_end] == onset:
            heapq.heappush(held, (-int(pitched["pitch"][group_end]), float(ends[group_end])))
            group_end += 1
        row = group_end
    return keep


def windows(melody: Melody) -> tuple[np.ndarray, np.ndarray]:
    """Window vectors [n, DIM] float32 and their first note index [n]."""
    count = len(melody) - WINDOW_NOTES + 1
    if count <= 0:
        return np.zeros((0, DIM), np.float32), np.zeros(0, np.int64)
    intervals = melody.intervals() / 6.0
    ratios = melody.ratios() * RATIO_WEIGHT / 6.0 * 3
    vectors = np.zeros((count, DIM), np.float32)
    for start in range(count):
        vectors[start, : WINDOW_NOTES - 1] = intervals[start : start + WINDOW_NOTES - 1]
        vectors[start, WINDOW_NOTES - 1 : 2 * WINDOW_NOTES - 3] = ratios[start : start + WINDOW_NOTES - 2]
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
    i, j = divmod(int(np.argmax(H)), m + 1)  # the best cell of H [n + 1, m + 1]
    end = (i, j)
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
    return LocalAlignment(
        matches / steps,
        matches + 1 if matches else 0,
        (int(i), end[0] + 1),
        (int(j), end[1] + 1),
        np.array(path, dtype=np.int64).reshape(-1, 2),
    )


# --- the beat line ------------------------------------------------------------------------------------------
def beat_line(melody: Melody, *, step: float = 1.0, phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """MIDI pitch sounding at each grid point `phase + k * step` (quarter notes) from the first note to the end,
    and the grid points (`align.beat_line`). ([points] int64, [points] float64)"""
    if len(melody) == 0:
        return np.zeros(0, np.int64), np.zeros(0)
    end = float(melody.onsets[-1] + melody.iois[-1])
    return align.beat_line(melody.onsets, melody.pitches, end, step=step, phase=phase)


def reduced_line(melody: Melody, *, step: float = 1.0, phase: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The beat line with held pitches merged (`align.merge_held`): the pitch of every beat where it changes, and
    those grid points. ([changes] int64, [changes] float64)"""
    line, grid = beat_line(melody, step=step, phase=phase)
    if not MERGE_HELD:
        return line, grid
    return align.merge_held(line, grid)


def beat_seconds(melody: Melody, beats: np.ndarray) -> np.ndarray:
    """Seconds of positions given in quarter notes, through the melody's own onsets (its tempo map). [n]"""
    if len(melody) < 2:
        return np.asarray(beats, np.float64) * 0.5
    end_beats = melody.onsets[-1] + melody.iois[-1]
    last_rate = (melody.onsets_s[-1] - melody.onsets_s[-2]) / max(melody.onsets[-1] - melody.onsets[-2], 1e-3)
    end_s = melody.onsets_s[-1] + melody.iois[-1] * last_rate
    seconds: np.ndarray = np.interp(beats, np.append(melody.onsets, end_beats), np.append(melody.onsets_s, end_s))
    return seconds


def beat_windows(line: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Window vectors [n, DIM] float32 of a beat line (mean-centred pitches / 6, marker last) and their index
    positions [n] (first beat + BEAT_POSITION). Windows of fewer than BEAT_MIN_PITCHES pitches are left out."""
    count = len(line) - BEAT_WINDOW + 1
    if count <= 0:
        return np.zeros((0, DIM), np.float32), np.zeros(0, np.int64)
    frames = np.lib.stride_tricks.sliding_window_view(line.astype(np.float64), BEAT_WINDOW)
    distinct = np.array([len(np.unique(frame)) for frame in frames])
    keep = np.nonzero(distinct >= BEAT_MIN_PITCHES)[0]
    vectors = np.zeros((len(keep), DIM), np.float32)
    vectors[:, :BEAT_WINDOW] = (frames[keep] - frames[keep].mean(axis=1, keepdims=True)) / 6.0
    vectors[:, -1] = BEAT_MARKER
    return vectors, keep.astype(np.int64) + BEAT_POSITION
