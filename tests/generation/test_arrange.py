"""Arrangements that fit the style (SATB voice leading, drums only when the corpus has them), prompts and
regeneration from a bar, in the engine (no Django, no services)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generation.engine import tokens as tok
from generation.engine.arrange import (
    corpus_style,
    default_arrangement,
    fit_soprano_range,
    harmonise_satb,
    satb_per_beat,
    voice_leading_errors,
)
from generation.engine.markov import MarkovHarmony, score_key
from generation.engine.models import get_model
from generation.engine.sample import generate_piece
from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo
from tests.fingerprint.chorales import NAMES, chorale


@pytest.fixture(scope="module")
def chorales() -> list[Score]:
    pytest.importorskip("music21")
    return [chorale(name) for name in NAMES]


@pytest.fixture(scope="module")
def markov(chorales: list[Score]) -> MarkovHarmony:
    return MarkovHarmony().fit(chorales[3:])


def soprano(score: Score) -> np.ndarray:
    notes = score.notes[~score.notes["is_drum"]]
    top = max(np.unique(notes["track"]), key=lambda t: notes["pitch"][notes["track"] == t].mean())
    return notes[notes["track"] == top]


def no_errors(grid: np.ndarray) -> dict[str, float]:
    errors = voice_leading_errors(grid)
    return {k: v for k, v in errors.items() if k in ("parallel_fifths", "parallel_octaves", "crossing") and v}


def test_satb_harmonisation_of_chorale_melodies_has_no_parallel_fifths_octaves_or_crossings(chorales, markov):
    for index, piece in enumerate(chorales[:3]):
        bars = int(np.ceil(piece.duration_beats / piece.bar_beats - 1e-9))
        voices, chords = harmonise_satb(
            fit_soprano_range(soprano(piece)),
            markov.harmonise,
            key=score_key(piece),
            rng=np.random.default_rng(index),
            bars=bars,
            time_signature=piece.time_signature,
        )
        grid = np.array(voices.voicings)
        assert len(chords) == len(grid) == bars * piece.time_signature[0]
        errors = voice_leading_errors(grid)
        assert errors["chords"] > 20 and not no_errors(grid), errors
        assert errors["range"] == 0, errors


def test_generated_satb_piece_has_four_voices_and_clean_voice_leading(markov):
    for seed in range(3):
        score, stats = generate_piece(None, tok.VOCAB, markov, bars=8, tempo=90, key="F", seed=seed, arrangement="satb")
        assert [t.name for t in score.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
        assert not any(t.is_drum for t in score.tracks) and stats["drums"] is False
        assert not no_errors(satb_per_beat(score))


def test_the_voice_leading_measure_counts_parallel_fifths_octaves_and_crossings():
    grid = np.array([[72, 67, 60, 48], [74, 69, 62, 50], [76, 71, 64, 52], [60, 65, 55, 40]])
    errors = voice_leading_errors(grid)
    # Every pair moves in parallel: S-T and A-B octaves/fifths... counted per step and per pair.
    assert errors["parallel_fifths"] > 0 and errors["parallel_octaves"] > 0 and errors["crossing"] == 1


def test_chorales_default_to_satb_and_a_corpus_with_drums_to_band_with_drums(chorales):
    style = corpus_style(chorales)
    assert style.chorale_like and not style.has_drums and default_arrangement(style) == "satb"
    band = [
        Score(
            notes=np.array(
                [(60, 90, 0, False, 0, 0.0, 1.0, 0, 0), (36, 90, 0, True, 1, 0.0, 0.25, 0, 0)], dtype=NOTE_DTYPE
            ),
            tracks=[TrackInfo("Lead", 0), TrackInfo("Drums", 0, True)],
        )
    ]
    style = corpus_style(band)
    assert not style.chorale_like and style.has_drums and default_arrangement(style) == "band"
    assert default_arrangement(None) == "band"


def test_band_arrangement_has_drums_only_when_asked(markov):
    with_drums, _ = generate_piece(None, tok.VOCAB, markov, bars=2, tempo=100, key="C", drums=True)
    without, stats = generate_piece(None, tok.VOCAB, markov, bars=2, tempo=100, key="C", drums=False)
    assert with_drums.tracks[-1].is_drum and with_drums.notes["is_drum"].any()
    assert not any(t.is_drum for t in without.tracks) and not without.notes["is_drum"].any()
    assert stats["arrangement"] == "band" and stats["drums"] is False
    with pytest.raises(ValueError, match="unknown arrangement 'orchestra'"):
        generate_piece(None, tok.VOCAB, markov, bars=2, tempo=100, key="C", arrangement="orchestra")


def _prompt() -> np.ndarray:
    rows = [(67, 80, 0, False, 0, float(i), 1.0, 0.0, 0.0) for i in range(4)]
    rows += [(69, 80, 0, False, 0, 4.0, 2.0, 0.0, 0.0), (71, 80, 0, False, 0, 6.5, 0.5, 0.0, 0.0)]
    return np.array(rows, dtype=NOTE_DTYPE)


@pytest.mark.parametrize("arrangement", ["satb", "band"])
def test_a_prompt_is_continued_and_its_notes_kept(markov, arrangement):
    torch.manual_seed(0)
    net = get_model("lstm", {"size": "debug"}, tok.VOCAB.size)
    prompt = _prompt()
    score, stats = generate_piece(
        net, tok.VOCAB, markov, bars=4, tempo=100, key="G", seed=3, prompt=prompt, arrangement=arrangement
    )
    melody = np.sort(score.notes[score.notes["track"] == 0], order="start")
    kept = melody[melody["start"] < 8.0]
    assert [(int(n["pitch"]), float(n["start"]), float(n["duration"])) for n in kept] == [
        (int(n["pitch"]), float(n["start"]), float(n["duration"])) for n in prompt
    ]
    assert stats["prompt_bars"] == 2 and score.duration_beats == pytest.approx(16.0, abs=0.01)
    with pytest.raises(ValueError, match="the prompt fills 2 bar"):
        generate_piece(net, tok.VOCAB, markov, bars=2, tempo=100, key="G", prompt=prompt)


def _midi_notes_before(score: Score, boundary: float) -> list[tuple]:
    parsed = Score.from_midi_bytes(score.to_midi_bytes())
    return sorted(
        (int(n["track"]), float(n["start"]), int(n["pitch"]), int(n["velocity"]), float(n["duration"]))
        for n in parsed.notes
        if n["start"] < boundary
    )


@pytest.mark.parametrize("arrangement", ["satb", "band"])
def test_regenerating_from_a_bar_keeps_the_earlier_bars_identical(markov, arrangement):
    torch.manual_seed(0)
    net = get_model("lstm", {"size": "debug"}, tok.VOCAB.size)
    source, _ = generate_piece(None, tok.VOCAB, markov, bars=6, tempo=100, key="D", seed=1, arrangement=arrangement)
    boundary = 3 * source.bar_beats  # regenerate from bar 4: bars 1-3 kept
    melody = source.notes[(source.notes["track"] == 0) & (source.notes["start"] < boundary)]
    again, stats = generate_piece(
        net, tok.VOCAB, markov, bars=6, tempo=100, key="D", seed=2, arrangement=arrangement,
        prompt=melody, prompt_bars=3, keep=source,
    )  # fmt: skip
    # Notes sounding across the seam end at it (the new bars own what sounds from there), nothing else moves.
    clipped = Score(notes=source.notes.copy(), tracks=source.tracks, tempo_bpm=source.tempo_bpm)
    ends = np.minimum(clipped.notes["start"] + clipped.notes["duration"], boundary)
    clipped.notes["duration"] = np.where(clipped.notes["start"] < boundary, ends - clipped.notes["start"], 1.0)
    assert _midi_notes_before(again, boundary) == _midi_notes_before(clipped, boundary)
    assert _midi_notes_before(again, 6 * source.bar_beats) != _midi_notes_before(source, 6 * source.bar_beats)
    assert stats["prompt_bars"] == 3 and [t.name for t in again.tracks] == [t.name for t in source.tracks]
    if arrangement == "satb":
        # The voicing search continues from the kept voicings (the debug network's melody is noise, so the
        # seam is checked under a random-walk continuation).
        walked, _ = generate_piece(
            None, tok.VOCAB, markov, bars=6, tempo=100, key="D", seed=2, arrangement=arrangement,
            prompt=melody, prompt_bars=3, keep=source,
        )  # fmt: skip
        assert not no_errors(satb_per_beat(walked)[int(boundary) - 1 : int(boundary) + 1])


class _TwoPitches(torch.nn.Module):
    """Logits [1, time, vocab]: PITCH_60 a little likelier than PITCH_61, and one DURATION; nothing else."""

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        logits = torch.full((1, tokens.shape[1], tok.VOCAB.size), float("-inf"))
        logits[..., tok.VOCAB.pitch(60)] = 1.0
        logits[..., tok.VOCAB.pitch(61)] = 0.0
        logits[..., tok.VOCAB.duration(4)] = 0.5
        return logits


def test_pitch_temperature_sharpens_only_the_choice_of_pitch():
    from generation.engine.sample import sample

    model = _TwoPitches()

    def drawn(**options) -> tuple[set[int], int]:
        tokens = sample(model, tok.VOCAB, [tok.VOCAB.bos], 400, 1.0, seed=4, **options).tokens[1:]
        pitches = {t - tok.VOCAB.pitch_offset for t in tokens if tok.VOCAB.is_pitch(t)}
        return pitches, sum(tok.VOCAB.is_duration(t) for t in tokens)

    plain_pitches, plain_durations = drawn()
    sharp_pitches, sharp_durations = drawn(pitch_temperature=0.05)
    assert plain_pitches == {60, 61} and sharp_pitches == {60}
    # Durations still compete with pitches at the full temperature: their share hardly moves.
    assert abs(sharp_durations - plain_durations) < 60
    with pytest.raises(ValueError, match="pitch_temperature must be > 0"):
        drawn(pitch_temperature=0.0)


@pytest.fixture(scope="module")
def debug_lstm(chorales: list[Score]) -> torch.nn.Module:
    """A debug-size LSTM trained for a few seconds on the chorale melodies: it writes notes and rhythm, but its
    pitches still wander out of key."""
    from generation.engine.train import train

    torch.manual_seed(0)
    model = get_model("lstm", {"size": "debug"}, tok.VOCAB.size)
    train(model, [tok.encode_melody(s) for s in chorales], epochs=5, batch_size=6, lr=1e-2, seq_len=128, seed=0)
    return model.eval()


def _in_key_share(model: torch.nn.Module, markov: MarkovHarmony, **options) -> float:
    from generation.engine.stats import melody_stats

    ratios = []
    for seed in range(4):
        score, stats = generate_piece(
            model, tok.VOCAB, markov, bars=8, tempo=100, key="C", seed=seed, pitch_temperature_scale=1.0, **options
        )
        melody = score.notes[score.notes["track"] == 0]
        ratios.append(melody_stats(melody, key=stats["key"], bar_beats=score.bar_beats)["in_key_ratio"])
    return float(np.mean(ratios))


def test_out_of_key_penalty_raises_the_in_key_share_of_a_debug_model(debug_lstm, markov):
    free = _in_key_share(debug_lstm, markov, out_of_key_penalty=1.0)
    weighed = _in_key_share(debug_lstm, markov, out_of_key_penalty=0.1)
    fixed = _in_key_share(debug_lstm, markov, out_of_key_penalty=0.1, follow_key=False)
    assert free < 0.7, "the debug model should leave the key often enough for the test to mean something"
    assert weighed > free + 0.05 and fixed > free + 0.05


def test_key_bias_weighs_only_out_of_key_pitches_and_keeps_the_pitch_mass():
    from generation.engine.markov import parse_key
    from generation.engine.sample import KeyBias, sample

    bias = KeyBias(key=parse_key("Am"), penalty=0.25, follow=False)
    weights = bias.log_weights([], 128)
    # A minor counts its raised 6th and 7th (F#, G#) in key; C# and D# are out.
    assert weights[69] == weights[66] == weights[68] == 0.0
    assert torch.isclose(weights[61], torch.log(torch.tensor(0.25))) and weights[63] == weights[61]
    # Following the melody: after a run in G major (F#), the key of the penalty is G, not the request's C.
    follow = KeyBias(key=parse_key("C"), penalty=0.25)
    assert follow.key_for([67, 69, 71, 72, 74, 66, 67]).name == "G" and follow.key_for([67, 66]).name == "C"
    with pytest.raises(ValueError, match="out_of_key_penalty must be in"):
        KeyBias(key=parse_key("C"), penalty=0.0)
    # Pitches compete with durations as before: only the choice among pitches moves.
    tokens = sample(_TwoPitches(), tok.VOCAB, [tok.VOCAB.bos], 400, seed=4, key_bias=bias).tokens[1:]
    plain = sample(_TwoPitches(), tok.VOCAB, [tok.VOCAB.bos], 400, seed=4).tokens[1:]
    assert abs(sum(map(tok.VOCAB.is_duration, tokens)) - sum(map(tok.VOCAB.is_duration, plain))) < 60
    drawn = [t - tok.VOCAB.pitch_offset for t in tokens if tok.VOCAB.is_pitch(t)]
    assert drawn.count(61) < drawn.count(60) / 4  # C# (out of A minor): e^-1 of C before, a quarter of that now


def test_motif_bias_pulls_toward_the_contour_of_the_latest_matching_bar():
    from generation.engine.sample import MotifBias

    bias = MotifBias(4.0)
    earlier, bars = [60, 62, 61], [1, 1, 1]  # bar 1 goes up, then down
    # One note into bar 2: the latest bar with a next step (bar 1) goes up, so the pitches above 70 are pulled.
    weights = bias.log_weights(earlier + [70], bars + [2], 2, 128)
    assert (weights[71:] > 0).all() and (weights[:71] == 0).all()
    # Up so far, as bar 1 was: then down.
    weights = bias.log_weights(earlier + [70, 72], bars + [2, 2], 2, 128)
    assert (weights[:72] > 0).all() and (weights[72:] == 0).all()
    # Down so far: no earlier bar matches, nothing is pulled; nor in a bar with no note yet.
    assert not bias.log_weights(earlier + [70, 69], bars + [2, 2], 2, 128).any()
    assert not bias.log_weights(earlier, bars, 2, 128).any()
    with pytest.raises(ValueError, match="motif_strength must be >= 1"):
        MotifBias(0.5)


def test_rhythm_bias_pulls_toward_the_rhythm_of_the_latest_matching_bar():
    from generation.engine.sample import RhythmBias, _RhythmTracker

    v = tok.VOCAB
    tracker = _RhythmTracker()
    # Bar 1: quarter, quarter, half (onsets 0, 4, 8 in sixteenths); bar 2 so far: a quarter at 0.
    for token in [v.bos, v.bar, v.position(0), v.pitch(60), v.duration(4), v.position(4), v.pitch(62)]:
        tracker.advance(v, token, 0)
    for token in [v.duration(4), v.position(8), v.pitch(64), v.duration(8), v.bar, v.position(0), v.pitch(65)]:
        tracker.advance(v, token, 0)
    bias = RhythmBias(4.0)
    assert tracker.target(v, bias, v.pitch(65)) == v.duration(4)  # the note at onset 0 lasted a quarter
    tracker.advance(v, v.duration(4), 0)
    assert tracker.target(v, bias, v.duration(4)) == v.position(4)  # then came an onset at 4
    for token in [v.position(4), v.pitch(67), v.duration(2)]:  # an eighth: bar 1 no longer matches
        tracker.advance(v, token, 0)
    assert tracker.target(v, bias, v.duration(2)) is None
    assert tracker.target(v, bias, v.position(4)) is None  # a pitch comes next: not a rhythm decision
    with pytest.raises(ValueError, match="rhythm_strength must be >= 1"):
        RhythmBias(0.5)
