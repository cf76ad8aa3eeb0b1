"""Next-token training with deterministic batching, checkpoints and resume.

Batching. Every sequence is cut into windows of `seq_len + 1` tokens (stride `seq_len`, the last window padded
with PAD). Epoch e visits the windows in the order of a permutation drawn from a CPU generator seeded with
(seed, e), so step s always sees the same batch, and a resumed run sees exactly the batches the interrupted
run would have seen.

Learning rate. The base rate `lr` is scaled at every step by `lr_factor`: a linear warm-up over `warmup_steps`,
then constant, a cosine decay to `min_lr_ratio * lr` at the last step of the run's `epochs`, or an inverse
square root (no horizon: suits runs that end by early stopping). The factor is a pure function of the step, so
a resumed run continues on the same curve. Weight decay (AdamW) applies to matrices only, never to biases,
norm gains or embeddings (decaying an embedding row pulls rare tokens toward zero).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .tokens import DRUM_ROLE, NUM_TRACKS, VOCAB, Vocab

PAD_ID = 0
SCHEDULES = ("constant", "cosine", "inverse_sqrt")


def lr_factor(step: int, *, total: int, warmup: int = 0, schedule: str = "constant", min_ratio: float = 0.0) -> float:
    """Multiplier of the base learning rate for 0-based `step` of a run of `total` steps.

    1. Warm-up: (step + 1) / warmup for the first `warmup` steps (reaches 1 at step warmup - 1).
    2. Then "constant": 1; "cosine": from 1 down to `min_ratio` at step total - 1; "inverse_sqrt":
       sqrt(warmup / (step + 1)), continuous with the warm-up.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose one of {', '.join(SCHEDULES)}")
    if warmup < 0 or not 0.0 <= min_ratio <= 1.0:
        raise ValueError("warmup must be >= 0 and min_ratio in [0, 1]")
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "cosine":
        progress = min((step - warmup) / max(total - 1 - warmup, 1), 1.0)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    if schedule == "inverse_sqrt":
        return math.sqrt(max(warmup, 1) / (step + 1))
    return 1.0


@dataclass(frozen=True)
class Recipe:
    """How the platform trains one architecture: the `train` arguments that are not about the data."""

    lr: float
    warmup_steps: int = 0
    schedule: str = "constant"
    weight_decay: float = 0.01
    min_lr_ratio: float = 0.0
    transpose: int = 0  # semitones of random transposition per training window (`transpose_windows`)

    def kwargs(self) -> dict[str, Any]:
        return asdict(self)


#: Measured on the chorale split (benchmarks/generation/bench_schedule.py; RESULTS-issue16.md). The LSTM keeps its
#: constant rate: a warm-up + cosine schedule over a short CPU run cost it 0.14 nats per token. The Transformer
#: (relative attention, 256x4) warms up over 200 steps, decays on a cosine to 5 % of 1e-3 at the run's last
#: epoch, and trains on windows moved by up to 5 semitones: on an H200, test NLL 0.534 per melody token against
#: the LSTM's 0.696 with the LSTM's recipe (0.597 with the same transposition), 2026-11-28.
RECIPES: dict[str, Recipe] = {
    "lstm": Recipe(lr=3e-3),
    "transformer": Recipe(
        lr=1e-3, warmup_steps=200, schedule="cosine", weight_decay=0.1, min_lr_ratio=0.05, transpose=5
    ),
}


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """AdamW groups: weight decay on weight matrices, none on biases, norm gains and embedding tables."""
    no_decay = {id(module.weight) for module in model.modules() if isinstance(module, (nn.Embedding, nn.LayerNorm))}
    decay: list[nn.Parameter] = []
    keep: list[nn.Parameter] = []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        (keep if parameter.ndim < 2 or id(parameter) in no_decay else decay).append(parameter)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": keep, "weight_decay": 0.0}]


@dataclass
class TrainResult:
    losses: list[float] = field(default_factory=list)  # mean loss of each step run in this call
    steps: int = 0  # global step count after this call (includes steps done before a resume)
    tokens_per_s: float = 0.0  # target tokens (PAD excluded) per second in this call
    resumed_from: int = 0
    held_out_nll: list[float] = field(default_factory=list)  # with early stopping: each evaluation's NLL
    stopped: str = ""  # with early stopping: "patience", "budget" or "" (ran its epochs)


@dataclass
class EarlyStopping:
    """Train until the held-out NLL has not improved by `min_delta` for `patience` evaluations (one every
    `every` steps) or `budget_s` seconds have passed; the weights of the best evaluation are kept. `epochs`
    is then the most the run may take."""

    held_out: Sequence[Sequence[int]]
    every: int = 20
    patience: int = 3
    budget_s: float | None = None
    min_delta: float = 1e-3


def make_windows(sequences: Sequence[Sequence[int]], seq_len: int, pad_id: int = PAD_ID) -> torch.Tensor:
    """All training windows, shape [windows, seq_len + 1]; sequences shorter than 2 tokens are skipped."""
    if seq_len < 1:
        raise ValueError("seq_len must be >= 1")
    windows: list[list[int]] = []
    for sequence in sequences:
        tokens = [int(t) for t in sequence]
        if len(tokens) < 2:
            continue
        for start in range(0, max(1, len(tokens) - 1), seq_len):
            chunk = tokens[start : start + seq_len + 1]
            if len(chunk) < 2:
                break
            windows.append(chunk + [pad_id] * (seq_len + 1 - len(chunk)))
    if not windows:
        raise ValueError("no training windows: every sequence is shorter than 2 tokens")
    return torch.tensor(windows, dtype=torch.long)


def _epoch_order(count: int, seed: int, epoch: int) -> torch.Tensor:
    generator = torch.Generator(device="cpu").manual_seed(int(seed) * 1_000_003 + epoch)
    return torch.randperm(count, generator=generator)


def transpose_windows(
    windows: torch.Tensor, limit: int, generator: torch.Generator, vocab: Vocab = VOCAB
) -> torch.Tensor:
    """Each window [batch, time] moved by its own random number of semitones in -limit..limit: every pitched
    token shifts (drum notes, on the drum track, do not), and the shift is narrowed per window so that no pitch
    leaves 0..127. Data augmentation for key-independent models: the chorales sit in a handful of keys, the
    platform asks for any key."""
    if limit <= 0:
        return windows
    is_pitch = (windows >= vocab.pitch_offset) & (windows < vocab.pitch_offset + 128)
    is_track = (windows >= vocab.track_offset) & (windows < vocab.track_offset + NUM_TRACKS)
    resets = (windows == vocab.bar) | ((windows >= vocab.position_offset) & (windows < vocab.track_offset))
    # The role in force at each token: the last TRACK token since the last BAR/POSITION (else melody, 0).
    steps = torch.arange(windows.shape[1], device=windows.device).expand_as(windows)
    last_reset = torch.cummax(torch.where(resets, steps, -1), dim=1).values
    last_track = torch.cummax(torch.where(is_track, steps, -1), dim=1).values
    track_value = torch.gather(windows, 1, last_track.clamp(min=0)) - vocab.track_offset
    role = torch.where(last_track > last_reset, track_value, torch.zeros_like(windows))
    movable = is_pitch & (role != DRUM_ROLE)
    pitch = windows - vocab.pitch_offset
    high = torch.where(movable, pitch, -1).amax(dim=1)
    low = torch.where(movable, pitch, 128).amin(dim=1)
    wanted = torch.randint(-limit, limit + 1, (windows.shape[0],), generator=generator).to(windows.device)
    shift = torch.minimum(torch.maximum(wanted, -low.clamp(max=127)), (127 - high).clamp(min=0))
    return torch.where(movable, windows + shift[:, None], windows)


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """bf16 where the GPU supports it (no loss scaling needed), else fp16; None (full precision) off CUDA."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


_autocast_dtype = autocast_dtype  # the name vae.py imports


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, then rename: a crash never leaves half a checkpoint."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, target)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(Path(path), map_location="cpu", weights_only=False)
    return state


def train(
    model: nn.Module,
    sequences: Sequence[Sequence[int]],
    *,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-3,
    seq_len: int = 256,
    device: str | torch.device = "cpu",
    seed: int = 0,
    on_step: Callable[[int, int, float], None] | None = None,
    checkpoint_path: str | os.PathLike[str] | None = None,
    resume: bool = True,
    checkpoint_every: int = 100,
    grad_clip: float = 1.0,
    weight_decay: float = 0.01,
    pad_id: int = PAD_ID,
    early_stopping: EarlyStopping | None = None,
    warmup_steps: int = 0,
    schedule: str = "constant",
    min_lr_ratio: float = 0.0,
    transpose: int = 0,
) -> TrainResult:
    """Train `model` (tokens [batch, time] -> logits [batch, time, vocab]) to predict the next token.

    AdamW with gradient-norm clipping and the learning-rate schedule of `lr_factor`; on CUDA, autocast (bf16, or fp16 with a GradScaler). Saves model,
    optimiser, step and RNG state every `checkpoint_every` steps and at the end; with `resume` and an existing
    checkpoint, continues from its step. `on_step(step, total_steps, loss)` is called after each step.
    With `early_stopping`, the run ends early (see `EarlyStopping`) with the best evaluated weights.
    The warm-up is capped at a quarter of the run's steps. With `transpose` > 0, each training window is moved by a random -transpose..transpose semitones
    (`transpose_windows`; held-out windows are never moved).
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    lr_factor(0, total=1, warmup=warmup_steps, schedule=schedule, min_ratio=min_lr_ratio)  # refuse bad values early
    dev = torch.device(device)
    torch.manual_seed(int(seed))  # dropout masks and fresh parameters follow the seed too
    windows = make_windows(sequences, seq_len, pad_id)
    steps_per_epoch = math.ceil(len(windows) / batch_size)
    total = epochs * steps_per_epoch
    warmup_steps = min(warmup_steps, total // 4)  # a short run (a few epochs, a test) is not all warm-up

    model.to(dev)
    optimizer = torch.optim.AdamW(parameter_groups(model, weight_decay), lr=lr)
    amp_dtype = autocast_dtype(dev)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    loss_fn = nn.CrossEntropyLoss(ignore_index=pad_id)

    step = 0
    if checkpoint_path is not None and resume and Path(checkpoint_path).exists():
        state = load_checkpoint(checkpoint_path)
        model.load_state_dict(state["model"])
        try:
            optimizer.load_state_dict(state["optimizer"])
        except ValueError:  # saved before the decay/no-decay groups: keep the weights, restart Adam's moments
            pass
        if "scaler" in state and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
    resumed_from = step

    def checkpoint() -> None:
        if checkpoint_path is None:
            return
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict(),
            "step": step,
            "total_steps": total,
            "seed": int(seed),
            "torch_rng": torch.get_rng_state(),
            "config": getattr(getattr(model, "config", None), "to_dict", dict)(),
        }
        save_checkpoint(checkpoint_path, state)

    result = TrainResult(steps=step, resumed_from=resumed_from)
    model.train()
    tokens_seen = 0
    started = time.perf_counter()
    best_nll, best_state, worse = math.inf, None, 0
    while step < total:
        epoch, index = divmod(step, steps_per_epoch)
        order = _epoch_order(len(windows), seed, epoch)
        batch = windows[order[index * batch_size : (index + 1) * batch_size]]
        if transpose > 0:
            shifts = torch.Generator().manual_seed(int(seed) * 1_000_003 + step)
            batch = transpose_windows(batch, transpose, shifts)
        batch = batch.to(dev)
        inputs, targets = batch[:, :-1], batch[:, 1:]
        with torch.autocast(device_type=dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits = model(inputs)
            loss = loss_fn(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
        rate = lr * lr_factor(step, total=total, warmup=warmup_steps, schedule=schedule, min_ratio=min_lr_ratio)
        for group in optimizer.param_groups:
            group["lr"] = rate
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        value = float(loss.detach().cpu())
        result.losses.append(value)
        tokens_seen += int((targets != pad_id).sum())
        if on_step is not None:
            on_step(step, total, value)
        if checkpoint_every > 0 and step % checkpoint_every == 0 and step < total:
            checkpoint()
        if early_stopping is not None:
            over_budget = (
                early_stopping.budget_s is not None and time.perf_counter() - started > early_stopping.budget_s
            )
            if step % early_stopping.every == 0 or step == total or over_budget:
                nll = evaluate_nll(model, early_stopping.held_out, seq_len, dev, pad_id=pad_id)
                model.train()
                result.held_out_nll.append(nll)
                if nll < best_nll - early_stopping.min_delta:
                    best_nll, worse = nll, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    worse += 1
                if worse >= early_stopping.patience or over_budget:
                    result.stopped = "budget" if over_budget else "patience"
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    checkpoint()
    elapsed = time.perf_counter() - started
    result.steps = step
    result.tokens_per_s = tokens_seen / elapsed if elapsed > 0 and tokens_seen else 0.0
    model.eval()
    return result


@torch.no_grad()
def evaluate_nll(
    model: nn.Module,
    sequences: Sequence[Sequence[int]],
    seq_len: int = 256,
    device: str | torch.device = "cpu",
    *,
    batch_size: int = 32,
    pad_id: int = PAD_ID,
) -> float:
    """Mean negative log-likelihood in nats per (non-PAD) target token."""
    dev = torch.device(device)
    windows = make_windows(sequences, seq_len, pad_id)
    model.to(dev)
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(windows), batch_size):
        batch = windows[start : start + batch_size].to(dev)
        logits = model(batch[:, :-1]).float()
        targets = batch[:, 1:]
        loss = nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=pad_id, reduction="sum"
        )
        total += float(loss)
        count += int((targets != pad_id).sum())
    return total / max(count, 1)
