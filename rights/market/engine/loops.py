"""Bar-aligned, seamless loops cut from published tracks; stems for audio-only material; waveform thumbnails.

Audio is mono, `[samples]`, or, where a function says so, `[samples, channels]` (the stereo audio for sale);
float, full scale ±1; times are seconds; beats are quarter notes.

1. A `ledgerline.music.grid.BarGrid` holds the bar lines: exact from the score's tempo map when the track has
   one, otherwise from librosa's beat tracker with the downbeat phase chosen by onset strength.
2. `cut_loops` cuts loops of 1, 2, 4 and 8 bars that start on multiples of their length, at the sample nearest
   each bar line, skips silent ones and makes each one seamless.
3. Seamless means the wrap sounds like the bar line did in the track: the loop's tail is cross-faded into the
   audio just before the loop's start, so the attack on the first beat is left untouched.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import librosa
import numpy as np
from PIL import Image

from ledgerline.music.grid import BarGrid

LOOP_LENGTHS = (1, 2, 4, 8)
WAVEFORM_COLOUR = (0x2F, 0x6D, 0xB5)

Separator = Callable[[np.ndarray, int], dict[str, np.ndarray]]


class TooShort(ValueError):
    """The track holds no whole bar, so there is no loop to cut."""


@dataclass(frozen=True)
class Loop:
    start_bar: int  # 0-based
    bars: int
    start_sample: int  # round(bar_lines_s[start_bar] * sample_rate)
    end_sample: int  # round(bar_lines_s[start_bar + bars] * sample_rate), exclusive
    audio: np.ndarray  # float32 [end_sample - start_sample], seamless
    sample_rate: int

    @property
    def duration_s(self) -> float:
        return (self.end_sample - self.start_sample) / self.sample_rate


def is_silent(audio: np.ndarray, *, silence_dbfs: float = -50.0) -> bool:
    """True when the RMS level of `audio` [samples] is below `silence_dbfs` (dB relative to full scale ±1)."""
    if len(audio) == 0:
        return True
    rms = float(np.sqrt(np.mean(np.square(audio, dtype=np.float64))))
    return rms == 0.0 or 20.0 * np.log10(rms) < silence_dbfs


def make_seamless(segment: np.ndarray, pre_roll: np.ndarray, *, crossfade: int) -> np.ndarray:
    """`segment` [samples] or [samples, channels] whose last `crossfade` samples fade into
    `pre_roll[-crossfade:]` (same channels), as float32.

    `pre_roll` is the audio just before the segment's start in the track (zeros before the track's first
    sample). After the fade the last sample is the one that preceded the start, so the wrap from end to start
    is the step the track itself made across the bar line; the start (the attack) is not touched.

    The fade is linear rather than equal-power: the output never exceeds the louder of its two inputs, so it
    cannot clip, and the dip of up to 3 dB that equal-power avoids lasts only the fade's few milliseconds.
    """
    out = np.array(segment, dtype=np.float32)
    if crossfade <= 0:
        return out
    if crossfade > len(out) or crossfade > len(pre_roll):
        raise ValueError(
            f"a cross-fade of {crossfade} samples needs that many samples of segment and pre-roll "
            f"(have {len(out)} and {len(pre_roll)})"
        )
    # Ends at exactly 1, so the last sample is pure pre-roll.
    fade_in = np.arange(1, crossfade + 1, dtype=np.float64) / crossfade
    if out.ndim == 2:
        fade_in = fade_in[:, None]
    tail = out[-crossfade:].astype(np.float64)
    before = np.asarray(pre_roll[-crossfade:], dtype=np.float64)
    out[-crossfade:] = (tail * (1.0 - fade_in) + before * fade_in).astype(np.float32)
    return out


def wrap_discontinuity(loop_audio: np.ndarray) -> float:
    """The click at the wrap: |x[0] - x[-1]| over the 99th percentile of |x[i+1] - x[i]| inside the loop.

    ≤ ~1: the wrap is no bigger a step than the loop's ordinary sample-to-sample motion. 0.0 for silence.
    """
    x = np.asarray(loop_audio, dtype=np.float64)
    if len(x) < 2:
        return 0.0
    step = abs(x[0] - x[-1])
    if step == 0.0:
        return 0.0
    motion = float(np.percentile(np.abs(np.diff(x)), 99))
    return step / motion if motion > 0 else float("inf")


def cut_loops(
    audio: np.ndarray,
    sample_rate: int,
    grid: BarGrid,
    *,
    lengths: Iterable[int] = LOOP_LENGTHS,
    crossfade_ms: float = 10.0,
    silence_dbfs: float = -50.0,
) -> list[Loop]:
    """Every whole, non-silent loop of each length in `lengths` (bars) in `audio` [samples] (or
    [samples, channels]) on `grid`.

    Loops of L bars start at bars 0, L, 2L, ... Audio that ends before the grid does is zero-padded (a rendered
    stem may end a few ms early). Raises TooShort when the grid has no bar or the audio is shorter than its
    first bar.
    """
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim not in (1, 2):
        raise ValueError(f"cut_loops takes audio [samples] or [samples, channels], not shape {y.shape}")
    lines = np.round(grid.bar_lines_s * sample_rate).astype(np.int64)
    duration_s = len(y) / sample_rate
    if grid.n_bars == 0 and grid.tempo_bpm <= 0:
        raise TooShort(f"no beat was found in the track ({duration_s:.2f} s)")
    bar_s = (
        float(grid.bar_lines_s[1] - grid.bar_lines_s[0]) if grid.n_bars else 60.0 * grid.beats_per_bar / grid.tempo_bpm
    )
    if grid.n_bars == 0 or duration_s < bar_s:
        raise TooShort(f"the track is shorter than one bar ({duration_s:.2f} s; a bar lasts {bar_s:.2f} s)")
    padded = np.zeros((max(len(y), int(lines[-1])), *y.shape[1:]), dtype=np.float32)
    padded[: len(y)] = y
    crossfade = int(round(crossfade_ms * sample_rate / 1000.0))
    loops: list[Loop] = []
    for bars in lengths:
        if bars < 1:
            raise ValueError(f"a loop lasts at least one bar, not {bars}")
        for start_bar in range(0, grid.n_bars - bars + 1, bars):
            start, end = int(lines[start_bar]), int(lines[start_bar + bars])
            segment = padded[start:end]
            if is_silent(segment, silence_dbfs=silence_dbfs):
                continue
            fade = min(crossfade, len(segment))
            pre_roll = np.zeros((fade, *y.shape[1:]), dtype=np.float32)
            available = padded[max(0, start - fade) : start]
            pre_roll[fade - len(available) :] = available
            loops.append(
                Loop(
                    start_bar=start_bar,
                    bars=bars,
                    start_sample=start,
                    end_sample=end,
                    audio=make_seamless(segment, pre_roll, crossfade=fade),
                    sample_rate=sample_rate,
                )
            )
    return loops


# --- separation --------------------------------------------------------------------------------------------
def separate_hpss(audio: np.ndarray, sample_rate: int) -> dict[str, np.ndarray]:
    """Harmonic (sustained) and percussive (transient) parts by median filtering (librosa.effects.hpss)."""
    harmonic, percussive = librosa.effects.hpss(np.asarray(audio, dtype=np.float32))
    return {"harmonic": harmonic, "percussive": percussive}


def separate_nmf(audio: np.ndarray, sample_rate: int, *, n_components: int = 3) -> dict[str, np.ndarray]:
    """`n_components` (2..4) NMF parts of the magnitude STFT, named component-1.. from low to high frequency.

    Each part is the mixture STFT under a soft mask (its share of the NMF model), so the parts keep the
    mixture's phase and sum back to the mixture.
    """
    if not 2 <= n_components <= 4:
        raise ValueError(f"NMF separation uses 2 to 4 components, not {n_components}")
    y = np.asarray(audio, dtype=np.float32)
    stft = librosa.stft(y)
    # sort=True orders the components by their peak frequency: stable names from run to run.
    components, activations = librosa.decompose.decompose(
        np.abs(stft), n_components=n_components, sort=True, random_state=0, max_iter=400
    )
    models = [np.outer(components[:, k], activations[k]) for k in range(n_components)]
    total = np.sum(models, axis=0) + np.finfo(np.float32).tiny
    return {
        f"component-{k + 1}": librosa.istft(stft * (model / total), length=len(y)) for k, model in enumerate(models)
    }


SEPARATORS: dict[str, Separator] = {"hpss": separate_hpss, "nmf": separate_nmf}


def register_separator(name: str, separator: Separator) -> None:
    """Make `separate(..., method=name)` call `separator(audio, sample_rate) -> {stem name: audio}`.

    For a model whose weights exist locally; none of the public models ships offline weights.
    """
    SEPARATORS[name] = separator


def separate(audio: np.ndarray, sample_rate: int, *, method: str = "hpss") -> dict[str, np.ndarray]:
    """Stems {name: float32 [samples]} of `audio` [samples], each as long as the input."""
    if method not in SEPARATORS:
        raise ValueError(f"unknown separation method {method!r}; choose one of: {', '.join(sorted(SEPARATORS))}")
    length = len(audio)
    stems = SEPARATORS[method](np.asarray(audio, dtype=np.float32), sample_rate)
    # A plug-in's STFT may round the length; callers line stems up with the mix sample by sample.
    fitted: dict[str, np.ndarray] = {}
    for name, stem in stems.items():
        out = np.zeros(length, dtype=np.float32)
        out[: min(length, len(stem))] = stem[:length]
        fitted[name] = out
    return fitted


# --- thumbnails --------------------------------------------------------------------------------------------
def waveform_png(audio: np.ndarray, sample_rate: int, *, width: int = 600, height: int = 90) -> bytes:
    """PNG bytes, `width` × `height` pixels: the min/max envelope of `audio` [samples] per pixel column.

    The vertical axis is full scale (±1), so a quiet loop looks quiet. `sample_rate` is unused: the picture
    spans the whole audio whatever its rate; it is kept so every function here takes (audio, sample_rate).
    Drawn with numpy into a pixel array (every column at least one pixel tall, so silence is a line): a
    matplotlib figure per loop cost a third of a track's split.
    """
    y = np.asarray(audio, dtype=np.float32)
    if len(y):
        # reduceat on an empty range yields the sample at its start, so audio shorter than the width still draws.
        starts = np.minimum(np.linspace(0, len(y), width + 1)[:-1].astype(np.int64), len(y) - 1)
        lows, highs = np.minimum.reduceat(y, starts), np.maximum.reduceat(y, starts)
    else:
        lows = highs = np.zeros(width, dtype=np.float32)

    def row(value: np.ndarray) -> np.ndarray:  # +1 at the top row, -1 at the bottom one
        pixel_rows: np.ndarray = np.round((1.0 - np.clip(value, -1.0, 1.0)) / 2.0 * (height - 1))
        return pixel_rows.clip(0, height - 1).astype(np.int64)

    top, bottom = row(highs), row(lows)
    rows = np.arange(height)[:, None]
    inside = (rows >= top[None, :]) & (rows <= bottom[None, :])  # [height, width]
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    pixels[inside] = WAVEFORM_COLOUR
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="RGB").save(buffer, format="PNG", optimize=False, compress_level=6)
    return buffer.getvalue()
