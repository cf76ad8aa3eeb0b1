"""Training until the held-out loss stops improving (the demo's LSTM: no undertrained model in front of a user)."""

from __future__ import annotations

import random

import torch

from generation.engine.models import get_model
from generation.engine.tokens import VOCAB
from generation.engine.train import EarlyStopping, evaluate_nll, train


def _sequences(seed: int, count: int) -> list[list[int]]:
    rng = random.Random(seed)
    return [[VOCAB.bos, *(VOCAB.pitch(rng.randrange(48, 84)) for _ in range(14)), VOCAB.eos] for _ in range(count)]


def test_training_stops_when_the_held_out_nll_stops_improving_and_keeps_its_best_weights() -> None:
    torch.manual_seed(0)
    model = get_model("lstm", {"size": "debug"}, VOCAB.size)
    training, held_out = [_sequences(1, 1)[0]] * 4, _sequences(2, 4)  # memorising noise: held-out NLL turns worse
    early = EarlyStopping(held_out=held_out, every=2, patience=3)
    result = train(model, training, epochs=400, batch_size=4, lr=5e-2, seq_len=16, early_stopping=early)
    assert result.stopped == "patience" and result.steps < 400
    best = min(result.held_out_nll)
    assert result.held_out_nll[-1] > best  # it stopped because the last checks were no better ...
    assert abs(evaluate_nll(model, held_out, seq_len=16) - best) < 1e-4  # ... and went back to the best weights


def test_training_stops_at_its_time_budget() -> None:
    model = get_model("lstm", {"size": "debug"}, VOCAB.size)
    early = EarlyStopping(held_out=_sequences(2, 2), every=1000, patience=3, budget_s=0.0)
    result = train(model, _sequences(1, 4), epochs=400, batch_size=4, seq_len=32, early_stopping=early)
    assert result.stopped == "budget" and result.steps == 1 and len(result.held_out_nll) == 1
