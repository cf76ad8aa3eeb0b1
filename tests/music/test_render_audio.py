import numpy as np
import pytest
from django.conf import settings

from ledgerline.music.audio import CorruptFile, decode_audio, encode_preview, read_audio_bytes, write_flac, write_wav
from ledgerline.music.events import SAMPLE_RATE, Score, TrackInfo, make_notes, with_seconds
from ledgerline.music.render import mix, render_stems


@pytest.fixture(scope="module")
def score():
    melody = make_notes([(72, 0, 1), (74, 1, 1), (76, 2, 2)], track=0, program=0)
    bass = make_notes([(48, 0, 4)], track=1, program=32)
    return with_seconds(
        Score(
            notes=np.concatenate([melody, bass]), tracks=[TrackInfo("Piano", 0), TrackInfo("Bass", 32)], tempo_bpm=120
        )
    )


def test_stems_sum_exactly_to_the_mix(score):
    stems = render_stems(score, soundfont=settings.LEDGERLINE_SOUNDFONT)
    assert len(stems) == 2 and len(stems[0]) == len(stems[1])
    assert len(stems[0]) == pytest.approx((2.0 + 1.0) * SAMPLE_RATE, abs=2)
    scaled, total = mix(stems)
    np.testing.assert_allclose(scaled[0] + scaled[1], total, atol=1e-6)
    assert np.max(np.abs(total)) <= 1.0
    for stem in scaled:  # each instrument actually sounds
        assert np.sqrt(np.mean(stem**2)) > 1e-3


def test_flac_round_trip_and_preview(tmp_path):
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    path = tmp_path / "tone.flac"
    path.write_bytes(write_flac(tone))
    back = decode_audio(path)
    np.testing.assert_allclose(back, tone, atol=1e-3)
    assert len(encode_preview(tone)) < len(write_flac(tone))


def test_wav_at_another_rate_is_resampled_to_the_canonical_rate():
    stereo_44k = write_wav(np.zeros(44100, dtype=np.float32) + 0.1, sample_rate=44100)
    assert len(read_audio_bytes(stereo_44k, suffix=".wav")) == pytest.approx(SAMPLE_RATE, abs=2)


def test_wav_with_a_lying_header_is_corrupt():
    wav = bytearray(write_wav(np.zeros(SAMPLE_RATE, dtype=np.float32) + 0.1))
    truncated = bytes(wav[: len(wav) // 3])  # header still promises every frame
    with pytest.raises(CorruptFile):
        read_audio_bytes(truncated, suffix=".wav")


def test_random_bytes_are_not_audio():
    with pytest.raises(CorruptFile):
        read_audio_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk", suffix=".wav")


def test_a_preview_of_a_three_minute_track_encodes_without_crashing():
    # libsndfile's Vorbis writer overflowed the stack (segfault) when a long track was written in one call.
    from ledgerline.music.audio import encode_preview, read_audio_bytes

    audio = (np.random.default_rng(0).standard_normal(SAMPLE_RATE * 200) * 0.1).astype(np.float32)
    decoded = read_audio_bytes(encode_preview(audio), suffix=".ogg")
    assert abs(len(decoded) - len(audio)) < SAMPLE_RATE // 10
