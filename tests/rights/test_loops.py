"""The loop engine alone (no database): bar grids (`ledgerline.music.grid`), sample-exact seamless loops,
silence, stems and thumbnails."""

import io
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ledgerline.music.events import SAMPLE_RATE, Score, TrackInfo, make_notes, with_seconds
from ledgerline.music.grid import BarGrid, grid_from_audio, grid_from_score
from ledgerline.music.render import mix, render_stems
from rights.market.engine import loops
from rights.market.engine.loops import (
    TooShort,
    cut_loops,
    is_silent,
    register_separator,
    separate,
    waveform_png,
    wrap_discontinuity,
)

SR = SAMPLE_RATE
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
CROSSFADE = round(0.010 * SR)  # cut_loops' default 10 ms

needs_fluidsynth = pytest.mark.skipif(not Path(SOUNDFONT).is_file(), reason="the GM soundfont is not installed")


def score_of(
    rows: list[tuple[int, float, float]],
    *,
    bpm: float = 100.0,
    time_signature=(4, 4),
    tempo_map=None,
    program: int = 0,
    is_drum: bool = False,
) -> Score:
    notes = make_notes(rows, program=program, is_drum=is_drum)
    return with_seconds(
        Score(
            notes=notes,
            tracks=[TrackInfo("Track", program, is_drum)],
            tempo_bpm=bpm,
            tempo_map=tempo_map or [],
            time_signature=time_signature,
        )
    )


def sine(freq: float, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(round(seconds * SR)) / SR)).astype(np.float32)


def bar_grid(bar_s: float, bars: int) -> BarGrid:
    return BarGrid(bar_lines_s=np.arange(bars + 1) * bar_s, beats_per_bar=4.0, tempo_bpm=240.0 / bar_s, method="score")


# --- grids from the score ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "time_signature, bpm, bar_s", [((4, 4), 100.0, 2.4), ((3, 4), 120.0, 1.5), ((6, 8), 90.0, 2.0)]
)
def test_score_bar_lines_fall_every_bar_exactly(time_signature, bpm, bar_s):
    beats_per_bar = time_signature[0] * 4 / time_signature[1]
    score = score_of(
        [(60 + beat % 12, beat, 1.0) for beat in range(int(8 * beats_per_bar))], bpm=bpm, time_signature=time_signature
    )
    grid = grid_from_score(score)
    assert grid.n_bars == 8 and grid.method == "score" and grid.beats_per_bar == beats_per_bar
    np.testing.assert_allclose(grid.bar_lines_s, np.arange(9) * bar_s, rtol=0, atol=1e-12)
    assert grid.tempo_bpm == pytest.approx(bpm)


def test_score_bar_lines_follow_a_tempo_change():
    score = score_of([(60, beat, 1.0) for beat in range(16)], tempo_map=[(0.0, 120.0), (8.0, 60.0)])
    grid = grid_from_score(score)
    np.testing.assert_allclose(grid.bar_lines_s, [0.0, 2.0, 4.0, 8.0, 12.0], rtol=0, atol=1e-12)
    assert grid.tempo_bpm == pytest.approx(80.0)  # 16 beats in 12 s


def test_a_partial_last_bar_counts_only_when_a_note_reaches_into_it():
    assert grid_from_score(score_of([(60, 0.0, 4.0), (62, 4.0, 4.0)])).n_bars == 2
    assert grid_from_score(score_of([(60, 0.0, 4.0), (62, 4.0, 4.5)])).n_bars == 3
    assert grid_from_score(score_of([(60, 0.0, 4.0)]), bars=5).n_bars == 5


def test_a_grid_refuses_bar_lines_that_do_not_increase():
    with pytest.raises(ValueError, match="strictly increasing"):
        BarGrid(bar_lines_s=np.array([0.0, 2.0, 2.0]), beats_per_bar=4.0, tempo_bpm=120.0, method="score")


# --- cutting -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rendered() -> tuple[Score, np.ndarray]:
    """8 bars at 97 bpm (a bar is 54556.7 samples, so rounding the bar lines matters): piano and bass."""
    piano = make_notes([(60 + (beat * 5) % 12, beat, 0.9) for beat in range(32)], track=0, program=0)
    bass = make_notes([(36 + bar % 5, bar * 4.0, 3.5) for bar in range(8)], track=1, program=33)
    score = with_seconds(
        Score(
            notes=np.concatenate([piano, bass]), tracks=[TrackInfo("Piano", 0), TrackInfo("Bass", 33)], tempo_bpm=97.0
        )
    )
    _stems, total = mix(render_stems(score, soundfont=SOUNDFONT))
    return score, total


@needs_fluidsynth
def test_eight_bars_give_8_4_2_1_loops_cut_on_the_nearest_sample_to_each_bar_line(rendered):
    score, audio = rendered
    grid = grid_from_score(score)
    cut = cut_loops(audio, SR, grid)
    assert Counter(loop.bars for loop in cut) == {1: 8, 2: 4, 4: 2, 8: 1}
    for loop in cut:
        assert loop.start_bar % loop.bars == 0
        assert loop.start_sample == round(grid.bar_lines_s[loop.start_bar] * SR)
        assert loop.end_sample == round(grid.bar_lines_s[loop.start_bar + loop.bars] * SR)
        assert loop.audio.dtype == np.float32 and len(loop.audio) == loop.end_sample - loop.start_sample
        assert loop.duration_s == pytest.approx(loop.bars * 240 / 97, abs=1 / SR)
        # Only the tail is faded: the attack on the bar line is the track's own audio, sample for sample.
        np.testing.assert_array_equal(loop.audio[:-CROSSFADE], audio[loop.start_sample : loop.end_sample - CROSSFADE])


def test_a_cut_sine_wraps_with_a_click_and_a_seamless_loop_without_one():
    bar = 52920  # 2.4 s, a 100 bpm bar
    freq = 250.25 * SR / bar  # a raw one-bar cut from phase 0 ends a quarter period early: a full-scale step
    audio = sine(freq, 8 * 2.4)
    assert wrap_discontinuity(audio[:bar]) > 20
    assert max(wrap_discontinuity(audio[start : start + bar]) for start in range(0, 8 * bar, bar)) > 20
    cut = cut_loops(audio, SR, bar_grid(2.4, 8), lengths=(1, 2, 4))
    assert len(cut) == 14
    for loop in cut:
        assert wrap_discontinuity(loop.audio) <= 1.5
        # The last sample is the one that preceded the bar line in the track (silence before the first one).
        assert loop.audio[-1] == pytest.approx(audio[loop.start_sample - 1] if loop.start_sample else 0.0, abs=1e-6)
        np.testing.assert_array_equal(loop.audio[:-CROSSFADE], audio[loop.start_sample : loop.end_sample - CROSSFADE])


def test_bars_of_silence_become_no_loop():
    rng = np.random.default_rng(7)
    audio = (0.2 * rng.standard_normal(8 * SR)).astype(np.float32)  # 8 bars of 1 s
    audio[2 * SR : 4 * SR] = 1e-4 * rng.standard_normal(2 * SR)  # bars 2-3 rest (-80 dBFS of hiss)
    cut = cut_loops(audio, SR, bar_grid(1.0, 8))
    starts = {(loop.bars, loop.start_bar) for loop in cut}
    assert {(1, 2), (1, 3), (2, 2)}.isdisjoint(starts)
    assert Counter(bars for bars, _ in starts) == {1: 6, 2: 3, 4: 2, 8: 1}


def test_silence_threshold_is_rms_in_dbfs():
    assert is_silent(sine(440, 0.5, amplitude=10 ** (-60 / 20) * np.sqrt(2)))  # -60 dBFS RMS
    assert not is_silent(sine(440, 0.5, amplitude=10 ** (-40 / 20) * np.sqrt(2)))  # -40 dBFS RMS
    assert is_silent(np.zeros(0, dtype=np.float32)) and wrap_discontinuity(np.zeros(100)) == 0.0


def test_audio_ending_a_few_ms_before_the_grid_is_padded_with_silence():
    audio = sine(220, 4.8)[:-100]
    cut = cut_loops(audio, SR, bar_grid(2.4, 2), lengths=(2,))
    assert len(cut) == 1 and len(cut[0].audio) == 2 * 52920


def test_audio_shorter_than_one_bar_is_too_short():
    with pytest.raises(TooShort, match=r"shorter than one bar \(1\.00 s; a bar lasts 2\.40 s\)"):
        cut_loops(sine(220, 1.0), SR, bar_grid(2.4, 4))
    with pytest.raises(TooShort, match="shorter than one bar"):
        cut_loops(sine(220, 5.0), SR, BarGrid(np.zeros(1), beats_per_bar=4.0, tempo_bpm=100.0, method="score"))


# --- grids from audio --------------------------------------------------------------------------------------
def click_track(*, bpm: float = 120.0, bars: int = 6, offset_s: float = 0.25) -> np.ndarray:
    """Clicks on every beat over a quiet hiss (never digital silence, as in a recording); the downbeat is louder."""
    rng = np.random.default_rng(3)
    audio = (0.003 * rng.standard_normal(round((offset_s + bars * 4 * 60 / bpm + 0.5) * SR))).astype(np.float32)
    click = rng.uniform(-1, 1, 600) * np.exp(-np.arange(600) / SR * 300)
    for beat in range(bars * 4):
        start = round((offset_s + beat * 60 / bpm) * SR)
        audio[start : start + 600] += (0.8 if beat % 4 == 0 else 0.2) * click
    return audio


def drum_pattern(*, bpm: float = 120.0, bars: int = 6) -> np.ndarray:
    """A rendered GM kit: kick and crash on one, kick on three, snare on two and four, closed hi-hat on eighths."""
    rows = [(42, bar * 4 + eighth / 2, 0.25) for bar in range(bars) for eighth in range(8)]
    rows += [(49, bar * 4.0, 1.0) for bar in range(bars)]
    rows += [(36, bar * 4 + beat, 0.5) for bar in range(bars) for beat in (0, 2)]
    rows += [(38, bar * 4 + beat, 0.5) for bar in range(bars) for beat in (1, 3)]
    score = score_of(rows, bpm=bpm, is_drum=True)
    _stems, total = mix(render_stems(score, soundfont=SOUNDFONT))
    # A lead-in, as in a real track: the tracker's first frame has no past to compare with.
    return np.concatenate([np.zeros(SR // 4, dtype=np.float32), total])


@pytest.mark.parametrize("make_audio", [click_track, pytest.param(drum_pattern, marks=needs_fluidsynth)])
def test_beat_tracking_finds_the_tempo_and_the_bar_lines(make_audio):
    grid = grid_from_audio(make_audio(), SR)
    assert grid.method == "beat-tracking" and grid.n_bars >= 4
    assert grid.tempo_bpm == pytest.approx(120.0, rel=0.02)
    truth = 0.25 + 2.0 * np.arange(8)
    assert np.all(np.min(np.abs(grid.bar_lines_s[:, None] - truth[None, :]), axis=1) < 0.05), grid.bar_lines_s


def test_silence_has_no_bars_and_no_loops():
    grid = grid_from_audio(np.zeros(3 * SR, dtype=np.float32), SR)
    assert grid.n_bars == 0
    with pytest.raises(TooShort):
        cut_loops(np.zeros(3 * SR, dtype=np.float32), SR, grid)


# --- separation --------------------------------------------------------------------------------------------
def test_hpss_puts_the_sine_in_the_harmonic_stem_and_the_clicks_in_the_percussive_one():
    tone = sine(440, 2.0, amplitude=0.3)
    clicks = np.zeros_like(tone)
    clicks[:: SR // 4] = 0.8
    stems = separate(tone + clicks, SR, method="hpss")
    assert set(stems) == {"harmonic", "percussive"} and all(len(s) == len(tone) for s in stems.values())

    def share(stem: np.ndarray, source: np.ndarray) -> float:  # how much of `source` the stem holds
        return float(np.dot(stem, source) / np.dot(source, source))

    assert share(stems["harmonic"], tone) > 0.8 and share(stems["percussive"], tone) < 0.2
    assert share(stems["percussive"], clicks) > 0.5 and share(stems["percussive"], clicks) > share(
        stems["harmonic"], clicks
    )


def test_nmf_components_keep_the_length_and_sum_back_to_the_mixture():
    audio = sine(110, 1.0) + sine(1760, 1.0, amplitude=0.2)
    stems = separate(audio, SR, method="nmf")
    assert list(stems) == ["component-1", "component-2", "component-3"]
    assert all(len(s) == len(audio) and s.dtype == np.float32 for s in stems.values())
    np.testing.assert_allclose(np.sum(list(stems.values()), axis=0), audio, atol=1e-3)


def test_an_unknown_separator_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="unknown separation method 'demucs'; choose one of: hpss, nmf"):
        separate(sine(440, 0.5), SR, method="demucs")


def test_a_registered_separator_is_called_and_its_stems_fit_the_input(monkeypatch):
    monkeypatch.setattr(loops, "SEPARATORS", dict(loops.SEPARATORS))
    register_separator("halves", lambda audio, sr: {"a": audio[:-10] / 2, "b": audio / 2})
    audio = sine(440, 0.5)
    stems = separate(audio, SR, method="halves")
    assert [len(s) for s in stems.values()] == [len(audio), len(audio)]
    np.testing.assert_array_equal(stems["b"], audio / 2)
    assert np.all(stems["a"][-10:] == 0)


# --- thumbnails --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width, height", [(600, 90), (333, 77)])
def test_waveform_is_a_png_of_the_requested_size(width, height):
    png = waveform_png(sine(3, 2.0) * np.linspace(0, 1, 2 * SR, dtype=np.float32), SR, width=width, height=height)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.size == (width, height)
    assert len(set(image.convert("L").getdata())) > 1  # something is drawn


def test_waveform_of_audio_shorter_than_the_width_or_empty_still_draws():
    for audio in (np.array([0.5, -0.5, 0.2], dtype=np.float32), np.zeros(0, dtype=np.float32)):
        assert Image.open(io.BytesIO(waveform_png(audio, SR, width=50, height=20))).size == (50, 20)
