"""Small real music for the screening tests: Bach chorales from music21's bundled corpus, as MIDI bytes."""

from __future__ import annotations

import functools

from ledgerline.music.events import Score
from ledgerline.music.parse import score_from_music21

# Chorales with distinct melodies (checked: no two share a tune), short enough to render fast.
NAMES = ["bach/bwv26.6", "bach/bwv66.6", "bach/bwv67.7", "bach/bwv83.5", "bach/bwv86.6", "bach/bwv88.7"]
UNRELATED = "bach/bwv145.5"


@functools.cache
def chorale(name: str) -> Score:
    from music21 import corpus

    return score_from_music21(corpus.parse(name))


def midi(score: Score) -> bytes:
    return score.to_midi_bytes()
