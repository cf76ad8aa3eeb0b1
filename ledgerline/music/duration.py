"""What a piece will cost, known before it is decoded or rendered.

Work on a piece grows with its duration, not with its size in bytes: 40 KB of FLAC can hold ten minutes of
silence, and a 43-byte MIDI file can declare days of music that FluidSynth would then try to render. So the
duration is read from what is cheap (an audio file's header; a score's last note-off, known once it is
parsed) and checked against a limit before any decoding or rendering starts.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import tempfile

import numpy as np
import soundfile as sf

from .audio import CorruptFile, DurationError, check_wav_header, too_long
from .detect import SUFFIX, Format
from .events import Score
from .parse import parse_symbolic

__all__ = ["DurationError", "SILENCE_PEAK", "audio_duration_s", "check_audible", "check_duration"]

SILENCE_PEAK = 10 ** (-60 / 20)  # -60 dBFS: below this a whole piece holds nothing to hear or to fingerprint


def _ffprobe_duration_s(data: bytes, fmt: Format) -> float:
    ffprobe = shutil.which("ffprobe")
    if ffprobe is None:
        raise CorruptFile("cannot read this audio file's duration (ffprobe is not installed)")
    with tempfile.NamedTemporaryFile(suffix=SUFFIX[fmt]) as handle:
        handle.write(data)
        handle.flush()
        result = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", handle.name],
            capture_output=True,
            timeout=60,
        )
    try:
        return float(result.stdout.decode().strip())
    except ValueError:
        raise CorruptFile(f"cannot read audio: {result.stderr.decode(errors='replace').strip()[-200:]}") from None


def audio_duration_s(data: bytes, fmt: Format) -> float:
    """Seconds an audio file declares, from its header alone (nothing is decoded). 0.0 when it does not say."""
    check_wav_header(data)
    try:
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if fmt == Format.MP3:
            return _ffprobe_duration_s(data, fmt)
        raise CorruptFile(f"cannot decode audio: {exc}") from exc
    samplerate: int = info.samplerate
    frames: int = info.frames
    if samplerate <= 0:
        raise CorruptFile(f"audio header declares a sample rate of {samplerate} Hz")
    return max(frames, 0) / samplerate


def check_duration(data: bytes, fmt: Format, max_s: float, *, min_s: float = 0.0, score: Score | None = None) -> float:
    """The piece's duration in seconds, refused with `DurationError` outside [`min_s`, `max_s`].

    Audio: read from the header (`soundfile.info`; ffprobe for MP3 libsndfile cannot open), before decoding.
    Symbolic: the end of the last note of `score` (parsed from `data` when not given), before rendering.
    A header that does not state a length (a streamed FLAC) passes here; `decode_audio(max_s=...)` then stops
    reading at the limit.
    """
    if fmt.is_symbolic:
        if score is None:
            score = parse_symbolic(data, fmt)
        seconds = score.duration_s
    elif fmt.is_audio:
        seconds = audio_duration_s(data, fmt)
    else:
        raise DurationError(f"{fmt.value} is not a piece of music (archives are expanded first)")
    if seconds > max_s:
        raise too_long(seconds, max_s)
    if seconds < min_s and (seconds > 0 or fmt.is_symbolic):
        raise DurationError(f"the piece lasts {seconds:.1f} s, too short (at least {min_s:.1f} s)")
    return seconds


def check_audible(audio: np.ndarray) -> None:
    """Refuse decoded or rendered audio (`[samples]`, float in [-1, 1]) whose peak is below -60 dBFS."""
    if audio.size == 0 or float(np.max(np.abs(audio))) < SILENCE_PEAK:
        raise DurationError("the audio is silent (its loudest sample is below -60 dBFS)")
