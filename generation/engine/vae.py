"""A MusicVAE-style melody VAE (seed §4.2; Roberts et al. 2018, arXiv 1803.05428): encode a window of melody bars
to a latent vector, decode a latent vector back to a melody, interpolate and mix styles in latent space.

Data. A window is `bars` consecutive bars of the melody tokens of `tokens.encode_melody` (BAR, POSITION, PITCH,
DURATION; no TRACK tokens), starting at a BAR token and without BOS/EOS. Event tokens, not MusicVAE's one
token per 16th: a bar holds a variable number of tokens, so a window is padded to the config's `max_len`.
Targets are the window followed by EOS, [batch, time] with time = max_len + 1; PAD (0) marks the end.

Model.
1. Encoder: embedding -> bidirectional LSTM over the target tokens (packed, so PAD is never read) -> the last
   forward and backward states -> two linear maps to mu and log sigma^2, each [batch, latent].
2. z = mu + sigma * eps while training (the reparameterisation trick), z = mu when encoding for use.
3. Decoder: an LSTM whose initial state is tanh(linear(z)). With `conductor`, a one-layer conductor LSTM reads z
   once per bar and emits one embedding per bar [batch, bars, conductor_dim]; each decoder step receives the
   embedding of the bar its input token is in (MusicVAE's hierarchy; unlike MusicVAE the decoder state is not
   reset at a bar line, because bars have no fixed token count here). Without it (the "flat" decoder), each
   step receives z itself. Teacher forcing: the decoder reads [BOS] + targets[:-1].
4. Loss per window: reconstruction cross-entropy summed over its tokens + beta * max(KL - free_nats, 0), where
   KL = KL(q(z|x) || N(0, I)) summed over latent dimensions, beta rises linearly from 0 to `beta` over
   `anneal_steps` (KL annealing) and `free_nats` is the free-bits allowance (in nats) left unpenalised.

Sampling is deterministic for a seed: the logits go to the CPU as float32 and each step draws ONE uniform from a
CPU `torch.Generator`, shared by every row of the batch, then inverts each row's CDF. A row's output therefore
depends only on its z and the seed (not on the batch it is decoded in), and neighbouring latents on an
interpolation path use the same random numbers, so they change only where their distributions differ.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch
from torch import nn

from .anticopy import NgramGuard
from .tokens import VOCAB, Vocab
from .train import EarlyStopping, _autocast_dtype, _epoch_order

ARCH = "vae"
PAD_ID = VOCAB.pad


@dataclass(frozen=True)
class VAEConfig:
    arch: str = ARCH
    bars: int = 16  # bars per window: 2 (MusicVAE's short melodies) or 16 (its long ones)
    max_len: int = 320  # tokens per window without EOS; longer windows are skipped at training
    embed: int = 64
    encoder_dim: int = 256  # per direction
    decoder_dim: int = 256
    latent: int = 128
    layers: int = 2  # encoder and decoder LSTM layers
    conductor: bool = True  # per-bar conductor (hierarchical decoder); False: flat decoder fed z at every step
    conductor_dim: int = 128
    dropout: float = 0.1
    beta: float = 0.2  # the KL weight after annealing
    anneal_steps: int = 1000  # training steps over which the KL weight rises from 0 to beta
    free_nats: float = 16.0  # KL per window under this is not penalised (free bits, in nats)

    def __post_init__(self) -> None:
        if self.arch != ARCH:
            raise ValueError(f"config is for {self.arch!r}, not {ARCH!r}")
        if self.bars < 1 or self.max_len < 2 or min(self.embed, self.encoder_dim, self.decoder_dim) < 1:
            raise ValueError("bars must be >= 1, max_len >= 2 and every dimension >= 1")
        if self.latent < 1 or self.layers < 1 or self.conductor_dim < 1:
            raise ValueError("latent, layers and conductor_dim must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout {self.dropout} outside [0, 1)")
        if self.beta < 0 or self.free_nats < 0 or self.anneal_steps < 0:
            raise ValueError("beta, free_nats and anneal_steps must be >= 0")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VAEConfig:
        """Build from a dict, ignoring unknown keys (a stored config may carry extra bookkeeping)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONFIG = VAEConfig()
# Seconds on a CPU: for tests and smoke runs. Two bars, a flat decoder.
DEBUG_CONFIG = VAEConfig(
    bars=2,
    max_len=64,
    embed=16,
    encoder_dim=32,
    decoder_dim=32,
    latent=8,
    layers=1,
    conductor=False,
    conductor_dim=16,
    dropout=0.0,
    beta=0.5,
    anneal_steps=50,
    free_nats=4.0,
)


def resolve_config(config: dict[str, Any] | VAEConfig | None) -> VAEConfig:
    """`config` overrides DEFAULT_CONFIG's fields; `{"size": "debug"}` starts from DEBUG_CONFIG instead."""
    if isinstance(config, VAEConfig):
        return config
    overrides = dict(config or {})
    base = DEBUG_CONFIG if overrides.pop("size", None) == "debug" else DEFAULT_CONFIG
    return VAEConfig.from_dict(base.to_dict() | overrides | {"arch": ARCH})


# --- windows ---------------------------------------------------------------------------------------------
def melody_bars(tokens: Sequence[int], vocab: Vocab = VOCAB) -> list[list[int]]:
    """The bars of a melody token sequence, each starting with its BAR token; BOS, tokens before the first BAR
    and everything from EOS on are dropped."""
    bars: list[list[int]] = []
    for raw in tokens:
        token = int(raw)
        if token == vocab.eos:
            break
        if token == vocab.bar:
            bars.append([token])
        elif bars and token not in (vocab.bos, vocab.pad):
            bars[-1].append(token)
    return bars


def melody_windows(
    sequences: Sequence[Sequence[int]],
    bars: int,
    *,
    hop: int | None = None,
    max_len: int | None = None,
    vocab: Vocab = VOCAB,
) -> list[list[int]]:
    """Every window of `bars` consecutive bars (start every `hop` bars, default `bars`) that holds at least one
    note and, with `max_len`, at most `max_len` tokens. Each window is a flat token list starting with BAR."""
    if bars < 1:
        raise ValueError("bars must be >= 1")
    step = bars if hop is None else hop
    if step < 1:
        raise ValueError("hop must be >= 1")
    windows: list[list[int]] = []
    for sequence in sequences:
        split = melody_bars(sequence, vocab)
        for start in range(0, len(split) - bars + 1, step):
            window = [t for bar in split[start : start + bars] for t in bar]
            if max_len is not None and len(window) > max_len:
                continue
            if any(vocab.is_pitch(t) for t in window):
                windows.append(window)
    return windows


def window_tensor(windows: Sequence[Sequence[int]], max_len: int, vocab: Vocab = VOCAB) -> torch.Tensor:
    """Targets [windows, max_len + 1]: each window, then EOS, then PAD. ValueError for a window over max_len."""
    rows = []
    for window in windows:
        if len(window) > max_len:
            raise ValueError(f"a window of {len(window)} tokens exceeds max_len {max_len}")
        row = [int(t) for t in window] + [vocab.eos]
        rows.append(row + [PAD_ID] * (max_len + 1 - len(row)))
    if not rows:
        raise ValueError("no windows")
    return torch.tensor(rows, dtype=torch.long)


# --- model -----------------------------------------------------------------------------------------------
class MelodyVAE(nn.Module):
    """Bidirectional-LSTM encoder, (conductor +) LSTM decoder; see the module docstring."""

    def __init__(self, config: VAEConfig, vocab_size: int, vocab: Vocab = VOCAB) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.bos, self.eos, self.bar = vocab.bos, vocab.eos, vocab.bar
        c = config
        lstm_dropout = c.dropout if c.layers > 1 else 0.0  # PyTorch warns about dropout on a single layer
        self.embed = nn.Embedding(vocab_size, c.embed, padding_idx=PAD_ID)
        self.encoder = nn.LSTM(
            c.embed, c.encoder_dim, num_layers=c.layers, batch_first=True, bidirectional=True, dropout=lstm_dropout
        )
        self.to_mu = nn.Linear(2 * c.encoder_dim, c.latent)
        self.to_logvar = nn.Linear(2 * c.encoder_dim, c.latent)
        self.to_state = nn.Linear(c.latent, 2 * c.layers * c.decoder_dim)
        if c.conductor:
            self.conductor = nn.LSTM(c.latent, c.conductor_dim, batch_first=True)
            condition = c.conductor_dim
        else:
            condition = c.latent
        self.decoder = nn.LSTM(
            c.embed + condition, c.decoder_dim, num_layers=c.layers, batch_first=True, dropout=lstm_dropout
        )
        self.drop = nn.Dropout(c.dropout)
        self.head = nn.Linear(c.decoder_dim, vocab_size)

    # --- encoder --------------------------------------------------------------------------------------
    def posterior(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """targets [batch, time] (window + EOS + PAD) -> (mu, logvar), each [batch, latent]."""
        lengths = (targets != PAD_ID).sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(targets), lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.encoder(packed)
        # h [layers * 2, batch, dim]: the last layer's forward and backward final states.
        last = torch.cat([h[-2], h[-1]], dim=-1)
        return self.to_mu(last), self.to_logvar(last)

    # --- decoder --------------------------------------------------------------------------------------
    def initial_state(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z [batch, latent] -> (h, c), each [layers, batch, decoder_dim]."""
        c = self.config
        state = torch.tanh(self.to_state(z)).view(z.shape[0], 2, c.layers, c.decoder_dim)
        return state[:, 0].transpose(0, 1).contiguous(), state[:, 1].transpose(0, 1).contiguous()

    def conditions(self, z: torch.Tensor) -> torch.Tensor:
        """z [batch, latent] -> per-bar conditions [batch, bars, dim] (the flat decoder: z for every bar)."""
        repeated = z.unsqueeze(1).expand(-1, self.config.bars, -1)
        if not self.config.conductor:
            return repeated
        out: torch.Tensor = self.conductor(repeated.contiguous())[0]
        return out

    def bar_index(self, inputs: torch.Tensor, offset: torch.Tensor | None = None) -> torch.Tensor:
        """The bar each input token is in, [batch, time]: BAR tokens read so far (+ `offset` [batch]) - 1, clipped
        to 0..bars-1 (BOS counts as bar 0)."""
        count = (inputs == self.bar).long().cumsum(dim=1)
        if offset is not None:
            count = count + offset.unsqueeze(1)
        return (count - 1).clamp(0, self.config.bars - 1)

    def decoder_step(
        self,
        inputs: torch.Tensor,
        conditions: torch.Tensor,
        bar_index: torch.Tensor,
        state: tuple[torch.Tensor, torch.Tensor],
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """inputs [batch, time], conditions [batch, bars, dim], bar_index [batch, time] -> (logits [batch, time,
        vocab], new state)."""
        picked = torch.gather(conditions, 1, bar_index.unsqueeze(-1).expand(-1, -1, conditions.shape[-1]))
        hidden, new_state = self.decoder(torch.cat([self.embed(inputs), picked], dim=-1), state)
        return self.head(self.drop(hidden)), new_state

    def forward(self, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Teacher-forced pass. targets [batch, time] -> (logits [batch, time, vocab], mu, logvar [batch, latent]).

        z is sampled with the global torch RNG in training mode and is mu in eval mode."""
        mu, logvar = self.posterior(targets)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar) if self.training else mu
        inputs = torch.cat([torch.full_like(targets[:, :1], self.bos), targets[:, :-1]], dim=1)
        logits, _ = self.decoder_step(inputs, self.conditions(z), self.bar_index(inputs), self.initial_state(z))
        return logits, mu, logvar


def build_vae(config: dict[str, Any] | VAEConfig | None, vocab_size: int) -> MelodyVAE:
    """The builder `models.get_model("vae", ...)` calls."""
    if vocab_size < 2:
        raise ValueError("vocab_size must be >= 2")
    return MelodyVAE(resolve_config(config), vocab_size)


def kl_per_window(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in nats, summed over latent dims: [batch, latent] -> [batch]."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=-1)


def vae_loss(
    logits: torch.Tensor, targets: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float, free_nats: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction NLL [batch], KL [batch]); loss = mean over windows of NLL + beta * max(KL - free, 0).

    logits [batch, time, vocab], targets [batch, time]; NLL is summed over a window's non-PAD tokens."""
    nll = nn.functional.cross_entropy(
        logits.float().transpose(1, 2), targets, ignore_index=PAD_ID, reduction="none"
    ).sum(dim=1)
    kl = kl_per_window(mu.float(), logvar.float())
    penalised = torch.clamp(kl - free_nats, min=0.0)
    return (nll + beta * penalised).mean(), nll, kl


def kl_weight(config: VAEConfig, step: int) -> float:
    """The KL weight at training step `step` (0-based): linear warm-up from 0 to beta over anneal_steps."""
    if config.anneal_steps == 0:
        return config.beta
    return config.beta * min(1.0, step / config.anneal_steps)


# --- encode, decode, interpolate -------------------------------------------------------------------------
@torch.no_grad()
def encode(
    model: MelodyVAE, windows: Sequence[Sequence[int]], device: str | torch.device = "cpu", batch_size: int = 64
) -> torch.Tensor:
    """The posterior means of `windows` (token lists as `melody_windows` makes them): [windows, latent] on the
    CPU. ValueError for a window longer than the model's max_len."""
    dev = torch.device(device)
    model.to(dev).eval()
    targets = window_tensor(windows, model.config.max_len)
    parts = [
        model.posterior(targets[i : i + batch_size].to(dev))[0].float().cpu()
        for i in range(0, len(targets), batch_size)
    ]
    return torch.cat(parts)


def _grammar_mask(logits: torch.Tensor, bars_done: torch.Tensor, bars: int, vocab: Vocab) -> torch.Tensor:
    """logits [batch, vocab] with PAD and BOS removed, EOS removed until `bars` bars exist and BAR once they do; a
    window opens with BAR, so that is the only token before it."""
    logits = logits.clone()
    logits[bars_done == 0, : vocab.bar] = float("-inf")
    logits[bars_done == 0, vocab.bar + 1 :] = float("-inf")
    logits[:, PAD_ID] = float("-inf")
    logits[:, vocab.bos] = float("-inf")
    logits[bars_done < bars, vocab.eos] = float("-inf")
    logits[bars_done >= bars, vocab.bar] = float("-inf")
    return logits


@torch.no_grad()
def decode(
    model: MelodyVAE,
    z: torch.Tensor,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    max_len: int | None = None,
    device: str | torch.device = "cpu",
    vocab: Vocab = VOCAB,
) -> list[list[int]]:
    """Latents z [batch, latent] -> one window of `bars` bars per row (tokens without BOS/EOS).

    temperature 0 takes the most likely token (greedy); otherwise each step draws one uniform from a CPU generator
    seeded with `seed` and inverts each row's CDF (see the module docstring). Decoding stops at EOS or after
    `max_len` tokens (the config's max_len by default). ValueError for non-finite z or a negative temperature."""
    if z.dim() != 2 or z.shape[1] != model.config.latent:
        raise ValueError(f"z must be [batch, {model.config.latent}], got {list(z.shape)}")
    if not bool(torch.isfinite(z).all()):
        raise ValueError("the latent vector holds non-finite values")
    if not temperature >= 0 or not math.isfinite(temperature):
        raise ValueError(f"temperature must be a finite number >= 0, got {temperature}")
    dev = torch.device(device)
    model.to(dev).eval()
    limit = model.config.max_len if max_len is None else max_len
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    batch = z.shape[0]
    zd = z.to(dev, dtype=torch.float32)
    conditions, state = model.conditions(zd), model.initial_state(zd)
    token = torch.full((batch, 1), vocab.bos, dtype=torch.long)
    bars_done = torch.zeros(batch, dtype=torch.long)
    done = torch.zeros(batch, dtype=torch.bool)
    out: list[list[int]] = [[] for _ in range(batch)]
    for _ in range(limit):
        index = (bars_done - 1).clamp(0, model.config.bars - 1).unsqueeze(1)
        logits, state = model.decoder_step(token.to(dev), conditions, index.to(dev), state)
        masked = _grammar_mask(logits[:, -1].float().cpu(), bars_done, model.config.bars, vocab)
        if temperature == 0:
            chosen = masked.argmax(dim=-1)
        else:
            probs = torch.softmax(masked / temperature, dim=-1)
            cdf = probs.cumsum(dim=-1)
            u = torch.rand(1, generator=generator) * cdf[:, -1]
            chosen = torch.searchsorted(cdf, u.expand(batch).unsqueeze(1).contiguous()).squeeze(1)
            chosen = chosen.clamp(max=probs.shape[-1] - 1)
        for row in range(batch):
            if not done[row]:
                value = int(chosen[row])
                if value == vocab.eos:
                    done[row] = True
                else:
                    out[row].append(value)
        bars_done += ((chosen == vocab.bar) & ~done).long()
        if bool(done.all()):
            break
        token = chosen.unsqueeze(1)
    return out


def decode_guarded(
    model: MelodyVAE,
    z: torch.Tensor,
    guard: NgramGuard | None,
    *,
    seed: int = 0,
    temperature: float = 1.0,
    redraws: int = 8,
) -> tuple[list[int], int]:
    """One window from z [1, latent]; with `guard`, decoded again with seeds seed+1, seed+2, ... (temperature at
    least 0.5, so a greedy decode can change) while its melody holds a training interval n-gram or aligns with a
    training beat line (`NgramGuard.copies`), at most `redraws` times. The anti-copy guard of the VAE: its decoder is not steered token by token like the LSTM's sampler.
    Returns (tokens, redraws used)."""
    tokens = decode(model, z, seed=seed, temperature=temperature)[0]
    used = 0
    while guard is not None and used < redraws and guard.copies(tokens):
        used += 1
        tokens = decode(model, z, seed=seed + used, temperature=max(temperature, 0.5))[0]
    return tokens, used


def slerp(z_a: torch.Tensor, z_b: torch.Tensor, t: float) -> torch.Tensor:
    """Spherical interpolation between latents of the same shape ([latent] or [batch, latent]); t in 0..1 gives
    z_a at 0 and z_b at 1 exactly. Falls back to linear interpolation for (nearly) parallel vectors."""
    if not (isinstance(t, int | float) and math.isfinite(t) and 0.0 <= t <= 1.0):
        raise ValueError(f"t must be a number in 0..1, got {t!r}")
    if z_a.shape != z_b.shape:
        raise ValueError(f"latents of different shapes {list(z_a.shape)} and {list(z_b.shape)}")
    if not (bool(torch.isfinite(z_a).all()) and bool(torch.isfinite(z_b).all())):
        raise ValueError("the latent vectors hold non-finite values")
    if t == 0.0:
        return z_a.clone()
    if t == 1.0:
        return z_b.clone()
    a, b = z_a.double(), z_b.double()
    cos = (a * b).sum(-1, keepdim=True) / (a.norm(dim=-1, keepdim=True) * b.norm(dim=-1, keepdim=True)).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    sin = torch.sin(omega)
    linear = (1 - t) * a + t * b
    spherical = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / sin.clamp_min(1e-12)
    return torch.where(sin.abs() < 1e-6, linear, spherical).to(z_a.dtype)


def attribute_vector(
    model: MelodyVAE,
    windows_a: Sequence[Sequence[int]],
    windows_b: Sequence[Sequence[int]],
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Mean latent of windows_a minus mean latent of windows_b, [latent]: adding it moves a melody toward A."""
    if not windows_a or not windows_b:
        raise ValueError("both sets need at least one window")
    return encode(model, windows_a, device).mean(dim=0) - encode(model, windows_b, device).mean(dim=0)


def sample_prior(model: MelodyVAE, count: int, seed: int) -> torch.Tensor:
    """`count` latents from N(0, I), [count, latent], drawn from a CPU generator seeded with `seed`."""
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    return torch.randn(count, model.config.latent, generator=generator)


# --- training and evaluation -----------------------------------------------------------------------------
@dataclass
class VAETrainResult:
    losses: list[float] = field(default_factory=list)  # each step's loss (the training objective)
    steps: int = 0
    windows_per_s: float = 0.0
    held_out_loss: list[float] = field(default_factory=list)  # with early stopping: each evaluation's loss
    stopped: str = ""  # "patience", "budget" or "" (ran its epochs)
    seconds: float = 0.0


def train_vae(
    model: MelodyVAE,
    windows: Sequence[Sequence[int]],
    *,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 1e-3,
    device: str | torch.device = "cpu",
    seed: int = 0,
    on_step: Callable[[int, int, float], None] | None = None,
    grad_clip: float = 1.0,
    weight_decay: float = 0.0,
    early_stopping: EarlyStopping | None = None,
) -> VAETrainResult:
    """Train on `windows` (token lists) with teacher forcing, KL annealing and free bits.

    Follows `train.train`: AdamW, gradient-norm clipping, autocast on CUDA, batches in the order of a permutation
    seeded with (seed, epoch), `on_step(step, total, loss)` after each step. With `early_stopping` (its
    `held_out` are validation windows), the held-out loss is the training objective at the full KL weight,
    measured every `every` steps; patience only counts once annealing is over (the objective moves until then),
    and the best weights are kept. No checkpoint/resume: a run is minutes, not hours.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError("epochs and batch_size must be >= 1")
    config = model.config
    dev = torch.device(device)
    torch.manual_seed(int(seed))
    data = window_tensor([w for w in windows if len(w) <= config.max_len], config.max_len)
    held = None
    if early_stopping is not None:
        held = window_tensor([w for w in early_stopping.held_out if len(w) <= config.max_len], config.max_len)
    steps_per_epoch = math.ceil(len(data) / batch_size)
    total = epochs * steps_per_epoch
    model.to(dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    amp_dtype = _autocast_dtype(dev)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    result = VAETrainResult()
    best, best_state, worse = math.inf, None, 0
    started = time.perf_counter()
    step, seen = 0, 0
    model.train()
    while step < total:
        epoch, index = divmod(step, steps_per_epoch)
        order = _epoch_order(len(data), seed, epoch)
        batch = _trim(data[order[index * batch_size : (index + 1) * batch_size]]).to(dev)
        with torch.autocast(device_type=dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
            logits, mu, logvar = model(batch)
        loss, _, _ = vae_loss(logits, batch, mu, logvar, kl_weight(config, step), config.free_nats)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        scaler.step(optimizer)
        scaler.update()
        step += 1
        seen += len(batch)
        value = float(loss.detach().cpu())
        result.losses.append(value)
        if on_step is not None:
            on_step(step, total, value)
        if early_stopping is not None and held is not None:
            elapsed = time.perf_counter() - started
            over_budget = early_stopping.budget_s is not None and elapsed > early_stopping.budget_s
            if step % early_stopping.every == 0 or step == total or over_budget:
                held_loss = _held_out_loss(model, held, dev)
                model.train()
                result.held_out_loss.append(held_loss)
                annealed = step >= config.anneal_steps
                if held_loss < best - early_stopping.min_delta or not annealed:
                    best = held_loss if annealed else math.inf
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                    worse = 0
                else:
                    worse += 1
                if worse >= early_stopping.patience or over_budget:
                    result.stopped = "budget" if over_budget else "patience"
                    break
    if best_state is not None:
        model.load_state_dict(best_state)
    result.steps = step
    result.seconds = time.perf_counter() - started
    result.windows_per_s = seen / result.seconds if result.seconds > 0 else 0.0
    model.eval()
    return result


def _trim(targets: torch.Tensor) -> torch.Tensor:
    """targets [batch, time] cut after the batch's longest window: the decoder is not packed, and PAD columns
    cost as much as notes."""
    return targets[:, : max(int((targets != PAD_ID).sum(dim=1).max()), 1)]


@torch.no_grad()
def _held_out_loss(model: MelodyVAE, targets: torch.Tensor, dev: torch.device, batch_size: int = 64) -> float:
    """The objective at the full KL weight, per window, with z = mu (eval mode)."""
    model.eval()
    total = 0.0
    for start in range(0, len(targets), batch_size):
        batch = _trim(targets[start : start + batch_size]).to(dev)
        logits, mu, logvar = model(batch)
        loss, _, _ = vae_loss(logits, batch, mu, logvar, model.config.beta, model.config.free_nats)
        total += float(loss) * len(batch)
    return total / len(targets)


@dataclass
class VAEMetrics:
    windows: int
    nll_per_token: float  # teacher-forced reconstruction NLL (nats per target token, EOS included), z = mu
    kl_per_window: float  # mean KL(q(z|x) || p(z)) in nats
    teacher_forced_accuracy: float  # share of target tokens that are the argmax given the true prefix
    sampled_accuracy: float  # share of target positions the decoder's own sampled output (z = mu) matches
    greedy_accuracy: float  # the same with greedy decoding

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@torch.no_grad()
def evaluate_vae(
    model: MelodyVAE,
    windows: Sequence[Sequence[int]],
    *,
    device: str | torch.device = "cpu",
    seed: int = 0,
    temperature: float = 1.0,
    batch_size: int = 64,
) -> VAEMetrics:
    """Reconstruction of `windows` (longer ones than max_len are skipped). Accuracies are per step: position i of
    the output against position i of the target (window + EOS); a shorter output counts the rest as wrong."""
    dev = torch.device(device)
    model.to(dev).eval()
    kept = [w for w in windows if len(w) <= model.config.max_len]
    targets = window_tensor(kept, model.config.max_len)
    nll_sum = kl_sum = 0.0
    tf_right = sampled_right = greedy_right = count = 0
    for start in range(0, len(targets), batch_size):
        batch = _trim(targets[start : start + batch_size]).to(dev)
        logits, mu, logvar = model(batch)
        _, nll, kl = vae_loss(logits, batch, mu, logvar, 0.0, 0.0)
        mask = batch != PAD_ID
        nll_sum += float(nll.sum())
        kl_sum += float(kl.sum())
        tf_right += int(((logits.argmax(dim=-1) == batch) & mask).sum())
        count += int(mask.sum())
        target_rows = batch.cpu()
        for temp, is_greedy in ((temperature, False), (0.0, True)):
            outputs = decode(model, mu.float().cpu(), seed=seed, temperature=temp, device=dev)
            for row, output in enumerate(outputs):
                produced = [*output, VOCAB.eos]
                wanted = target_rows[row][target_rows[row] != PAD_ID].tolist()
                right = sum(1 for a, b in zip(produced, wanted, strict=False) if a == b)
                if is_greedy:
                    greedy_right += right
                else:
                    sampled_right += right
    return VAEMetrics(
        windows=len(kept),
        nll_per_token=nll_sum / max(count, 1),
        kl_per_window=kl_sum / max(len(kept), 1),
        teacher_forced_accuracy=tf_right / max(count, 1),
        sampled_accuracy=sampled_right / max(count, 1),
        greedy_accuracy=greedy_right / max(count, 1),
    )
