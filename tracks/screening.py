"""Screening that generation asks for but may not import: generation and fingerprint are independent layers, and
the tracks app sits above both (docs/ARCHITECTURE.md, "Layers")."""

from __future__ import annotations

import numpy as np

from fingerprint.models import Against, Verdict
from fingerprint.services import features_of, screen_features
from ledgerline.music.events import Score


def screen_against_training(audio: np.ndarray, score: Score, training_ids: set[int]) -> str:
    """The memorisation check's screening of one sample (`generation.memorisation.CorpusScreener`): "flag"
    when a passed match is on one of the model's training items, "clear" when a complete screening found no
    such match, and "unmeasured" when the screening was incomplete."""
    result = screen_features(features_of(audio=audio, score=score, query=True), against=Against.CORPUS)
    if any(m.passed and m.corpus_item in training_ids for m in result.matches):
        return "flag"
    # A flag on another item (a held-out piece, another dataset) is not a copy of the training corpus.
    return "unmeasured" if result.verdict == Verdict.INCOMPLETE else "clear"
