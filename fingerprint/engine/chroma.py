"""Level 2, musical similarity in audio that survives transposition and tempo change.

1. CENS chroma (librosa) at a 23 ms hop, averaged between beats: beat-synchronous columns make the features
   tempo-invariant (beats come from the score when there is one, else from librosa's beat tracker).
2. Windows of `WINDOW_BEATS` beats every `HOP_BEATS` beats (a query's: every beat, so that one of its windows
   starts where each stored window does, wherever a quote begins). Each window has its per-bin mean removed (the key
   profile every tonal piece shares is no evidence) and is L2-normalised, so inner product = correlation.
3. Key invariance: a query window is searched in all 12 chroma rotations; the rotation that matches is the
   transposition. A beat tracker may lock onto half or double the tempo: the query is also searched on the
   half- and double-density beat grids.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

HOP_LENGTH = 512
WINDOW_BEATS = 8
HOP_BEATS = 2
QUERY_HOP_BEATS = 1
DIM = 12 * WINDOW_BEATS


@dataclass
class BeatChroma:
    chroma: np.ndarray  # [12, beats] CENS averaged over each beat
    beat_times: np.ndarray  # [beats + 1] seconds of the beat boundaries

    @property
    def beats(self) -> int:
        return int(self.chroma.shape[1])


def frame_chroma(audio: np.ndarray, sample_rate: int, *, tuning: float | None = None) -> np.ndarray:
    """CENS chroma [12, frames] at HOP_LENGTH. `tuning` (fractions of a bin): None estimates it from the audio
    (about a third of the chroma's cost); 0.0 for audio rendered at standard pitch."""
    return librosa.feature.chroma_cens(y=audio.astype(np.float32), sr=sample_rate, hop_length=HOP_LENGTH, tuning=tuning)


def track_beats(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Beat times in seconds from librosa's tracker (at least two; evenly spaced at 120 bpm as a fallback)."""
    _tempo, beats = librosa.beat.beat_track(
        y=audio.astype(np.float32), sr=sample_rate, hop_length=HOP_LENGTH, units="time", trim=False
    )
    beats = np.asarray(beats, dtype=np.float64)
    if len(beats) < 2:
        beats = np.arange(0.0, len(audio) / sample_rate, 0.5)
    return beats


def beat_sync(chroma: np.ndarray, beat_times: np.ndarray, sample_rate: int) -> BeatChroma:
    """Average frame chroma between consecutive beat times."""
    frames = librosa.time_to_frames(beat_times, sr=sample_rate, hop_length=HOP_LENGTH)
    frames = np.clip(frames, 0, chroma.shape[1])
    keep = np.concatenate([[True], np.diff(frames) > 0])
    frames, beat_times = frames[keep], beat_times[keep]
    columns = [
        chroma[:, a:b].mean(axis=1) if b > a else np.zeros(12) for a, b in zip(frames[:-1], frames[1:], strict=True)
    ]
    synced = np.stack(columns, axis=1) if columns else np.zeros((12, 0))
    return BeatChroma(chroma=synced.astype(np.float32), beat_times=beat_times.astype(np.float64))


def beat_chroma(audio: np.ndarray, sample_rate: int, beat_times: np.ndarray | None = None) -> BeatChroma:
    if beat_times is None:
        beat_times = track_beats(audio, sample_rate)
    return beat_sync(frame_chroma(audio, sample_rate), beat_times, sample_rate)


def alternative_grids(beat_times: np.ndarray) -> dict[str, np.ndarray]:
    """The tracked grid, the midpoints between its beats, every other beat, and beats with their midpoints.

    The last two undo tempo octave errors. The midpoints undo a phase error: under sustained instruments (strings,
    reeds) the tracker often locks onto the off-beats, and columns averaged across two chords match nothing
    (2 of 6 transposed, tempo-changed, re-instrumented chorales in benchmarks/nearcopy/RESULTS-audio-only.md)."""
    mids = (beat_times[:-1] + beat_times[1:]) / 2
    doubled = np.sort(np.concatenate([beat_times, mids]))
    return {"x1": beat_times, "mid": mids, "half": beat_times[::2], "double": doubled}


def _normalise(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """windows [n, 12, W] -> unit vectors [n, 12*W] and a mask of windows that carry information."""
    centred = windows - windows.mean(axis=2, keepdims=True)
    flat = centred.reshape(len(windows), -1)
    norms = np.linalg.norm(flat, axis=1)
    informative = norms > 0.05
    flat = flat / np.maximum(norms, 1e-9)[:, None]
    return flat.astype(np.float32), informative


def windows(bc: BeatChroma) -> tuple[np.ndarray, np.ndarray]:
    """Unit window vectors [n, DIM] and their first beat [n] (only informative windows)."""
    if bc.beats < WINDOW_BEATS:
        return np.zeros((0, DIM), np.float32), np.zeros(0, np.int64)
    starts = np.arange(0, bc.beats - WINDOW_BEATS + 1, HOP_BEATS)
    stack = np.stack([bc.chroma[:, s : s + WINDOW_BEATS] for s in starts])
    vectors, informative = _normalise(stack)
    return vectors[informative], starts[informative]


def rotated_windows(bc: BeatChroma) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Query windows (every beat) in all 12 rotations: vectors [n*12, DIM], first beat [n*12], transposition [n*12].

    Rotation k undoes a transposition of the query by k semitones up (bin p+k of the query is bin p of the
    original), so a hit with rotation k means "the query is the match moved k semitones up".
    """
    if bc.beats < WINDOW_BEATS:
        return np.zeros((0, DIM), np.float32), np.zeros(0, np.int64), np.zeros(0, np.int64)
    starts = np.arange(0, bc.beats - WINDOW_BEATS + 1, QUERY_HOP_BEATS)
    base = np.stack([bc.chroma[:, s : s + WINDOW_BEATS] for s in starts])  # [n, 12, W]
    rotations = np.stack([np.roll(base, -k, axis=1) for k in range(12)], axis=1)  # [n, 12, 12, W]
    vectors, informative = _normalise(rotations.reshape(-1, 12, WINDOW_BEATS))
    first = np.repeat(starts, 12)
    transpose = np.tile(np.arange(12), len(starts))
    return vectors[informative], first[informative], transpose[informative]


def signed_semitones(rotation: int) -> int:
    """0..11 -> -5..6 (the smaller way round)."""
    return int(((rotation + 5) % 12) - 5)


@dataclass(frozen=True)
class DtwResult:
    similarity: float  # 1 - mean cosine distance along the path, 0..1
    path: np.ndarray  # [steps, 2] (query column, match column)


def dtw_similarity(query: np.ndarray, match: np.ndarray) -> DtwResult:
    """Chroma-DTW as in the seed's §5.3: cosine cost, mean cost along the optimal path."""
    if query.shape[1] == 0 or match.shape[1] == 0:
        return DtwResult(0.0, np.zeros((0, 2), np.int64))
    q = query - query.mean(axis=1, keepdims=True)
    m = match - match.mean(axis=1, keepdims=True)
    cost, path = librosa.sequence.dtw(X=q + 1e-6, Y=m + 1e-6, metric="cosine")
    path = path[::-1]
    mean_cost = float(cost[-1, -1] / len(path))
    return DtwResult(float(np.clip(1.0 - mean_cost, 0.0, 1.0)), path.astype(np.int64))
