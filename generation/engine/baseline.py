"""The Markov baseline a neural melody model must beat before it may generate for publishing (issue 17 §1).

Baseline. An order-`order` Markov chain over melody tokens, fitted on the training sequences, with add-k
smoothing toward the lower order (the scheme of the chord model in `markov.py`):
    P0(c)       = (N(c) + k) / (N + kV)
    Pn(c | ctx) = (N(ctx, c) + kV * P(n-1)(c | shorter ctx)) / (N(ctx) + kV)
over the V tokens of the vocabulary; an unseen context falls back exactly to the lower order and every
distribution sums to one. Contexts before the first token are a start symbol.

Same tokens. `evaluate_nll` (train.py) scores every token of a sequence but the first (each window of
`seq_len + 1` tokens predicts its last `seq_len`, windows overlap by one token); the baseline scores exactly
those target tokens, so the two per-token NLLs (nats) compare like with like.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence

_START = -1


def _contexts(tokens: Sequence[int], index: int, order: int) -> list[tuple[int, ...]]:
    """The contexts of `tokens[index]` from order 0 (empty) to `order`, start-padded."""
    padded = (_START,) * max(order - index, 0) + tuple(int(t) for t in tokens[max(index - order, 0) : index])
    return [padded[len(padded) - n :] if n else () for n in range(order + 1)]


def markov_baseline_nll(
    training: Sequence[Sequence[int]],
    held_out: Sequence[Sequence[int]],
    vocab_size: int,
    *,
    order: int = 2,
    k: float = 1.0,
) -> float:
    """Mean NLL (nats per target token) of the held-out sequences under the smoothed Markov chain fitted on
    `training`; the targets are every token but each sequence's first (sequences under 2 tokens are skipped)."""
    if order < 0 or vocab_size < 1 or k <= 0:
        raise ValueError("order must be >= 0, vocab_size >= 1 and k > 0")
    counts: dict[tuple[int, ...], Counter[int]] = defaultdict(Counter)
    for tokens in training:
        for i in range(1, len(tokens)):
            for ctx in _contexts(tokens, i, order):
                counts[ctx][int(tokens[i])] += 1
    totals: Mapping[tuple[int, ...], int] = {ctx: sum(c.values()) for ctx, c in counts.items()}
    kv = k * vocab_size
    total, targets = 0.0, 0
    for tokens in held_out:
        for i in range(1, len(tokens)):
            target = int(tokens[i])
            p = 0.0
            for n, ctx in enumerate(_contexts(tokens, i, order)):
                seen = counts.get(ctx)
                if n == 0:  # order 0
                    p = ((seen.get(target, 0) if seen else 0) + k) / (totals.get(ctx, 0) + kv)
                elif seen is not None:  # an unseen context keeps the lower order
                    p = (seen.get(target, 0) + kv * p) / (totals[ctx] + kv)
            total -= math.log(p)
            targets += 1
    if not targets:
        raise ValueError("no held-out target tokens: every sequence is shorter than 2 tokens")
    return total / targets


def readiness(arch: str, metrics: Mapping[str, object] | None) -> str | None:
    """Why a model may not generate for publishing, or None when it may. Markov models are always ready; a
    neural model is not ready when training recorded it so (its held-out NLL did not beat the baseline)."""
    if arch == "markov" or not metrics or metrics.get("ready", True):
        return None
    return str(metrics.get("not_ready_reason") or "its held-out NLL is not better than the Markov baseline")


def readiness_metrics(model_nll: float | None, baseline_nll: float | None) -> dict[str, bool | str]:
    """The readiness entries of a neural model's metrics from its held-out NLL and the baseline's."""
    if model_nll is None or baseline_nll is None:
        return {"ready": False, "not_ready_reason": "no held-out pieces to measure it against the Markov baseline"}
    if model_nll < baseline_nll:
        return {"ready": True}
    return {
        "ready": False,
        "not_ready_reason": f"held-out NLL {model_nll:.4f} is not better than the Markov "
        f"baseline's {baseline_nll:.4f} nats/token",
    }
