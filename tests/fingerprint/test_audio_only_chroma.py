"""The chroma level on recordings alone: corpus and query are audio with no score, so both sides' beats are
tracked (benchmarks/nearcopy/RESULTS-audio-only.md)."""

import functools

import numpy as np
import pytest

from fingerprint.engine import chroma, features, screen, transforms
from ledgerline.music.events import SAMPLE_RATE, Score
from ledgerline.music.render import render_midi
from tests.fingerprint.chorales import NAMES, UNRELATED, chorale

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
STRINGS_AND_REEDS = [41, 43, 68, 70]  # viola, contrabass, oboe, bassoon: no sharp onsets, strong harmonics


def _excerpt(name: str) -> Score:
    return transforms.bars(chorale(name), 0, 10)


@functools.cache
def _recording(name: str) -> features.Features:
    audio = render_midi(_excerpt(name).to_midi_bytes(), soundfont=SOUNDFONT)
    return features.extract(audio, SAMPLE_RATE)


def _query(score: Score) -> features.Features:
    return features.extract(render_midi(score.to_midi_bytes(), soundfont=SOUNDFONT), SAMPLE_RATE, query=True)


@pytest.fixture
def screener(tmp_path):
    items = {2 * i: _recording(name) for i, name in enumerate(NAMES[:3])}
    return screen.screener_of(items, tmp_path, levels=("chroma",))


def test_a_transposed_faster_copy_for_strings_and_reeds_is_found_in_audio_alone(screener):
    copy = transforms.reinstrument(
        transforms.change_tempo(transforms.transpose(_excerpt(NAMES[0]), 4), 1.18), STRINGS_AND_REEDS
    )
    verdict = screener.screen(_query(copy))
    found = [m for m in verdict.matches if m.key == 0 and m.level == "chroma"]
    assert verdict.verdict == "flag" and found and found[0].passed
    assert found[0].transpose == 4
    assert {m.key for m in verdict.matches} == {0}
    # the instruments' harmonics keep the score under the level's threshold: the long run of windows passes it
    assert found[0].score < screen.Thresholds().chroma_score
    assert found[0].evidence["windows"] >= screen.Thresholds().chroma_long_windows


def test_an_unrelated_chorale_in_audio_alone_is_not_flagged(screener):
    assert screener.screen(_query(_excerpt(UNRELATED))).verdict == "clear"


def test_a_long_run_of_agreeing_windows_passes_below_the_dtw_threshold_but_a_short_one_does_not():
    t = screen.Thresholds()
    assert t.passes("chroma", t.chroma_long_score, t.chroma_long_windows)
    assert not t.passes("chroma", t.chroma_long_score, t.chroma_long_windows - 1)
    assert not t.passes("chroma", t.chroma_long_score - 0.01, 100)
    assert t.passes("chroma", t.chroma_score, t.chroma_min_windows)


def test_the_query_is_also_read_on_the_off_beats():
    beats = np.arange(9) * 0.5
    grids = chroma.alternative_grids(beats)
    assert np.allclose(grids["mid"], beats[:-1] + 0.25)
    assert set(grids) == {"x1", "mid", "half", "double"}


def test_a_passage_that_starts_on_an_odd_beat_meets_a_stored_window_exactly():
    rng = np.random.default_rng(1)
    stored = chroma.BeatChroma(rng.random((12, 20)).astype(np.float32), np.arange(21) * 0.5)
    vectors, starts = chroma.windows(stored)  # every other beat
    quoted = chroma.BeatChroma(stored.chroma[:, 3:], stored.beat_times[3:])  # the quote begins on beat 3
    queries, first, transpose = chroma.rotated_windows(quoted)
    exact = (queries[transpose == 0] @ vectors.T) > 0.999
    assert exact.any(axis=1).sum() == np.sum(starts >= 3)
