"""The learning-rate schedule of `train.train`: warm-up, then decay; weight decay on matrices only."""

import math

import pytest
import torch

from generation.engine.models import get_model
from generation.engine.train import lr_factor, parameter_groups, train


def test_cosine_warms_up_linearly_then_decays_to_the_floor():
    factors = [lr_factor(s, total=100, warmup=10, schedule="cosine", min_ratio=0.1) for s in range(100)]
    assert factors[:10] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert factors[10] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:], strict=False))  # never rises after warm-up
    assert factors[55] == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 45 / 89)))
    assert factors[-1] == pytest.approx(0.1)


def test_inverse_sqrt_continues_the_warm_up_and_keeps_falling():
    factors = [lr_factor(s, total=10, warmup=4, schedule="inverse_sqrt") for s in range(400)]
    assert factors[3] == pytest.approx(1.0) and factors[4] == pytest.approx(math.sqrt(4 / 5))
    assert factors[399] == pytest.approx(0.1)  # no horizon: past `total` it goes on decaying


def test_constant_without_warm_up_is_the_old_behaviour():
    assert {lr_factor(s, total=50) for s in range(50)} == {1.0}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"schedule": "linear"}, "unknown schedule"), ({"warmup": -1}, "warmup"), ({"min_ratio": 2.0}, "min_ratio")],
)
def test_bad_schedule_values_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        lr_factor(0, total=10, **kwargs)


def test_weight_decay_spares_biases_norms_and_embeddings():
    net = get_model("transformer", {"size": "debug"}, 40)
    decay, keep = parameter_groups(net, 0.1)
    assert decay["weight_decay"] == 0.1 and keep["weight_decay"] == 0.0
    kept = {id(p) for p in keep["params"]}
    assert id(net.embed.weight) in kept and id(net.norm.weight) in kept and id(net.head.bias) in kept
    assert id(net.head.weight) not in kept
    assert len(decay["params"]) + len(keep["params"]) == len(list(net.parameters()))


def test_training_follows_the_schedule_step_by_step():
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = get_model("transformer", {"size": "debug"}, 40)
    seen: list[float] = []
    original = torch.optim.AdamW.step

    def spy(self, *args, **kwargs):
        seen.append(self.param_groups[0]["lr"])
        return original(self, *args, **kwargs)

    sequences = [[1, *[(i % 30) + 4 for i in range(60)], 2]] * 8
    torch.optim.AdamW.step = spy
    try:
        result = train(net, sequences, epochs=3, batch_size=4, lr=1e-2, seq_len=16, warmup_steps=4, schedule="cosine")
    finally:
        torch.optim.AdamW.step = original
    assert len(seen) == result.steps
    assert seen[:4] == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2])
    assert seen[-1] == pytest.approx(0.0, abs=1e-12) and max(seen) == pytest.approx(1e-2)
