"""The anti-copy guard's beat-line check (issue 16 §5): the note n-grams miss a tune that keeps a training melody's
notes on the beat and changes what lies between them; the beat-line check catches it, the sampler draws such a
bar again, and the guard file keeps the lines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fingerprint.engine.screen import Thresholds
from generation.engine import anticopy
from generation.engine.anticopy import NgramGuard
from generation.engine.models import get_model
from generation.engine.sample import sample
from generation.engine.tokens import VOCAB, melody_notes, melody_pitches
from generation.engine.train import train

# A 32-beat tune (eight bars of quarter notes), stepwise and leaping like a chorale line, no bar repeated.
TUNE = [67, 69, 71, 67, 72, 71, 69, 67, 64, 65, 67, 69, 67, 65, 64, 62]
TUNE += [60, 64, 67, 72, 71, 69, 71, 72, 74, 72, 71, 69, 67, 66, 67, 60]


def _tokens(notes: list[tuple[int, int, int]], role_notes: list[tuple[int, int, int]] = ()) -> list[int]:
    """Tokens of (onset step, pitch, duration steps) melody notes, 16 steps a bar, with optional role-1 notes."""
    events = sorted([(o, 0, p, d) for o, p, d in notes] + [(o, 1, p, d) for o, p, d in role_notes])
    tokens, bar, position, role = [VOCAB.bos], -1, -1, 0
    for onset, track, pitch, duration in events:
        while bar < onset // 16:
            tokens.append(VOCAB.bar)
            bar, position, role = bar + 1, -1, 0
        if onset % 16 != position:
            tokens.append(VOCAB.position(onset % 16))
            position, role = onset % 16, 0
        if track != role:
            tokens.append(VOCAB.track(track))
            role = track
        tokens += [VOCAB.pitch(pitch), VOCAB.duration(duration)]
    return [*tokens, VOCAB.eos]


def _quarters(pitches: list[int], shift: int = 0) -> list[tuple[int, int, int]]:
    return [(4 * i, p + shift, 4) for i, p in enumerate(pitches)]


def _guard(n: int = 10, **lines) -> NgramGuard:
    guard = NgramGuard(n, **lines)
    guard.add_pitches(TUNE)
    guard.add_line(np.arange(len(TUNE), dtype=np.float64), np.array(TUNE), float(len(TUNE)))
    return guard


def test_melody_notes_reads_onsets_in_beats_keeps_the_top_note_and_skips_other_roles():
    tokens = _tokens([(0, 60, 4), (0, 55, 4), (6, 62, 2), (20, 64, 4)], role_notes=[(4, 40, 4)])
    onsets, pitches, end = melody_notes(tokens)
    assert onsets.tolist() == [0.0, 1.5, 5.0] and pitches.tolist() == [60, 62, 64] and end == 8.0
    assert melody_notes([VOCAB.bos, VOCAB.eos])[0].size == 0


def test_the_line_check_catches_a_variant_the_note_ngrams_miss():
    guard = _guard()
    # Transposed, with a passing note between every pair of beats: no 10-interval run of the tune survives.
    notes = []
    for i, pitch in enumerate(TUNE):
        notes += [(4 * i, pitch + 5, 2), (4 * i + 2, pitch + 5 + (1 if i % 2 else -2), 2)]
    variant = _tokens(notes)
    assert guard.copied_ngrams(melody_pitches(variant)) == 0
    assert guard.copies_line(*melody_notes(variant))
    # The tune's first five bars alone: 20 beats, at the guard's length.
    assert guard.copies_line(*melody_notes(_tokens(_quarters(TUNE[:20], shift=-3))))
    assert not guard.copies_line(*melody_notes(_tokens(_quarters(TUNE[:19]))))  # too short to count
    rng = np.random.default_rng(0)
    other = (60 + np.cumsum(rng.choice([-2, -1, 1, 2, 3, -3], 32))).tolist()
    assert not guard.copies_line(*melody_notes(_tokens(_quarters(other))))


def test_the_guard_stays_below_the_screenings_melody_level():
    """What the guard lets through must not sit at the edge of a flag: its bar is lower than the screening's."""
    screening = Thresholds()
    assert anticopy.LINE_SCORE < screening.melody_score and anticopy.LINE_BEATS < screening.melody_min_beats


def test_the_guard_file_keeps_its_lines_and_reads_the_old_format():
    guard = _guard(line_score=0.6, line_beats=20)
    restored = NgramGuard.from_bytes(guard.to_bytes())
    assert restored.hashes == guard.hashes and restored.n == guard.n
    assert [line.tolist() for line in restored.lines] == [line.tolist() for line in guard.lines]
    old = b"LLNG1" + (10).to_bytes(4, "little") + np.array(sorted(guard.hashes), "<u8").tobytes()
    legacy = NgramGuard.from_bytes(old)
    assert legacy.hashes == guard.hashes and legacy.lines == []
    assert not legacy.copies_line(*melody_notes(_tokens(_quarters(TUNE))))  # no lines: the check is off
    for broken in (guard.to_bytes()[:-3], guard.to_bytes() + b"\x00", b"LLNG2", b"not a guard"):
        with pytest.raises(ValueError, match="not an n-gram guard file"):
            NgramGuard.from_bytes(broken)
    with pytest.raises(ValueError):
        NgramGuard(10, line_score=1.5)


def test_the_sampler_draws_a_copying_bar_again():
    """A model that learnt the tune by heart writes it again; with the guard's lines (and its n-grams out of reach)
    the sampler draws the bars that complete the copy again, and the melody it keeps is no copy."""
    training = _tokens(_quarters(TUNE))
    torch.manual_seed(0)
    model = get_model("lstm", {"size": "debug", "dim": 64}, VOCAB.size)
    train(model, [training] * 8, epochs=300, batch_size=8, lr=1e-2, seq_len=len(training), seed=0)
    guard = _guard(n=64)  # n-grams longer than the tune: only the line check can act
    prompt, budget = training[:2], len(training) + 40

    free = sample(model, VOCAB, prompt, budget, 1.0, 0, 1.0, seed=0, max_bars=8)
    assert guard.copies_line(*melody_notes(free.tokens))  # the model did memorise the tune
    assert free.bar_redraws == 0

    guarded = sample(model, VOCAB, prompt, budget, 1.0, 0, 1.0, seed=0, guard=guard, max_bars=8)
    assert guarded.bar_redraws > 0 and guarded.interventions >= guarded.bar_redraws
    assert guarded.tokens.count(VOCAB.bar) == 8  # whole bars were redrawn: the piece keeps its length
    assert not guard.copies_line(*melody_notes(guarded.tokens))
