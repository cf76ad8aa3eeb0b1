"""Relative attention for the Transformer and random transposition of training windows (issue 16 §2)."""

import pytest
import torch

from generation.engine.models import ModelConfig, RelativeTransformerModel, get_model, legacy_config
from generation.engine.sample import sample
from generation.engine.tokens import VOCAB
from generation.engine.train import train, transpose_windows


def _relative(**overrides) -> RelativeTransformerModel:
    torch.manual_seed(0)
    model = get_model("transformer", {"size": "debug", "positions": "relative", **overrides}, VOCAB.size)
    assert isinstance(model, RelativeTransformerModel)
    return model.eval()


def test_relative_transformer_is_causal_and_runs_past_max_distance():
    model = _relative(max_distance=8)
    tokens = torch.randint(0, VOCAB.size, (2, 40))  # five times the longest distance it has a bias for
    changed = tokens.clone()
    changed[:, 30:] = (changed[:, 30:] + 1) % VOCAB.size
    with torch.no_grad():
        before, after = model(tokens), model(changed)
    assert before.shape == (2, 40, VOCAB.size)
    assert torch.allclose(before[:, :30], after[:, :30], atol=1e-5)
    assert not torch.allclose(before[:, 30:], after[:, 30:])


def test_relative_positions_depend_on_distance_not_absolute_place():
    """A bias that lets each token attend only to itself (distance 0) makes the logits a function of the token
    alone: the same token gives the same logits wherever it stands. Absolute positions would tell them apart."""
    model = _relative(max_distance=16)
    with torch.no_grad():
        model.distance_bias.weight.fill_(-1e4)
        model.distance_bias.weight[0] = 0.0
        logits = model(torch.tensor([[7, 9, 7, 11, 12, 7]]))[0]
    assert torch.allclose(logits[0], logits[2], atol=1e-4) and torch.allclose(logits[0], logits[5], atol=1e-4)
    assert not torch.allclose(logits[0], logits[1], atol=1e-4)
    absolute = get_model("transformer", {"size": "debug", "positions": "absolute"}, VOCAB.size).eval()
    with torch.no_grad():
        plain = absolute(torch.tensor([[7, 7, 7]]))[0]
    assert not torch.allclose(plain[0], plain[2], atol=1e-4)


def test_relative_config_round_trips_and_bad_values_are_refused():
    model = _relative()
    assert ModelConfig.from_dict(model.config.to_dict()) == model.config
    assert model.config.positions == "relative"
    with pytest.raises(ValueError, match="unknown positions"):
        get_model("transformer", {"size": "debug", "positions": "rotary"}, VOCAB.size)
    with pytest.raises(ValueError, match="max_distance"):
        get_model("transformer", {"size": "debug", "positions": "relative", "max_distance": 0}, VOCAB.size)


def test_a_checkpoint_from_before_relative_positions_loads_as_the_absolute_model():
    """Checkpoints saved before `positions` existed were absolute models; the default is now relative."""
    torch.manual_seed(0)
    old = get_model("transformer", {"size": "debug", "positions": "absolute"}, VOCAB.size).eval()
    stored = {k: v for k, v in old.config.to_dict().items() if k not in ("positions", "max_distance")}
    loaded = get_model("transformer", legacy_config("transformer", stored), VOCAB.size).eval()
    assert not isinstance(loaded, RelativeTransformerModel)
    loaded.load_state_dict(old.state_dict())
    tokens = torch.tensor([[VOCAB.bos, VOCAB.bar, VOCAB.pitch(60), VOCAB.duration(4)]])
    with torch.no_grad():
        assert torch.allclose(old(tokens), loaded(tokens))
    assert get_model("transformer", {}, VOCAB.size).config.positions == "relative"  # the platform's default


def test_relative_transformer_trains_and_samples():
    model = _relative()
    melody = [VOCAB.bos] + [VOCAB.bar, VOCAB.position(0), VOCAB.pitch(60), VOCAB.duration(4)] * 30 + [VOCAB.eos]
    result = train(model, [melody], epochs=3, batch_size=4, seq_len=32, lr=1e-2, checkpoint_every=0)
    assert result.losses[-1] < result.losses[0]
    first = sample(model, VOCAB, [VOCAB.bos], 60, seed=0)
    assert first.tokens == sample(model, VOCAB, [VOCAB.bos], 60, seed=0).tokens  # seeded
    assert len(first.tokens) > 1 and all(0 <= t < VOCAB.size for t in first.tokens)


def _window(*notes: tuple[int | None, int]) -> list[int]:
    """BOS, one bar, then (track or None, pitch) notes each at its own position, padded to 24 tokens."""
    tokens = [VOCAB.bos, VOCAB.bar]
    for index, (track, pitch) in enumerate(notes):
        tokens.append(VOCAB.position(index))
        if track is not None:
            tokens.append(VOCAB.track(track))
        tokens += [VOCAB.pitch(pitch), VOCAB.duration(1)]
    return tokens + [VOCAB.pad] * (24 - len(tokens))


def _pitches(window: torch.Tensor) -> list[int]:
    return [int(t) - VOCAB.pitch_offset for t in window if VOCAB.is_pitch(int(t))]


def test_transposition_moves_pitched_notes_together_and_leaves_drums_alone():
    windows = torch.tensor([_window((None, 60), (3, 36), (None, 64), (2, 40))])
    shifts = set()
    generator = torch.Generator().manual_seed(0)
    for _ in range(40):
        moved = transpose_windows(windows, 5, generator)[0]
        melody, drum, melody2, bass = _pitches(moved)
        shift = melody - 60
        assert -5 <= shift <= 5 and melody2 - 64 == shift and bass - 40 == shift
        assert drum == 36  # a GM drum note is an instrument, not a pitch
        assert [int(t) for t in moved if not VOCAB.is_pitch(int(t))] == [
            int(t) for t in windows[0] if not VOCAB.is_pitch(int(t))
        ]
        shifts.add(shift)
    assert len(shifts) > 5  # the shift is drawn per window, not fixed


def test_transposition_never_pushes_a_pitch_out_of_range():
    windows = torch.tensor([_window((None, 125), (None, 120)), _window((None, 1), (None, 3))])
    generator = torch.Generator().manual_seed(1)
    for _ in range(40):
        high, low = transpose_windows(windows, 6, generator)
        assert max(_pitches(high)) <= 127 and min(_pitches(low)) >= 0


def test_transposition_in_training_is_seeded_and_off_by_default():
    melody = [VOCAB.bos] + [VOCAB.bar, VOCAB.position(0), VOCAB.pitch(67), VOCAB.duration(4)] * 20 + [VOCAB.eos]

    def run(transpose: int) -> list[float]:
        torch.manual_seed(0)
        model = get_model("lstm", {"size": "debug"}, VOCAB.size)
        kwargs = {"epochs": 2, "batch_size": 2, "seq_len": 16, "checkpoint_every": 0, "transpose": transpose}
        return train(model, [melody], **kwargs).losses

    assert run(3) == run(3)
    assert run(3) != run(0)
