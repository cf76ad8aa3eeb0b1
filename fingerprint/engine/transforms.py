"""Disguises a copyist might use, for the near-copy benchmark and the tests: transpose, change tempo,
re-instrument, quote a few bars inside other music, add noise, MP3 round trip."""

from __future__ import annotations

import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

from ledgerline.music.events import Score, TrackInfo, with_seconds


def _copy(
    score: Score,
    notes: np.ndarray,
    *,
    tracks: list[TrackInfo] | None = None,
    tempo_bpm: float | None = None,
    tempo_map: list[tuple[float, float]] | None = None,
    drop_key: bool = False,
) -> Score:
    """`score` with these notes (NOTE_DTYPE) and the given fields changed (None: kept); `drop_key` forgets the
    written key (the notes no longer are in it)."""
    return with_seconds(
        Score(
            notes=notes,
            tracks=list(score.tracks) if tracks is None else tracks,
            tempo_bpm=score.tempo_bpm if tempo_bpm is None else tempo_bpm,
            tempo_map=list(score.tempo_map) if tempo_map is None else tempo_map,
            time_signature=score.time_signature,
            key=None if drop_key else score.key,
            title=score.title,
            composer=score.composer,
        )
    )


def transpose(score: Score, semitones: int) -> Score:
    notes = score.notes.copy()
    pitched = ~notes["is_drum"]
    notes["pitch"][pitched] = np.clip(notes["pitch"][pitched].astype(int) + semitones, 0, 127)
    return _copy(score, notes, drop_key=True)


def change_tempo(score: Score, ratio: float) -> Score:
    """ratio > 1 plays faster."""
    return _copy(
        score,
        score.notes.copy(),
        tempo_bpm=score.tempo_bpm * ratio,
        tempo_map=[(beat, bpm * ratio) for beat, bpm in score.tempo_map],
    )


def reinstrument(score: Score, programs: list[int]) -> Score:
    notes = score.notes.copy()
    tracks = []
    for index, info in enumerate(score.tracks):
        program = programs[index % len(programs)] if not info.is_drum else info.program
        notes["program"][notes["track"] == index] = program
        tracks.append(replace(info, program=program))
    return _copy(score, notes, tracks=tracks)


def bars(score: Score, first: int, count: int) -> Score:
    """Bars [first, first+count) moved to start at beat 0."""
    start, end = first * score.bar_beats, (first + count) * score.bar_beats
    notes = score.notes[(score.notes["start"] >= start) & (score.notes["start"] < end)].copy()
    notes["start"] -= start
    notes["duration"] = np.minimum(notes["duration"], end - start - notes["start"])
    return _copy(score, notes)


def embed_quote(host: Score, quote: Score, *, at_bar: int) -> Score:
    """`host` with `quote` spliced in at bar `at_bar` (host continues after it). Tracks merge by index; the
    host's tempo and instruments are kept, so only the notes of the quote are copied."""
    split = at_bar * host.bar_beats
    length = np.ceil(quote.duration_beats / host.bar_beats) * host.bar_beats
    before = host.notes[host.notes["start"] < split].copy()
    before["duration"] = np.minimum(before["duration"], split - before["start"])
    after = host.notes[host.notes["start"] >= split].copy()
    after["start"] += length
    middle = quote.notes.copy()
    middle["start"] += split
    middle["track"] = np.minimum(middle["track"], max(len(host.tracks) - 1, 0))
    for index in range(len(host.tracks)):
        middle["program"][middle["track"] == index] = host.tracks[index].program
    tracks = list(host.tracks) or [TrackInfo("Quote", 0)]
    return _copy(host, np.concatenate([before, middle, after]), tracks=tracks, drop_key=True)


def add_noise(audio: np.ndarray, *, snr_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    power = float(np.mean(audio**2)) or 1e-9
    noise = rng.normal(0.0, np.sqrt(power / 10 ** (snr_db / 10)), size=audio.shape)
    return np.clip(audio + noise, -1.0, 1.0).astype(np.float32)


def mp3_round_trip(audio: np.ndarray, sample_rate: int, *, bitrate: str = "96k") -> np.ndarray:
    """Encode to MP3 and decode back with ffmpeg (same length, trimmed/padded)."""
    import soundfile

    with tempfile.TemporaryDirectory() as tmp:
        wav, mp3, back = Path(tmp) / "a.wav", Path(tmp) / "a.mp3", Path(tmp) / "b.wav"
        soundfile.write(wav, audio, sample_rate)
        for args in (
            ["-i", str(wav), "-b:a", bitrate, str(mp3)],
            ["-i", str(mp3), "-ar", str(sample_rate), "-ac", "1", str(back)],
        ):
            subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, capture_output=True)
        decoded, _ = soundfile.read(back, dtype="float32")
    out = np.zeros_like(audio)
    out[: min(len(out), len(decoded))] = decoded[: len(out)]
    return out
