"""The audio sold is worth its price: 44.1 kHz stereo 24-bit FLAC, each stem loudness-normalised to the stated
target with true-peak headroom, and no loop that is mostly silence. Checked with soundfile and pyloudnorm on a
real split of a short (4-bar) track; the engine's measures are checked against pyloudnorm's own."""

from __future__ import annotations

import io

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
from django.conf import settings

from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.music.events import Score, TrackInfo, make_notes, with_seconds
from ledgerline.music.render import render_midi
from ledgerline.rendering import render_track_score
from ledgerline.storage import read_blob
from rights.market.engine import sale_audio
from rights.market.models import Asset
from rights.market.services.publishing import track_publish
from tests.rights.market import four_part_score, market_people

SR = sale_audio.SALE_SAMPLE_RATE


def _sparse_score() -> Score:
    """The market's four-part piece plus a fifth part, a woodblock that knocks once in four bars."""
    piece = four_part_score(bars=4)
    knock = make_notes([(76, 0.0, 0.25)], track=4, program=115, velocity=100)
    return with_seconds(
        Score(
            notes=np.concatenate([piece.notes, knock]),
            tracks=[*piece.tracks, TrackInfo("woodblock", 115)],
            tempo_bpm=120.0,
            time_signature=(4, 4),
            key="C major",
            title="Sparse piece",
        )
    )


@pytest.fixture
def split(db):
    market = market_people()
    score = _sparse_score()
    blobs = render_track_score(score)
    track = Track.objects.create(
        organisation=market.studio,
        created_by=market.creator,
        title=score.title,
        model=market.model,
        status=TrackStatus.CLEAR,
        midi_path=blobs["midi"].relpath,
        events_path=blobs["events"].relpath,
        audio_path=blobs["mix"].relpath,
        preview_path=blobs["preview"].relpath,
        stems=blobs["stems"],
        tempo_bpm=120.0,
        key="C major",
        time_signature="4/4",
        bars=4,
        duration_s=round(score.duration_s, 3),
        content_sha256=blobs["midi"].sha256,
        provenance={"mix_sha256": blobs["mix"].sha256},
    )
    return track_publish(user=market.creator, track=track)


def _sold(asset: Asset) -> tuple[np.ndarray, sf._SoundFileInfo]:
    data = read_blob(asset.path)
    return sf.read(io.BytesIO(data), dtype="float64", always_2d=True)[0], sf.info(io.BytesIO(data))


def test_loops_are_sold_as_loud_stereo_24_bit_flac_at_44_1_khz_and_never_mostly_silent(split):
    for stem in ("melody", "harmony", "bass", "drums", "mix"):
        asset = Asset.objects.get(track=split, stem=stem, start_bar=0, bars=4)
        audio, info = _sold(asset)
        assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_24", 44100, 2), stem
        assert (asset.sample_rate, asset.channels, asset.bit_depth) == (44100, 2, 24)
        assert audio.shape == (44100 * 8, 2)  # four bars of 4/4 at 120 bpm
        # The loop is the whole stem here, so its loudness is the stem's: the target, unless the true-peak
        # ceiling stopped the gain first (then the peak sits at the ceiling and the loop is quieter).
        loudness = pyloudnorm.Meter(SR).integrated_loudness(audio)
        peak = sale_audio.true_peak_dbtp(audio.astype(np.float32))
        assert peak <= sale_audio.TRUE_PEAK_CEILING_DBTP + 0.1, stem
        assert loudness == pytest.approx(sale_audio.TARGET_LUFS, abs=0.5) or (
            loudness < sale_audio.TARGET_LUFS and peak > sale_audio.TRUE_PEAK_CEILING_DBTP - 0.3
        ), (stem, loudness, peak)
        assert loudness > -20.0, stem  # not the −25 dBFS-peak stems this replaced
        assert asset.loudness_lufs == pytest.approx(loudness, abs=0.5)
        assert asset.true_peak_dbtp == pytest.approx(peak, abs=0.3)
        # Previews, waveforms and fingerprints stay on the mono analysis audio.
        assert sf.info(io.BytesIO(read_blob(asset.preview_path))).channels == 1

    # A loop that is mostly silence is not offered (one split serves both checks: a split costs a minute here).
    # One knock in four bars: its first bar sounds well above the old test (RMS over -50 dBFS), but for a tenth
    # of its time, so no loop of the woodblock is for sale.
    assert not Asset.objects.filter(track=split, stem="woodblock").exists()
    for asset in Asset.objects.filter(track=split):
        audio, _ = _sold(asset)
        assert sale_audio.sounding_fraction(audio, SR) >= sale_audio.MIN_SOUNDING_FRACTION, asset
    # The piece's other stems and the mix keep every loop (4 + 2 + 1 each).
    assert Asset.objects.filter(track=split).count() == 5 * 7


# --- the engine ----------------------------------------------------------------------------------------
def _tone(seconds: float, level: float, *, sr: int = SR) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    left = level * np.sin(2 * np.pi * 440 * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return np.stack([left, 0.8 * left], axis=1).astype(np.float32)


def test_loudness_is_pyloudnorms():
    audio = _tone(6.0, 0.3)
    audio[: SR * 2] *= 0.001  # a quiet stretch the gates must leave out
    assert sale_audio.integrated_loudness(audio, SR) == pytest.approx(
        pyloudnorm.Meter(SR).integrated_loudness(audio.astype(np.float64)), abs=1e-6
    )
    assert sale_audio.integrated_loudness(np.zeros((SR * 2, 2), dtype=np.float32), SR) == float("-inf")


def test_normalising_reaches_the_target_or_stops_at_the_true_peak_ceiling():
    quiet = sale_audio.loudness_normalise(_tone(4.0, 0.01), SR)
    assert sale_audio.integrated_loudness(quiet.audio, SR) == pytest.approx(sale_audio.TARGET_LUFS, abs=0.05)
    spiky = _tone(4.0, 0.01)
    spiky[SR, :] = 0.9  # one click: the gain that reaches the target would push it past full scale
    limited = sale_audio.loudness_normalise(spiky, SR)
    assert limited.true_peak_dbtp == pytest.approx(sale_audio.TRUE_PEAK_CEILING_DBTP, abs=0.01)
    assert sale_audio.true_peak_dbtp(limited.audio) == pytest.approx(sale_audio.TRUE_PEAK_CEILING_DBTP, abs=0.05)
    assert limited.loudness_lufs < sale_audio.TARGET_LUFS
    silence = sale_audio.loudness_normalise(np.zeros((SR, 2), dtype=np.float32), SR)
    assert silence.gain_db == 0.0 and not silence.audio.any()


def test_the_true_peak_sees_the_peak_between_samples():
    t = np.arange(SR) / SR
    # A quarter-sample-rate sine sampled 45° off its crests: every sample is at 0.707, the wave reaches 1.
    audio = np.sin(2 * np.pi * (SR / 4) * t + np.pi / 4).astype(np.float32)[:, None]
    assert 20 * np.log10(np.max(np.abs(audio))) == pytest.approx(-3.01, abs=0.01)
    assert sale_audio.true_peak_dbtp(audio) == pytest.approx(0.0, abs=0.3)


def test_sounding_fraction_counts_the_time_above_near_silence():
    audio = np.zeros((SR * 4, 2), dtype=np.float32)
    audio[:SR] = _tone(1.0, 0.3)
    assert sale_audio.sounding_fraction(audio, SR) == pytest.approx(0.25, abs=0.02)
    assert sale_audio.is_mostly_silent(audio, SR) and not sale_audio.is_mostly_silent(_tone(4.0, 0.3), SR)


def test_fluidsynth_renders_stereo_for_sale_and_mono_for_analysis():
    score = four_part_score(bars=1)
    midi = score.track_score(0).to_midi_bytes()
    stereo = render_midi(midi, soundfont=settings.LEDGERLINE_SOUNDFONT, sample_rate=SR, channels=2)
    mono = render_midi(midi, soundfont=settings.LEDGERLINE_SOUNDFONT)
    assert stereo.ndim == 2 and stereo.shape[1] == 2 and stereo.dtype == np.float32
    assert mono.ndim == 1 and len(stereo) == pytest.approx(2 * len(mono), abs=SR // 10)
    with pytest.raises(ValueError, match="1 or 2 channels"):
        render_midi(midi, soundfont=settings.LEDGERLINE_SOUNDFONT, channels=6)
