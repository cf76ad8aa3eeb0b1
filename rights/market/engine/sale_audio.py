"""The audio a buyer pays for (no Django): 44.1 kHz stereo, 24-bit FLAC, loudness-normalised per stem.

The analysis format (mono float32 at 22,050 Hz) serves previews, waveforms and fingerprints; what is sold is
rendered again for sale. Arrays here are float32 `[samples, channels]`, full scale ±1.

1. `loudness_normalise` gives a whole stem (or the mix) one gain, so that its integrated loudness (ITU-R BS.1770-4
   / EBU R128, measured by pyloudnorm) is `TARGET_LUFS`, unless that would push its true peak (4× oversampled)
   above `TRUE_PEAK_CEILING_DBTP`; then the gain stops at the ceiling and the stem stays quieter than the target.
   One gain per stem keeps the loops of a stem at the same level as each other.
2. `sounding_fraction` is the share of a loop's 50 ms frames that are not near silence; `is_mostly_silent`
   refuses a loop of which less than `MIN_SOUNDING_FRACTION` sounds (a melody resting for most of its bars).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import soundfile as sf
import soxr

from ledgerline.music.render import SALE_SAMPLE_RATE

SALE_CHANNELS = 2
SALE_BIT_DEPTH = 24
SALE_SUBTYPE = f"PCM_{SALE_BIT_DEPTH}"
TARGET_LUFS = -16.0  # integrated loudness of each stem and of the mix (EBU R128 / ITU-R BS.1770-4)
TRUE_PEAK_CEILING_DBTP = -1.0  # headroom left for the buyer's encoders (EBU R128 s1 recommends ≤ -1 dBTP)
TRUE_PEAK_OVERSAMPLING = 4  # BS.1770-4 annex 2: a 4× oversampled peak is the true peak within 0.5 dB
FRAME_S = 0.05  # silence is judged per 50 ms frame
NEAR_SILENCE_DBFS = -60.0  # a frame quieter than this (RMS, after normalisation) is near silence
# A loop is for sale when at least a third of its time sounds: a drum part of short hits on every beat sounds for
# about 60 % of its frames, a melody that plays one note in four bars for under 10 %.
MIN_SOUNDING_FRACTION = 1 / 3
SALE_FORMAT = (
    f"FLAC, {SALE_SAMPLE_RATE / 1000:g} kHz stereo, 24-bit, loudness-normalised per stem to "
    f"{TARGET_LUFS:g} LUFS integrated (EBU R128) with true peaks at or below {TRUE_PEAK_CEILING_DBTP:g} dBTP"
)


@dataclass(frozen=True)
class Normalised:
    audio: np.ndarray  # float32 [samples, channels]
    gain_db: float
    loudness_lufs: float  # after the gain; -inf for silence
    true_peak_dbtp: float  # after the gain


def _db(value: float) -> float:
    return 20.0 * float(np.log10(value)) if value > 0 else float("-inf")


def true_peak_dbtp(audio: np.ndarray, *, oversampling: int = TRUE_PEAK_OVERSAMPLING) -> float:
    """The largest absolute sample of `audio` [samples, channels] upsampled `oversampling`× with libsoxr's
    linear-phase interpolator (a twentieth of scipy's polyphase filter's time), in dB."""
    y = np.asarray(audio, dtype=np.float32)
    if y.size == 0:
        return float("-inf")
    upsampled = soxr.resample(y, 1, oversampling, quality="HQ")
    # max and -min rather than max(abs): no second copy of four times the audio
    return _db(max(float(upsampled.max()), -float(upsampled.min()), float(y.max()), -float(y.min())))


# BS.1770-4 channel weights (L, R, C, Ls, Rs) and gating: 400 ms blocks every 100 ms, -70 LUFS absolute gate,
# relative gate 10 LU below the mean of the blocks above the absolute one.
_CHANNEL_WEIGHTS = (1.0, 1.0, 1.0, 1.41, 1.41)


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of `audio` [samples, channels]; -inf when everything is gated out (silence).

    pyloudnorm's K-weighting filters and its block bounds, with the gating summed by cumulative sums:
    `pyloudnorm.Meter.integrated_loudness` loops over blocks in Python (4 s for a 3-minute stereo stem); the
    result is the same (`test_loudness_is_pyloudnorms`).
    """
    # pyloudnorm brings scipy.signal (0.5 s at import): loaded by the work, not at start (tests/test_startup.py)
    import pyloudnorm
    from scipy.signal import lfilter

    block_s, step = 0.4, 0.25
    if len(audio) < int(block_s * sample_rate):  # shorter than one gating block: nothing to measure
        return float("-inf")
    # [channels, samples], each channel contiguous: the filters and the running sums go along rows.
    y = np.array(np.asarray(audio).reshape(len(audio), -1).T, dtype=np.float64, order="C")
    for stage in pyloudnorm.Meter(sample_rate)._filters.values():  # K-weighting: pre-filter, then RLB high-pass
        y = stage.passband_gain * lfilter(stage.b, stage.a, y, axis=1)
    np.square(y, out=y)
    np.cumsum(y, axis=1, out=y)  # y[:, i] is now the energy of samples 0..i
    n_blocks = int(np.round((y.shape[1] / sample_rate - block_s) / (block_s * step))) + 1
    j = np.arange(n_blocks)
    lower = (block_s * (j * step) * sample_rate).astype(np.int64)
    upper = np.minimum((block_s * (j * step + 1) * sample_rate).astype(np.int64), y.shape[1])
    before = np.where(lower > 0, y[:, np.maximum(lower - 1, 0)], 0.0)
    z = ((y[:, upper - 1] - before) / (block_s * sample_rate)).T  # [blocks, channels]
    channels = y.shape[0]
    weights = np.asarray(_CHANNEL_WEIGHTS[:channels])
    with np.errstate(divide="ignore"):
        block_loudness = -0.691 + 10.0 * np.log10(z @ weights)
        above = block_loudness >= -70.0
        if not above.any():
            return float("-inf")
        relative = -0.691 + 10.0 * np.log10(z[above].mean(axis=0) @ weights) - 10.0
        gated = (block_loudness > relative) & above
        return float(-0.691 + 10.0 * np.log10(z[gated].mean(axis=0) @ weights))


def loudness_normalise(
    audio: np.ndarray,
    sample_rate: int,
    *,
    target_lufs: float = TARGET_LUFS,
    ceiling_dbtp: float = TRUE_PEAK_CEILING_DBTP,
) -> Normalised:
    """`audio` [samples, channels] with one gain: `target_lufs`, or less where the true-peak ceiling stops it."""
    loudness = integrated_loudness(audio, sample_rate)
    peak = true_peak_dbtp(audio)
    if not np.isfinite(loudness) or not np.isfinite(peak):
        return Normalised(np.asarray(audio, dtype=np.float32), 0.0, loudness, peak)
    gain_db = min(target_lufs - loudness, ceiling_dbtp - peak)
    scaled = np.asarray(audio, dtype=np.float32) * np.float32(10.0 ** (gain_db / 20.0))
    return Normalised(scaled, gain_db, loudness + gain_db, peak + gain_db)


def sounding_fraction(audio: np.ndarray, sample_rate: int, *, near_silence_dbfs: float = NEAR_SILENCE_DBFS) -> float:
    """The share (0..1) of `audio`'s [samples] or [samples, channels] 50 ms frames whose mean power over the
    channels is above `near_silence_dbfs`; a last partial frame counts in proportion to its length."""
    y = np.asarray(audio, dtype=np.float32)
    y = y.reshape(len(y), -1)
    if len(y) == 0:
        return 0.0
    frame = max(1, int(round(FRAME_S * sample_rate)))
    whole = len(y) // frame
    # Each frame's samples in one row, so that one dot product per row gives its energy (float32 einsum: a
    # tenth of the time of squaring and averaging a float64 copy, and a threshold needs no more precision).
    rows = y[: whole * frame].reshape(whole, frame * y.shape[1])
    energy = list(np.einsum("ij,ij->i", rows, rows)) if whole else []
    lengths = [frame] * whole
    if len(y) > whole * frame:
        rest = y[whole * frame :].ravel()
        energy.append(float(np.dot(rest, rest)))
        lengths.append(len(y) - whole * frame)
    power = np.asarray(energy, dtype=np.float64) / (np.asarray(lengths) * y.shape[1])
    sounding = np.asarray(lengths)[power > 10.0 ** (near_silence_dbfs / 10.0)]
    return float(np.sum(sounding) / len(y))


def is_mostly_silent(audio: np.ndarray, sample_rate: int, *, min_sounding: float = MIN_SOUNDING_FRACTION) -> bool:
    return sounding_fraction(audio, sample_rate) < min_sounding


def sale_flac(audio: np.ndarray, sample_rate: int = SALE_SAMPLE_RATE) -> bytes:
    """24-bit FLAC bytes of `audio` [samples, channels]."""
    # Quantised here, to 24 bits in the top of an int32 as libsndfile expects: its own float conversion cost a
    # fifth of the encoding. The lowest compression level: 5 % larger files, a quarter less encoding time.
    pcm = np.left_shift(
        np.rint(np.clip(audio, -1.0, 1.0) * (2 ** (SALE_BIT_DEPTH - 1) - 1)).astype(np.int32), 32 - SALE_BIT_DEPTH
    )
    buffer = io.BytesIO()
    sf.write(buffer, pcm, sample_rate, format="FLAC", subtype=SALE_SUBTYPE, compression_level=0.0)
    return buffer.getvalue()
