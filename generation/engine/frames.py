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

from .markov import Chord, Key, match_chord
from .stats import scale_pitch_classes
from .train import autocast_dtype

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


#: The platform's frame models by size, and how each trains (`train_frames` keyword arguments). "default" is the
#: 5.14 nats/frame recipe of benchmarks/generation/RESULTS.md; "debug" trains in seconds, for tests.
FRAME_CONFIGS: dict[str, FrameConfig] = {
    "default": FrameConfig(hidden=256, layers=2, dropout=0.3, made_hidden=256),
    "debug": FrameConfig(hidden=16, layers=1, dropout=0.0, made_hidden=16),
}
FRAME_TRAINING: dict[str, dict[str, int | float]] = {
    "default": {"epochs": 300, "batch_size": 8, "lr": 2e-3, "transpose": 2, "patience": 8, "min_epochs": 40},
    "debug": {"epochs": 3, "batch_size": 8, "lr": 1e-2, "transpose": 0, "patience": 3, "min_epochs": 0},
}


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
        logits: torch.Tensor = self.context_out(context) + self.hidden_out(hidden) + self.direct(keys)
        return logits


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
            logits: torch.Tensor = self.head(hidden, next_frames)
        else:
            logits = self.head(hidden)
        return logits  # [batch, time, 88]


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


def _nll_sum(model: nn.Module, rolls: Sequence[np.ndarray], device: torch.device) -> tuple[torch.Tensor, int]:
    """Summed NLL in nats over every frame of `rolls` (88 BCEs per frame), and the frame count. On CUDA the
    network runs under autocast where the GPU has bf16, and the loss in float32."""
    inputs, targets, mask = (t.to(device) for t in _batch(rolls))
    amp_dtype = autocast_dtype(device)
    if amp_dtype != torch.bfloat16:  # fp16 would need a GradScaler in train_frames; full precision instead
        amp_dtype = None
    with torch.autocast(device_type=device.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
        logits = model(inputs, targets).float()
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
    device: str | torch.device = "cpu",
    budget_s: float | None = None,
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

    The model is moved to `device` and stays there; on CUDA the forward pass runs under bf16 autocast.
    With `budget_s`, no epoch starts after that many seconds (the best epoch's weights are kept as usual).
    """
    if not rolls:
        raise ValueError("no pieces to train on")
    dev = torch.device(device)
    model.to(dev)
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
        if budget_s is not None and epoch > 1 and time.perf_counter() - started > budget_s:
            break
        model.train()
        order = rng.permutation(len(rolls))
        for begin in range(0, len(order), batch_size):
            batch = [rolls[i] for i in order[begin : begin + batch_size]]
            if transpose:
                batch = [_shift(r, int(rng.integers(-transpose, transpose + 1))) for r in batch]
            total, count = _nll_sum(model, batch, dev)
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
        result.valid_nll.append(frame_nll(model, valid, device=dev))
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
def frame_nll(
    model: nn.Module, rolls: Sequence[np.ndarray], *, batch_size: int = 32, device: str | torch.device | None = None
) -> float:
    """Mean NLL in nats per frame (sum of the 88 binary cross-entropies) over every frame of `rolls`; on
    `device` (default: where the model's parameters are)."""
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.to(dev)
    model.eval()
    total, count = 0.0, 0
    rolls = [r for r in rolls if len(r)]
    for begin in range(0, len(rolls), batch_size):
        batch_total, batch_count = _nll_sum(model, rolls[begin : begin + batch_size], dev)
        total += float(batch_total)
        count += batch_count
    return total / max(count, 1)


def independent_bernoulli_nll(train_rolls: Sequence[np.ndarray], test_rolls: Sequence[np.ndarray]) -> float:
    """Baseline: each key on with its training frequency, independent of time (nats per frame)."""
    train = np.concatenate(train_rolls).astype(np.float64)
    p = np.clip((train.sum(0) + 0.5) / (len(train) + 1.0), 1e-6, 1 - 1e-6)
    test = np.concatenate(test_rolls).astype(np.float64)
    return float(-(test * np.log(p) + (1 - test) * np.log(1 - p)).sum(1).mean())


# --- sampling and four-part harmonisation ---------------------------------------------------------------
VOICES = ("soprano", "alto", "tenor", "bass")
#: The lowest and highest key the harmoniser writes (C2, C6): a chorale's bass and soprano stay inside.
LOWEST_VOICE, HIGHEST_VOICE = 36, 84
#: Inclusive MIDI ranges of the lower voices, a little wider than the textbook ones (alto G3-D5, tenor C3-G4,
#: bass E2-C4) so that the model's own choices are rarely overruled.
VOICE_RANGES: dict[str, tuple[int, int]] = {"alto": (53, 77), "tenor": (45, 69), "bass": (36, 62)}
PERFECT = (0, 7)  # interval classes (mod 12) of octaves/unisons and fifths


@dataclass
class FrameHarmony:
    """Four voices per frame: `voices` [frames, 4] MIDI pitches, soprano, alto, tenor, bass (high to low).
    The soprano is the given melody wherever it sounds at the frame's time; elsewhere the model's top key."""

    voices: np.ndarray
    frames_per_beat: int = 1
    parallels: int = 0  # parallel fifths/octaves between adjacent frames (any two voices moving in parallel)


def melody_frames(notes: np.ndarray, frames: int, *, frames_per_beat: int = 1) -> list[int | None]:
    """The melody pitch sounding at each frame's time (the highest, if several), None where it rests.
    `notes` is a NOTE_DTYPE array (start and duration in beats)."""
    result: list[int | None] = []
    for index in range(frames):
        time_ = index / frames_per_beat
        sounding = notes[(notes["start"] <= time_ + 1e-9) & (notes["start"] + notes["duration"] > time_ + 1e-9)]
        result.append(int(sounding["pitch"].max()) if len(sounding) else None)
    return result


def count_parallels(previous: np.ndarray, current: np.ndarray) -> int:
    """Parallel fifths and octaves (unisons included) from one chord to the next: a pair of voices a perfect
    interval apart (mod 12) in both chords, both voices moving, in the same direction. Chords [voices],
    high to low."""
    count = 0
    for upper in range(len(current)):
        for lower in range(upper + 1, len(current)):
            before = (int(previous[upper]) - int(previous[lower])) % 12
            after = (int(current[upper]) - int(current[lower])) % 12
            moves = (int(current[upper]) - int(previous[upper]), int(current[lower]) - int(previous[lower]))
            if before == after and after in PERFECT and moves[0] and moves[1] and (moves[0] > 0) == (moves[1] > 0):
                count += 1
    return count


def _voicing_ok(chord: np.ndarray) -> bool:
    """chord [4] high to low: the lower voices in range, at most an octave between adjacent upper voices."""
    soprano, alto, tenor, bass = (int(p) for p in chord)
    in_range = all(lo <= p <= hi for p, (lo, hi) in zip((alto, tenor, bass), VOICE_RANGES.values(), strict=True))
    return in_range and soprano - alto <= 12 and alto - tenor <= 12


class _KeySampler:
    """Draws the 88 keys of `candidates` frames at once, key by key from low to high, through the frame model's
    output (the MADE when it has one, else independent sigmoids), on the CPU in float32.

    The MADE's hidden pre-activation is kept and updated as each key is decided (its input layer is linear),
    so deciding key k costs O(hidden), not a full MADE pass. Keys can be forced on or off; the log-probability
    the model gives the forced values is summed per candidate: it is the importance weight that turns the
    constrained draws into samples of the model conditioned on the constraints (sampling-importance-resampling).
    """

    def __init__(self, head: nn.Module) -> None:
        self.made = isinstance(head, KeyMADE)
        if isinstance(head, KeyMADE):
            self.context_in = (head.context_in.weight.float().cpu(), head.context_in.bias.float().cpu())
            self.context_out = (head.context_out.weight.float().cpu(), head.context_out.bias.float().cpu())
            self.keys_in = (head.keys_in.weight * head.keys_in.mask).float().cpu()  # [hidden, 88]
            self.hidden_out = (head.hidden_out.weight * head.hidden_out.mask).float().cpu()  # [88, hidden]
            self.direct = (head.direct.weight * head.direct.mask).float().cpu()  # [88, 88]
        else:
            assert isinstance(head, nn.Linear)
            self.context_out = (head.weight.float().cpu(), head.bias.float().cpu())

    def draw(
        self,
        context: torch.Tensor,
        uniforms: torch.Tensor,
        *,
        temperature: float,
        top: int | None,
        need: int,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """context [K, hidden], uniforms [K, 88] -> (keys [K, 88] 0/1, log-weight [K], logits [K, 88]), the
        logits being the ones each key was decided by (before the temperature).

        Keys below LOWEST_VOICE are off. With `top` (a key index: the melody), key `top` is on, the keys above
        it are off and exactly `need` keys sound between LOWEST_VOICE and `top`; without, exactly `need` keys
        sound between LOWEST_VOICE and HIGHEST_VOICE.
        """
        count = context.shape[0]
        low = LOWEST_VOICE - LOWEST_PITCH
        region_end = (top - 1) if top is not None else HIGHEST_VOICE - LOWEST_PITCH
        base = nn.functional.linear(context, *self.context_out)  # [K, 88]
        pre = nn.functional.linear(context, *self.context_in) if self.made else None  # [K, hidden]
        keys = torch.zeros(count, PITCHES)
        placed = torch.zeros(count)
        log_weight = torch.zeros(count)
        logits = torch.zeros(count, PITCHES)
        for k in range(PITCHES):
            logit = base[:, k]
            if pre is not None:
                logit = logit + torch.relu(pre) @ self.hidden_out[k] + keys @ self.direct[k]
            logits[:, k] = logit
            logit = logit / temperature
            if k < low or k > region_end + (1 if top is not None else 0):
                forced_on, forced_off = torch.zeros(count, dtype=torch.bool), torch.ones(count, dtype=torch.bool)
            elif top is not None and k == top:
                forced_on, forced_off = torch.ones(count, dtype=torch.bool), torch.zeros(count, dtype=torch.bool)
            else:
                forced_off = placed >= need
                forced_on = ~forced_off & (need - placed >= region_end - k + 1)
            drawn = uniforms[:, k] < torch.sigmoid(logit)
            value = torch.where(forced_on, True, torch.where(forced_off, False, drawn)).float()
            forced = forced_on | forced_off
            # log p(value) = logsigmoid(logit) when on, logsigmoid(-logit) when off.
            log_weight += torch.where(forced, nn.functional.logsigmoid((2 * value - 1) * logit), 0.0)
            keys[:, k] = value
            if low <= k <= region_end:
                placed += value
            if pre is not None:
                pre += value[:, None] * self.keys_in[:, k][None, :]
        return keys, log_weight, logits


@torch.no_grad()
def harmonise(
    model: FrameLSTM,
    melody: Sequence[int | None],
    *,
    seed: int = 0,
    temperature: float = 1.0,
    candidates: int = 32,
    parallel_penalty: float = 0.05,
    key: Key | None = None,
    out_of_key_penalty: float = 1.0,
    device: str | torch.device = "cpu",
) -> FrameHarmony:
    """Four voices for each frame of `melody` (a MIDI pitch per frame, None where the melody rests).

    For each frame, in order:
    1. the LSTM state (on `device`) gives the context of the frame; it moves to the CPU once;
    2. `candidates` frames are drawn key by key, low to high (`_KeySampler`): the melody key on, nothing
       above it, exactly three keys between C2 and the melody (four keys between C2 and C6 where the melody
       rests);
    3. each candidate's weight is the model's probability of the forced keys (the melody key on, the keys
       above it off, and any key the count forced), times `parallel_penalty` for each parallel fifth or
       octave it makes with the previous frame, and by `out_of_key_penalty` for each lower voice outside `key`
       (when given: the scale, minor with its raised 6th and 7th); a voicing out of `VOICE_RANGES` or with more than an octave
       between soprano and alto or alto and tenor weighs nothing (unless every candidate is such);
    4. one candidate is drawn by weight and fed to the LSTM as the next input.
    All draws come from one CPU generator seeded with `seed`, so a seed gives the same voices on any device.
    """
    if not melody:
        return FrameHarmony(np.zeros((0, 4), dtype=np.int64))
    if (
        not temperature > 0
        or candidates < 1
        or not 0.0 < parallel_penalty <= 1.0
        or not 0.0 < out_of_key_penalty <= 1.0
    ):
        raise ValueError("temperature must be > 0, candidates >= 1 and both penalties in (0, 1]")
    in_key = None if key is None else {(key.tonic + pc) % 12 for pc in scale_pitch_classes(key)}
    for pitch in melody:
        if pitch is not None and not LOWEST_VOICE + 3 <= pitch <= HIGHEST_VOICE:
            raise ValueError(f"melody pitch {pitch} outside {LOWEST_VOICE + 3}..{HIGHEST_VOICE}")
    dev = torch.device(device)
    model.to(dev)
    model.eval()
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    sampler = _KeySampler(model.head)
    state = None
    frame = torch.zeros(1, 1, PITCHES, device=dev)  # the first frame is predicted from an all-zero input
    voices = np.zeros((len(melody), 4), dtype=np.int64)
    parallels = 0
    for index, pitch in enumerate(melody):
        hidden, state = model.lstm(frame, state)
        context = model.drop(hidden)[0, -1].float().cpu().expand(candidates, -1)
        uniforms = torch.rand(candidates, PITCHES, generator=generator)
        top = None if pitch is None else pitch - LOWEST_PITCH
        keys, log_weight, _ = sampler.draw(context, uniforms, temperature=temperature, top=top, need=3 if top else 4)
        chords = [np.sort(np.nonzero(row.numpy())[0] + LOWEST_PITCH)[::-1][:4] for row in keys]
        ok = torch.tensor([len(c) == 4 and _voicing_ok(c) for c in chords])
        if index:
            log_weight += torch.tensor(
                [
                    count_parallels(voices[index - 1], c) * math.log(parallel_penalty) if len(c) == 4 else 0.0
                    for c in chords
                ]
            )
        if in_key is not None and out_of_key_penalty < 1.0:
            outside = [sum(int(p) % 12 not in in_key for p in c[1:]) for c in chords]
            log_weight += torch.tensor(outside, dtype=torch.float32) * math.log(out_of_key_penalty)
        if ok.any():
            log_weight = torch.where(ok, log_weight, float("-inf"))
        choice = int(torch.multinomial(torch.softmax(log_weight, dim=0), 1, generator=generator))
        chord = chords[choice]
        if len(chord) < 4:  # only when the count could not be met (a melody key too low): double the bass
            chord = np.concatenate([chord, np.repeat(chord[-1:], 4 - len(chord))])
        voices[index] = chord
        if index:
            parallels += count_parallels(voices[index - 1], chord)
        frame = keys[choice].to(dev)[None, None, :]
    return FrameHarmony(voices=voices, parallels=parallels)


def voices_to_chords(voices: np.ndarray) -> list[Chord]:
    """Name each frame's four pitches [frames, 4] (high to low) as a `Chord` (`markov.match_chord`, the bass
    as the lowest note)."""
    chords: list[Chord] = []
    for frame in voices:
        histogram = np.bincount(np.asarray(frame, dtype=np.int64) % 12, minlength=12).astype(np.float64)
        chord = match_chord(histogram, int(frame[-1]) % 12)
        assert chord is not None  # four sounding pitches are never silence
        chords.append(chord)
    return chords


class FrameHarmoniser:
    """The frame model as a harmoniser of `arrange.py` (`Harmoniser`): `(melody_per_beat, rng, key)` -> one
    `Chord` per beat, where entry i of `melody_per_beat` holds the melody pitches sounding in beat i, the one at
    the beat first.

    One frame per beat: `harmonise` writes four voices under the pitch at each beat (a rest leaves the frame
    free), seeded from `rng`, and each frame is named by `voices_to_chords`. The model's own four voices of the
    last call stay in `harmony`, for the arrangement or a measurement that wants them rather than the chords.
    The model reads absolute pitches and sees no key; `key` weighs the candidates through `out_of_key_penalty`
    (1: the model alone). At 0.2 the chords' in-key ratio on the test chorales went from 0.902 to 0.966 (the
    Markov chords: 0.958; Bach: 0.951), benchmarks/generation/RESULTS-issue16.md.
    """

    def __init__(
        self,
        model: FrameLSTM,
        *,
        temperature: float = 1.0,
        candidates: int = 32,
        parallel_penalty: float = 0.05,
        out_of_key_penalty: float = 0.2,
        device: str | torch.device = "cpu",
    ) -> None:
        self.model = model
        self.out_of_key_penalty = out_of_key_penalty
        self.temperature = temperature
        self.candidates = candidates
        self.parallel_penalty = parallel_penalty
        self.device = device
        self.harmony: FrameHarmony | None = None

    def __call__(self, melody_per_beat: Sequence[Sequence[int]], rng: np.random.Generator, key: Key) -> list[Chord]:
        melody = [_into_voice_range(int(p[0])) if len(p) else None for p in melody_per_beat]
        seed = int(rng.integers(0, 2**31 - 1))
        self.harmony = harmonise(
            self.model,
            melody,
            seed=seed,
            temperature=self.temperature,
            candidates=self.candidates,
            parallel_penalty=self.parallel_penalty,
            key=key,
            out_of_key_penalty=self.out_of_key_penalty,
            device=self.device,
        )
        return voices_to_chords(self.harmony.voices)


def _into_voice_range(pitch: int) -> int:
    """`pitch` moved by octaves into the soprano keys the harmoniser accepts."""
    while pitch < LOWEST_VOICE + 3:
        pitch += 12
    while pitch > HIGHEST_VOICE:
        pitch -= 12
    return pitch
