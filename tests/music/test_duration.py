"""A piece's cost is known from its header or its parsed score, before anything is decoded or rendered."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import soundfile as sf

from ledgerline.music.archive import ArchiveError, ArchiveLimits, ArchiveReport, iter_archive
from ledgerline.music.audio import CorruptFile, DurationError, decode_audio, write_wav
from ledgerline.music.detect import Format
from ledgerline.music.duration import check_audible, check_duration
from tests.music.pieces import midi_lasting_days, silent_flac


def test_ten_minutes_of_flac_are_refused_from_the_header_alone():
    data = silent_flac(600)
    assert len(data) < 40_000
    # Only the first 4 KB: the duration comes from the STREAMINFO header, nothing is decoded.
    with pytest.raises(DurationError, match="lasts 10 min, longer than the limit of 5 min"):
        check_duration(data[:4096], Format.FLAC, 300)
    assert check_duration(data, Format.FLAC, 900) == pytest.approx(600)


def test_a_tiny_midi_file_declaring_days_is_refused_before_rendering():
    data = midi_lasting_days()
    assert len(data) <= 44
    with pytest.raises(DurationError, match=r"lasts \d+ days, longer than the limit of 15 min"):
        check_duration(data, Format.MIDI, 900)


def test_a_piece_too_short_for_one_window_is_refused():
    tone = write_wav((0.3 * np.sin(np.arange(22050) / 10)).astype(np.float32))  # 1 s
    with pytest.raises(DurationError, match="lasts 1.0 s, too short"):
        check_duration(tone, Format.WAV, 600, min_s=5.0)
    assert check_duration(tone, Format.WAV, 600, min_s=0.5) == pytest.approx(1.0)


def test_silence_is_refused_and_sound_passes():
    with pytest.raises(DurationError, match="silent"):
        check_audible(np.zeros(22050, dtype=np.float32))
    with pytest.raises(DurationError, match="silent"):
        check_audible(np.full(22050, 1e-4, dtype=np.float32))
    check_audible(np.full(22050, 0.01, dtype=np.float32))


def test_a_damaged_header_is_a_corrupt_file_not_a_duration():
    with pytest.raises(CorruptFile, match="cannot decode"):
        check_duration(b"fLaC" + b"\x00" * 40, Format.FLAC, 600)


def test_decoding_stops_at_the_limit(tmp_path):
    path = tmp_path / "long.flac"
    path.write_bytes(silent_flac(120))
    with pytest.raises(DurationError, match="longer than the limit of 60.0 s"):
        decode_audio(path, max_s=60)
    assert len(decode_audio(path, max_s=130)) == 120 * 22050


def test_a_stereo_file_is_read_down_mixed_block_by_block(tmp_path):
    left = np.sin(np.arange(44100 * 3) / 20).astype(np.float32) * 0.5
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, -left * 0.5], axis=1), 44100, subtype="FLOAT")
    audio = decode_audio(path, sample_rate=44100)
    np.testing.assert_allclose(audio, left * 0.25, atol=1e-6)


def test_a_zip_with_too_many_members_is_refused_before_any_is_read():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index in range(30):
            archive.writestr(f"m{index}.txt", b"x")
    report = ArchiveReport()
    with pytest.raises(ArchiveError, match="30 members, more than the limit of 20"):
        next(iter_archive(buffer.getvalue(), Format.ZIP, ArchiveLimits(max_members=20), report))
    assert report.members_read == 0 and report.bytes_read == 0
