"""Small pieces that cost far more to decode or render than their size suggests."""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf


def silent_flac(seconds: float, sample_rate: int = 8000) -> bytes:
    """`seconds` of digital silence: ten minutes are 14 KB."""
    buffer = io.BytesIO()
    with sf.SoundFile(buffer, "w", samplerate=sample_rate, channels=1, format="FLAC", subtype="PCM_16") as handle:
        block = np.zeros(sample_rate * 10, dtype=np.float32)
        for _ in range(int(seconds // 10)):
            handle.write(block)
    return buffer.getvalue()


def midi_lasting_days() -> bytes:
    """44 bytes: one tick per beat, 16.8 s per beat, one note 2^28 ticks long (about 52,000 days)."""
    track = bytes(
        [
            0x00,
            0xFF,
            0x51,
            0x03,
            0xFF,
            0xFF,
            0xFF,  # tempo: 16,777,215 us per quarter note
            0x00,
            0x90,
            0x3C,
            0x40,  # note on
            0xFF,
            0xFF,
            0xFF,
            0x7F,
            0x80,
            0x3C,
            0x40,  # 2^28 - 1 ticks later, note off
            0x00,
            0xFF,
            0x2F,
            0x00,
        ]
    )
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 1) + b"MTrk" + struct.pack(">I", len(track)) + track
