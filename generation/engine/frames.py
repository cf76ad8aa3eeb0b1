"""A piano-roll frame model: the JSB Chorales setup of Boulanger-Lewandowski et al. (2012).

A piece is a sequence of quarter-note frames, each a binary vector over the 88 piano keys A0 (MIDI 21) to
C8 (MIDI 108). An LSTM reads frames 0..t-1 and outputs 88 Bernoulli probabilities for frame t:

- `FrameConfig.made_hidden` = 0: the keys are independent given the LSTM state (88 sigmoid outputs).
- `made_hidden` > 0: the output is autoregressive over the keys in pitch order, low to high. Key k of frame t
  is predicted from the state and keys 0..k-1 of frame t, through a masked one-hidden-layer MADE (Germain et
  al. 2015) plus direct masked key-to-key weights. This is the idea of RNN-NADE (Boulanger-Lewandowski et al.
  2012): independent sigmoids cannot say which keys sound together, the chain rule over the keys can. The
  likelihood stays exact and takes one pass (the frame's true keys are the MADE's input), and it is still a
  sum of 88 binary cross-entropies, each now conditional on the lower keys.

The published figure of merit is the negative log-likelihood in nats per frame: the sum of the 88 binary
cross-entropies of a frame, averaged over every frame of the held-out pieces (the first frame is predicted
from an all-zero input).

This exists to compare with the published table (LSTM 8.45, TCN 8.10 nats per frame); the platform's own
melody models work on tokens (`tokens.py`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ledgerline.music.events import Score

LOWEST_PITCH = 21  # A0
PITCHES = 88  # A0..C8


def frames_from_score(score: Score, *, frames_per_beat: int = 1) -> np.ndarray:
    """Piano roll [frames, 88] (uint8) sampled at each quarter-note beat (or `frames_per_beat` times a beat).

    A key is on in frame k when a pitched note sounds at the frame's time: start <= k < start + duration.
    Sampling at the frame time, not "sounding anywhere in the frame", follows how the JSB set was made; a
    passing eighth note between two beats does not appear. Drums and pitches outside A0..C8 are dropped.
    """
    notes = score.notes[~score.notes["is_drum"]]
    if len(notes) == 0:
        return np.zeros((0, PITCHES), dtype=np.uint8)
    count = int(math.ceil(score.duration_beats * frames_per_beat - 1e-9))
    times = np.arange(count, dtype=np.float64)[:, None] / frames_per_beat  # [frames, 1]
    starts, ends = notes["start"][None, :], (notes["start"] + notes["duration"])[None, :]
    sounding = (starts <= times + 1e-9) & (ends > times + 1e-9)  # [frames, notes]
    roll = np.zeros((count, PITCHES), dtype=np.uint8)
    keys = notes["pitch"].astype(np.int64) - LOWEST_PITCH
    in_range = (keys >= 0) & (keys < PITCHES)
    frame_idx, note_idx = np.nonzero(sounding[:, in_range])
    roll[frame_idx, keys[in_range][note_idx]] = 1
    return roll


@dataclass(frozen=True)
class FrameConfig:
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.3
    made_hidden: int = 0  # 0: independent sigmoid outputs; > 0: hidden units of the autoregressive MADE output


class MaskedLinear(nn.Linear):
    """A linear layer whose weight [out, in] is multiplied by a fixed 0/1 mask [out, in]."""

    mask: torch.Tensor

    def __init__(self, mask: torch.Tensor, *, bias: bool = True) -> None:
        super().__init__(mask.shape[1], mask.shape[0], bias=bias)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight * self.mask, self.bias)


class KeyMADE(nn.Module):
    """Autoregressive logits over the 88 keys of one frame, given a context vector per frame.

    `forward(context [..., context_dim], keys [..., 88]) -> logits [..., 88]`, where logit k depends on
    `context` and on keys 0..k-1 only (never on key k or above): so sigmoid(logit k) is p(key k on | context,
    lower keys), and the frame's NLL is the sum of the 88 BCEs of the logits against `keys`.

    Masks, with key k having degree k: hidden unit j has degree d_j in 0..86 (spread evenly) and sees the keys
    <= d_j; output k sees the hidden units with d_j < k and, directly, the keys < k.
    """

    def __init__(self, context_dim: int, hidden: int) -> None:
        super().__init__()
        keys = torch.arange(PITCHES)
        degrees = torch.arange(hidden) * (PITCHES - 1) // hidden  # [hidden], 0..86
        self.keys_in = MaskedLinear(keys[None, :] <= degrees[:, None], bias=False)  # mask [hidden, 88]
        self.context_in = nn.Linear(context_dim, hidden)
        self.hidden_out = MaskedLinear(degrees[None, :] < keys[:, None], bias=False)  # mask [88, hidden]
        self.direct = MaskedLinear(keys[None, :] < keys[:, None], bias=False)  # mask [88, 88], strictly lower
        self.context_out = nn.Linear(context_dim, PITCHES)
        nn.init.zeros_(self.direct.weight)

    def forward(self, context: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.keys_in(keys) + self.context_in(context))
        return self.context_out(context) + self.hidden_out(hidden) + self.direct(keys)


class FrameLSTM(nn.Module):
    """Frames [batch, time, 88] -> logits [batch, time, 88] for the *next* frame (position t sees 0..t).

    With the MADE output (`config.made_hidden` > 0), `forward` also needs `next_frames` [batch, time, 88], the
    frames being predicted (the inputs shifted by one): logit k of position t then also sees keys 0..k-1 of
    `next_frames[:, t]`. This is teacher forcing within the frame; sampling would draw keys one at a time.
    """

    def __init__(self, config: FrameConfig = FrameConfig()) -> None:
        super().__init__()
        self.config = config
        self.lstm = nn.LSTM(
            PITCHES,
            config.hidden,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head: nn.Module = (
            KeyMADE(config.hidden, config.made_hidden) if config.made_hidden else nn.Linear(config.hidden, PITCHES)
        )

    def forward(self, frames: torch.Tensor, next_frames: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.drop(self.lstm(frames)[0])  # [batch, time, hidden]
        if isinstance(self.head, KeyMADE):
            if next_frames is None:
                raise ValueError("the MADE output needs next_frames, the frames it predicts")
            return self.head(hidden, next_frames)
        return self.head(hidden)


def _batch(rolls: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Inputs [batch, time, 88] (a zero frame then frames 0..T-2), targets [batch, time, 88] (frames
    0..T-1) and a mask [batch, time] of real frames; pieces are padded to the longest."""
    longest = max(len(r) for r in rolls)
    targets = torch.zeros(len(rolls), longest, PITCHES)
    mask = torch.zeros(len(rolls), longest)
    for i, roll in enumerate(rolls):
        targets[i, : len(roll)] = torch.from_numpy(roll.astype(np.float32))
        mask[i, : len(roll)] = 1.0
    inputs = torch.cat([torch.zeros(len(rolls), 1, PITCHES), targets[:, :-1]], dim=1)
    return inputs, targets, mask


def _nll_sum(model: nn.Module, rolls: Sequence[np.ndarray]) -> tuple[torch.Tensor, int]:
    """Summed NLL in nats over every frame of `rolls` (88 BCEs per frame), and the frame count."""
    inputs, targets, mask = _batch(rolls)
    logits = model(inputs, targets)
    bce = nn.functional.binary_cross_entropy_with_logits(logits, targets, reduction="none").sum(-1)
    return (bce * mask).sum(), int(mask.sum())


@dataclass
class FrameTrainResult:
    losses: list[float] = field(default_factory=list)  # nats per frame of each step
    valid_nll: list[float] = field(default_factory=list)  # nats per frame on `valid` after each epoch
    best_epoch: int = 0  # 1-based epoch whose weights the model holds at the end (the last one without `valid`)
    steps: int = 0
    seconds: float = 0.0
    frames_per_s: float = 0.0


def train_frames(
    model: FrameLSTM,
    rolls: Sequence[np.ndarray],
    *,
    epochs: int = 50,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    transpose: int = 0,
    grad_clip: float = 1.0,
    weight_decay: float = 0.0,
    valid: Sequence[np.ndarray] | None = None,
    patience: int = 8,
    min_epochs: int = 40,
    on_epoch: Callable[[int, float], None] | None = None,
) -> FrameTrainResult:
    """AdamW (Adam when `weight_decay` is 0) on the summed-BCE-per-frame loss. Each epoch shuffles the pieces
    (seeded).

    With `valid`, the NLL on those pieces is measured after every epoch: from epoch `min_epochs` on, the
    learning rate halves after `patience` // 2 epochs without improvement and training stops after `patience`
    epochs without improvement; the model is left with the weights of the best epoch (early stopping).
    `on_epoch(epoch, valid_nll)` is called after each of those measurements (progress for long runs).
    `min_epochs` exists because the loss sits on a plateau near the independent-key baseline for tens of
    epochs before the LSTM starts to use the context, longer with `transpose`.

    `transpose` > 0 augments every batch with a random shift in -transpose..+transpose semitones (the roll
    is rolled along the pitch axis; keys pushed past A0/C8 are dropped), a common JSB regulariser.
    """
    if not rolls:
        raise ValueError("no pieces to train on")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=max(patience // 2 - 1, 0))
    result = FrameTrainResult()
    frames_seen = 0
    started = time.perf_counter()
    best_state: dict[str, torch.Tensor] | None = None
    best = math.inf
    for epoch in range(1, epochs + 1):
        model.train()
        order = rng.permutation(len(rolls))
        for begin in range(0, len(order), batch_size):
            batch = [rolls[i] for i in order[begin : begin + batch_size]]
            if transpose:
                batch = [_shift(r, int(rng.integers(-transpose, transpose + 1))) for r in batch]
            total, count = _nll_sum(model, batch)
            loss = total / count
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            result.losses.append(float(loss.detach()))
            result.steps += 1
            frames_seen += count
        if valid is None:
            result.best_epoch = epoch
            continue
        result.valid_nll.append(frame_nll(model, valid))
        if on_epoch is not None:
            on_epoch(epoch, result.valid_nll[-1])
        if result.valid_nll[-1] < best:
            best, result.best_epoch = result.valid_nll[-1], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if epoch < min_epochs:
            continue
        plateau.step(result.valid_nll[-1])
        if epoch - result.best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.seconds = time.perf_counter() - started
    result.frames_per_s = frames_seen / result.seconds if result.seconds > 0 else 0.0
    model.eval()
    return result


def _shift(roll: np.ndarray, semitones: int) -> np.ndarray:
    if semitones == 0:
        return roll
    shifted = np.zeros_like(roll)
    if semitones > 0:
        shifted[:, semitones:] = roll[:, :-semitones]
    else:
        shifted[:, :semitones] = roll[:, -semitones:]
    return shifted


@torch.no_grad()
def frame_nll(model: nn.Module, rolls: Sequence[np.ndarray], *, batch_size: int = 32) -> float:
    """Mean NLL in nats per frame (sum of the 88 binary cross-entropies) over every frame of `rolls`."""
    model.eval()
    total, count = 0.0, 0
    rolls = [r for r in rolls if len(r)]
    for begin in range(0, len(rolls), batch_size):
        batch_total, batch_count = _nll_sum(model, rolls[begin : begin + batch_size])
        total += float(batch_total)
        count += batch_count
    return total / max(count, 1)


def independent_bernoulli_nll(train_rolls: Sequence[np.ndarray], test_rolls: Sequence[np.ndarray]) -> float:
    """Baseline: each key on with its training frequency, independent of time (nats per frame)."""
    train = np.concatenate(train_rolls).astype(np.float64)
    p = np.clip((train.sum(0) + 0.5) / (len(train) + 1.0), 1e-6, 1 - 1e-6)
    test = np.concatenate(test_rolls).astype(np.float64)
    return float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).sum(1).mean())
