"""Everything screening needs about one piece, computed once (at ingest, or for a query) and stored as npz."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ledgerline.music.events import SAMPLE_RATE, Score

from . import chroma as chroma_mod
from . import identity
from . import melody as melody_mod


@dataclass
class Features:
    duration_s: float
    raw_fp: np.ndarray | None = None  # uint32 Chromaprint sub-fingerprints; None when too short/silent
    chroma: chroma_mod.BeatChroma | None = None
    melody: melody_mod.Melody | None = None  # None for audio-only items (no transcription model here)
    bar_beats: float = 4.0
    beats_from_score: bool = False
    grids: dict[str, chroma_mod.BeatChroma] = field(default_factory=dict)  # queries only: other beat grids
    problems: list[str] = field(default_factory=list)  # why a level is missing, for the report

    # --- serialisation ---------------------------------------------------------------------------------
    def to_npz_bytes(self) -> bytes:
        arrays: dict[str, np.ndarray] = {}
        if self.raw_fp is not None:
            arrays["raw_fp"] = self.raw_fp.astype(np.uint32)
        if self.chroma is not None:
            arrays["chroma"] = self.chroma.chroma
            arrays["beat_times"] = self.chroma.beat_times
        if self.melody is not None:
            arrays.update(
                mel_pitches=self.melody.pitches,
                mel_onsets=self.melody.onsets,
                mel_onsets_s=self.melody.onsets_s,
                mel_iois=self.melody.iois,
            )
        meta = {
            "duration_s": self.duration_s,
            "bar_beats": self.bar_beats,
            "beats_from_score": self.beats_from_score,
            "problems": self.problems,
        }
        buffer = io.BytesIO()
        # numpy's stub types **kwds as if a key could be its allow_pickle flag: these keys are array names.
        np.savez_compressed(buffer, meta=np.array(json.dumps(meta)), **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> Features:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            raw_fp = archive["raw_fp"] if "raw_fp" in archive else None
            bc = chroma_mod.BeatChroma(archive["chroma"], archive["beat_times"]) if "chroma" in archive else None
            mel = (
                melody_mod.Melody(
                    archive["mel_pitches"], archive["mel_onsets"], archive["mel_onsets_s"], archive["mel_iois"]
                )
                if "mel_pitches" in archive
                else None
            )
        return cls(
            duration_s=float(meta["duration_s"]),
            raw_fp=raw_fp,
            chroma=bc,
            melody=mel,
            bar_beats=float(meta["bar_beats"]),
            beats_from_score=bool(meta["beats_from_score"]),
            problems=list(meta.get("problems", [])),
        )


def extract(
    audio: np.ndarray,
    sample_rate: int,
    *,
    notes: np.ndarray | None = None,
    track_names: Sequence[str] = (),
    score_beat_times: np.ndarray | None = None,
    bar_beats: float = 4.0,
    query: bool = False,
    tuning: float | None = None,
) -> Features:
    """Features of one piece.

    audio: mono float [samples]; notes: NOTE_DTYPE events when the piece has a score; score_beat_times:
    seconds of every quarter-note beat from the score (else beats are tracked). `query=True` also computes
    the half/double beat grids searched for tempo-octave errors. track_names: the score's track names by
    track number (they can name the tune's own part, `melody.melody_line`). tuning: None estimates the audio's deviation
    from A440; pass 0.0 for audio that FluidSynth rendered from the piece's own score (standard pitch).
    """
    duration = len(audio) / sample_rate
    features = Features(duration_s=duration, bar_beats=bar_beats, beats_from_score=score_beat_times is not None)
    try:
        features.raw_fp = identity.raw_fingerprint(audio, sample_rate)
    except identity.TooShort as exc:
        features.problems.append(f"audio: {exc}")
    if features.raw_fp is not None:
        frames = chroma_mod.frame_chroma(audio, sample_rate, tuning=tuning)
        beats = score_beat_times if score_beat_times is not None else chroma_mod.track_beats(audio, sample_rate)
        features.chroma = chroma_mod.beat_sync(frames, beats, sample_rate)
        if features.chroma.beats < chroma_mod.WINDOW_BEATS:
            features.problems.append(f"chroma: fewer than {chroma_mod.WINDOW_BEATS} beats")
        if query:
            for name, grid in chroma_mod.alternative_grids(beats).items():
                if name != "x1" and len(grid) > chroma_mod.WINDOW_BEATS:
                    features.grids[name] = chroma_mod.beat_sync(frames, grid, sample_rate)
    else:
        features.problems.append("chroma: no audio to analyse")
    if notes is not None:
        features.melody = melody_mod.melody_line(notes, track_names)
        if len(features.melody) < melody_mod.WINDOW_NOTES:
            features.problems.append(f"symbolic: fewer than {melody_mod.WINDOW_NOTES} melody notes")
    else:
        features.problems.append("symbolic: no score (audio-only; no transcription model is installed)")
    return features


def score_features(audio: np.ndarray, score: Score, *, query: bool) -> Features:
    """Features of a piece that FluidSynth rendered from its own score (`audio` at SAMPLE_RATE, standard pitch):
    the score's notes, track names (the tune's own part) and beat times. The platform's indexing and screening
    and the benchmarks read a score through this one call."""
    beats = score.beats_to_seconds(np.arange(0, int(np.ceil(score.duration_beats)) + 1, dtype=np.float64))
    return extract(
        audio,
        SAMPLE_RATE,
        notes=score.notes,
        track_names=[track.name for track in score.tracks],
        score_beat_times=beats,
        bar_beats=score.bar_beats,
        query=query,
        tuning=0.0,
    )
