"""Variant alignment (fingerprint.engine.align): real variants of a tune score high, other tunes of its style low."""

import numpy as np

from fingerprint.engine import melody, screen
from ledgerline.music import align
from ledgerline.music.events import make_notes

C, D, E, F, G, A, B = 60, 62, 64, 65, 67, 69, 71

# "Ode to Joy" (16 bars of 4/4: A A' B A'') as (pitch, beats) and "Twinkle, twinkle" (12 bars), both stepwise
# major-key tunes in quarter notes: the same style, different tunes.
ODE = [
    *[(E, 1), (E, 1), (F, 1), (G, 1), (G, 1), (F, 1), (E, 1), (D, 1), (C, 1), (C, 1), (D, 1), (E, 1)],
    *[(E, 1.5), (D, 0.5), (D, 2)],
    *[(E, 1), (E, 1), (F, 1), (G, 1), (G, 1), (F, 1), (E, 1), (D, 1), (C, 1), (C, 1), (D, 1), (E, 1)],
    *[(D, 1.5), (C, 0.5), (C, 2)],
    *[(D, 1), (D, 1), (E, 1), (C, 1), (D, 1), (E, 0.5), (F, 0.5), (E, 1), (C, 1)],
    *[(D, 1), (E, 0.5), (F, 0.5), (E, 1), (D, 1), (C, 1), (D, 1), (G - 12, 2)],
    *[(E, 1), (E, 1), (F, 1), (G, 1), (G, 1), (F, 1), (E, 1), (D, 1), (C, 1), (C, 1), (D, 1), (E, 1)],
    *[(D, 1.5), (C, 0.5), (C, 2)],
]
TWINKLE = [
    *[(C, 1), (C, 1), (G, 1), (G, 1), (A, 1), (A, 1), (G, 2), (F, 1), (F, 1), (E, 1), (E, 1), (D, 1), (D, 1), (C, 2)],
    *[(G, 1), (G, 1), (F, 1), (F, 1), (E, 1), (E, 1), (D, 2), (G, 1), (G, 1), (F, 1), (F, 1), (E, 1), (E, 1), (D, 2)],
    *[(C, 1), (C, 1), (G, 1), (G, 1), (A, 1), (A, 1), (G, 2), (F, 1), (F, 1), (E, 1), (E, 1), (D, 1), (D, 1), (C, 2)],
]


def _notes(tune: list[tuple[int, float]], *, transpose: int = 0) -> np.ndarray:
    starts = np.concatenate([[0.0], np.cumsum([beats for _, beats in tune])[:-1]])
    return make_notes(
        [(pitch + transpose, float(start), beats) for (pitch, beats), start in zip(tune, starts, strict=True)]
    )


def _variant(tune: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Another singer's version: passing notes between steps of a third and a neighbour note before a repeated
    note (on the off-beat), dotted pairs for even ones, the lowest note sung an octave up."""
    out: list[tuple[int, float]] = []
    for (pitch, beats), following in zip(tune, [*tune[1:], (None, 0)], strict=True):
        step = following[0] - pitch if following[0] is not None else 0
        if beats == 1 and abs(step) in (3, 4):
            out += [(pitch, 0.5), (pitch + step // 2, 0.5)]
        elif beats == 1 and step == 0:
            out += [(pitch, 0.75), (pitch + 2, 0.25)]
        elif beats == 0.5:
            out.append((pitch, 0.75 if len(out) % 2 == 0 else 0.25))
        else:
            out.append((pitch, beats))
    return [(pitch + 12 if pitch < C else pitch, beats) for pitch, beats in out]


def _line(notes: np.ndarray) -> np.ndarray:
    return melody.reduced_line(melody.melody_line(notes))[0]


def test_an_ornamented_dotted_variant_in_another_key_is_matched_and_another_tune_of_its_style_is_not():
    threshold = screen.Thresholds().melody_score
    original = _line(_notes(ODE))
    variant_notes = _notes(_variant(ODE), transpose=5)
    assert len(melody.melody_line(variant_notes)) > len(ODE) + 8  # the ornaments are there, note for note
    found = align.variant_similarity(_line(variant_notes), original)
    assert found.similarity >= threshold and found.transpose == 5
    assert found.equal >= screen.Thresholds().melody_min_beats
    other = align.variant_similarity(_line(_notes(TWINKLE, transpose=5)), original)
    assert other.similarity < threshold


def test_phrases_in_another_order_add_up_and_an_inserted_phrase_costs_about_one_gap():
    line = np.random.default_rng(0).choice([60, 62, 64, 65, 67, 69, 71, 72], 44)  # no phrase repeats in it
    swapped = np.concatenate([line[20:], line[:20]]) + 2  # the second half first: one alignment stops between
    whole = align.variant_similarity(swapped, line)
    single = align.variant_similarity(swapped, line, segments=1)
    assert whole.similarity == 1.0 and len(whole.segments) == 2 and whole.transpose == 2
    assert single.similarity < 0.6
    interlude = np.array([30, 90] * 8)  # sixteen beats the other line does not have
    inserted = align.variant_similarity(np.concatenate([line[:20], interlude, line[20:]]), line)
    assert inserted.equal == len(line) and inserted.similarity > 0.9
    assert align.variant_similarity(line, np.full(len(line), 40)).segments == []


def test_near_pitches_and_octaves_get_partial_credit_and_other_pitches_cost():
    line = np.array([60, 62, 64, 65, 67, 69, 71, 72] * 2)
    passing = line.copy()
    passing[3] += 1  # a semitone off on one beat: neutral
    octave = line.copy()
    octave[3] += 12
    wrong = line.copy()
    wrong[3] += 6
    scores = [align.variant_similarity(v, line, transpositions=[0]).similarity for v in (line, passing, octave, wrong)]
    assert scores[0] == 1.0 and scores[0] > scores[2] > scores[1] > scores[3]
