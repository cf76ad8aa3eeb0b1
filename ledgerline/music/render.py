"""Rendering scores to audio with FluidSynth and a General MIDI soundfont.

Each track is rendered on its own with reverb and chorus off, so rendering is linear: the mix is defined as
the sum of the stems, and the stems therefore always sum exactly to the mix.

Two outputs: the analysis audio (mono at the canonical SAMPLE_RATE, what every fingerprint, preview and waveform
is made of) and the audio for sale (`SALE_SAMPLE_RATE`, stereo as FluidSynth renders it, `channels=2`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import soundfile as sf

from .events import SAMPLE_RATE, Score

FLUIDSYNTH_GAIN = 0.5
SALE_SAMPLE_RATE = 44_100
TAIL_S = 1.0  # release tails ring past the last note-off


class RenderError(RuntimeError):
    pass


def fluidsynth_binary() -> str:
    path = shutil.which("fluidsynth")
    if path is None:
        raise RenderError("fluidsynth is not installed (Debian package `fluidsynth`)")
    return path


def render_midi(midi: bytes, *, soundfont: str | Path, sample_rate: int = SAMPLE_RATE, channels: int = 1) -> np.ndarray:
    """Render MIDI bytes with the FluidSynth command-line synthesiser to float32 at `sample_rate`: mono
    [samples] (`channels=1`, the analysis audio) or FluidSynth's stereo [samples, 2] (`channels=2`)."""
    if channels not in (1, 2):
        raise ValueError(f"render to 1 or 2 channels, not {channels}")
    if not Path(soundfont).is_file():
        raise RenderError(f"soundfont not found: {soundfont}")
    with tempfile.TemporaryDirectory(prefix="ledgerline-render-") as tmp:
        mid_path, wav_path = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        mid_path.write_bytes(midi)
        command = [
            fluidsynth_binary(),
            "-ni",
            "-q",
            "-R",
            "0",
            "-C",
            "0",
            "-g",
            str(FLUIDSYNTH_GAIN),
            "-r",
            str(sample_rate),
            "-O",
            "float",
            "-T",
            "wav",
            "-F",
            str(wav_path),
            str(soundfont),
            str(mid_path),
        ]
        result = subprocess.run(command, capture_output=True, timeout=600)
        if result.returncode != 0 or not wav_path.exists():
            raise RenderError(f"fluidsynth failed: {result.stderr.decode(errors='replace')[-300:]}")
        audio: np.ndarray  # [samples, channels] float32 (soundfile is untyped)
        sr: int
        audio, sr = sf.read(wav_path, dtype="float32", always_2d=True)
    if sr != sample_rate:
        raise RenderError(f"fluidsynth wrote {sr} Hz, expected {sample_rate} Hz")
    if channels == 2:
        return np.ascontiguousarray(audio[:, :2] if audio.shape[1] >= 2 else np.repeat(audio, 2, axis=1))
    mono: np.ndarray = audio.mean(axis=1)
    return mono.astype(np.float32)


def render_stems(
    score: Score, *, soundfont: str | Path, sample_rate: int = SAMPLE_RATE, channels: int = 1
) -> list[np.ndarray]:
    """One array per track of `score` ([samples] mono, or [samples, 2] for `channels=2`), all of the same
    length (the piece plus a release tail)."""
    length = int(round((score.duration_s + TAIL_S) * sample_rate))

    def one(index: int) -> np.ndarray:
        audio = render_midi(
            score.track_score(index).to_midi_bytes(), soundfont=soundfont, sample_rate=sample_rate, channels=channels
        )
        stem = np.zeros((length, channels) if channels == 2 else length, dtype=np.float32)
        stem[: min(length, len(audio))] = audio[:length]
        return stem

    # Each track is its own fluidsynth process, so the tracks render in parallel on every core.
    with ThreadPoolExecutor(max_workers=max(1, min(len(score.tracks), os.cpu_count() or 1))) as pool:
        return list(pool.map(one, range(len(score.tracks))))


def mix(stems: list[np.ndarray], *, headroom: float = 0.98) -> tuple[list[np.ndarray], np.ndarray]:
    """Scale the stems jointly so their sum does not clip, and return (scaled stems, their sum)."""
    if not stems:
        return [], np.zeros(0, dtype=np.float32)
    total = np.sum(np.stack(stems), axis=0)
    peak = float(np.max(np.abs(total))) if total.size else 0.0
    scale = headroom / peak if peak > headroom else 1.0
    scaled = [(stem * scale).astype(np.float32) for stem in stems]
    return scaled, np.sum(np.stack(scaled), axis=0).astype(np.float32)
