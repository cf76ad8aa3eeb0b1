"""Decoding audio to the canonical form (mono float32 at SAMPLE_RATE) and encoding stored audio."""

from __future__ import annotations

import hashlib
import io
import shutil
import struct
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .events import SAMPLE_RATE

MIN_DURATION_S = 0.05


class CorruptFile(ValueError):
    """A file that claims a format but cannot be read as it. The message says why, for the user."""


class DurationError(CorruptFile):
    """A piece too long, too short or silent for the work asked of it. The message says which, for the user."""


def too_long(seconds: float, max_s: float) -> DurationError:
    return DurationError(f"the piece lasts {seconds_text(seconds)}, longer than the limit of {seconds_text(max_s)}")


def seconds_text(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 3 * 86400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 86400:.0f} days"


def _resample(audio: np.ndarray, sr: int, target: int) -> np.ndarray:
    if sr == target:
        return audio.astype(np.float32)
    import soxr

    resampled: np.ndarray = soxr.resample(audio, sr, target)  # soxr is untyped: [samples] or [samples, channels]
    return resampled.astype(np.float32)


def _decode_with_ffmpeg(path: Path, sample_rate: int, max_s: float | None) -> np.ndarray:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise CorruptFile("cannot decode this audio file (ffmpeg is not installed)")
    # One second past the limit is enough to tell that a file is longer, and bounds what ffmpeg hands back.
    limit = [] if max_s is None else ["-t", f"{max_s + 1:.3f}"]
    result = subprocess.run(
        [
            ffmpeg,
            "-v",
            "error",
            "-nostdin",
            "-i",
            str(path),
            *limit,
            "-ac",
            "1",
            "-ar",
            str(sample_rate),
            "-f",
            "f32le",
            "-",
        ],
        capture_output=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise CorruptFile(f"cannot decode audio: {result.stderr.decode(errors='replace').strip()[-200:]}")
    return np.frombuffer(result.stdout, dtype=np.float32).copy()


_READ_BLOCK = 1 << 18


def _read_mono(path: Path, max_frames: int | None) -> np.ndarray:
    """Read up to `max_frames` frames block by block, down-mixed as it goes: a long stereo file is never
    held whole at float32 across its channels, and a header that does not state a length cannot make the
    reader go on past the limit."""
    blocks: list[np.ndarray] = []
    read = 0
    with sf.SoundFile(str(path)) as handle:
        while max_frames is None or read < max_frames:
            size = _READ_BLOCK if max_frames is None else min(_READ_BLOCK, max_frames - read)
            block = handle.read(size, dtype="float32", always_2d=True)
            if len(block) == 0:
                break
            blocks.append(block.mean(axis=1, dtype=np.float32))
            read += len(block)
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.float32)


def check_wav_header(data: bytes, file_size: int | None = None) -> None:
    """A RIFF/WAVE header states its sizes; libsndfile quietly reads what is there, so compare them ourselves."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return
    size = len(data) if file_size is None else file_size
    riff_size = int.from_bytes(data[4:8], "little")
    if riff_size + 8 > size + 1:  # +1: a final pad byte may be missing
        raise CorruptFile(
            f"WAV header declares {riff_size + 8} bytes but the file has {size} (truncated or lying header)"
        )
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, chunk_size = data[offset : offset + 4], int.from_bytes(data[offset + 4 : offset + 8], "little")
        if chunk_id == b"data":
            if offset + 8 + chunk_size > size:
                raise CorruptFile(f"WAV data chunk declares {chunk_size} bytes but only {size - offset - 8} follow")
            return
        offset += 8 + chunk_size + (chunk_size & 1)
    raise CorruptFile("WAV file has no data chunk")


def decode_audio(path: Path, *, sample_rate: int = SAMPLE_RATE, max_s: float | None = None) -> np.ndarray:
    """Decode WAV/FLAC/OGG/MP3 at `path` to mono float32 at `sample_rate`.

    Raises CorruptFile for an undecodable file, a header that promises more frames than the file holds,
    silence of zero length, or a non-finite sample; DurationError, before decoding, for a header that
    declares more than `max_s` seconds, and after reading one block past `max_s` for a file whose header
    does not say how long it is.
    """
    with open(path, "rb") as handle:
        check_wav_header(handle.read(1 << 16), path.stat().st_size)
    try:
        info = sf.info(str(path))
        if max_s is not None and info.samplerate > 0 and info.frames > max_s * info.samplerate:
            raise too_long(info.frames / info.samplerate, max_s)
        max_frames = None if max_s is None else int(max_s * info.samplerate) + 1
        audio, sr = _read_mono(path, max_frames), info.samplerate
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        if path.suffix.lower() == ".mp3" or "MPEG" in str(exc):
            audio = _decode_with_ffmpeg(path, sample_rate, max_s)
            sr = sample_rate
        else:
            raise CorruptFile(f"cannot decode audio: {exc}") from exc
    else:
        if info.frames > 0 and len(audio) < info.frames:
            raise CorruptFile(f"truncated audio: header promises {info.frames} frames, file holds {len(audio)}")
    if max_s is not None and len(audio) > max_s * sr:
        raise too_long(len(audio) / sr, max_s)
    if len(audio) < MIN_DURATION_S * sr:
        raise CorruptFile(f"audio is too short ({len(audio) / max(sr, 1):.3f} s)")
    if not np.all(np.isfinite(audio)):
        raise CorruptFile("audio contains non-finite samples")
    return _resample(audio, sr, sample_rate)


def write_flac(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, format="FLAC", subtype="PCM_16")
    return buffer.getvalue()


def write_wav(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, np.clip(audio, -1.0, 1.0), sample_rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


_OGG_BLOCK = 1 << 16


def encode_preview(audio: np.ndarray, *, sample_rate: int = SAMPLE_RATE, quality: float = 0.1) -> bytes:
    """A small Ogg Vorbis preview (low quality setting)."""
    buffer = io.BytesIO()
    clipped = np.clip(audio, -1.0, 1.0)
    with sf.SoundFile(
        buffer, "w", samplerate=sample_rate, channels=1, format="OGG", subtype="VORBIS", compression_level=1.0 - quality
    ) as handle:
        # libsndfile's Vorbis writer uses stack space in proportion to one write: a 3-minute track written at
        # once overflows the stack (segfault), so it goes in blocks.
        for start in range(0, len(clipped), _OGG_BLOCK):
            handle.write(clipped[start : start + _OGG_BLOCK])
    # libsndfile draws the Ogg stream's serial number at random, the one byte-level difference between two
    # encodings of the same audio: it is derived from the audio instead, so equal inputs give equal files.
    serial = int.from_bytes(hashlib.sha256(clipped.astype("<f4").tobytes()).digest()[:4], "little")
    return ogg_with_serial(buffer.getvalue(), serial)


def _ogg_crc_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
        table.append(crc & 0xFFFFFFFF)
    return table


_OGG_CRC = _ogg_crc_table()


def _ogg_crc(page: bytes) -> int:
    """The Ogg page checksum (CRC-32, polynomial 0x04C11DB7, not reflected, initial value 0; RFC 3533)."""
    crc = 0
    for byte in page:
        crc = ((crc << 8) & 0xFFFFFFFF) ^ _OGG_CRC[((crc >> 24) ^ byte) & 0xFF]
    return crc


def ogg_with_serial(data: bytes, serial: int) -> bytes:
    """The same Ogg stream with every page's serial number set to `serial` and its checksum recomputed."""
    out = bytearray(data)
    position = 0
    while position + 27 <= len(out):
        if out[position : position + 4] != b"OggS":
            raise ValueError(f"not an Ogg page at byte {position}")
        segments = out[position + 26]
        body = sum(out[position + 27 : position + 27 + segments])
        end = position + 27 + segments + body
        out[position + 14 : position + 18] = struct.pack("<I", serial)
        out[position + 22 : position + 26] = b"\0\0\0\0"
        out[position + 22 : position + 26] = struct.pack("<I", _ogg_crc(bytes(out[position:end])))
        position = end
    return bytes(out)


def read_audio_bytes(
    data: bytes, *, suffix: str, sample_rate: int = SAMPLE_RATE, max_s: float | None = None
) -> np.ndarray:
    """`decode_audio` for bytes in memory (written to a temporary file so every decoder can read them)."""
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        return decode_audio(Path(handle.name), sample_rate=sample_rate, max_s=max_s)
