"""Autoregressive token models: a stacked LSTM (seed §3.1) and a decoder-only Transformer; and the builder that also
makes the melody VAE (`vae.py`, seed §4.2).

The two autoregressive models map tokens [batch, time] (int64) to next-token logits [batch, time, vocab]; position
t sees tokens 0..t only.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from .vae import ARCH as VAE_ARCH
from .vae import VAEConfig, build_vae

ARCHITECTURES = ("lstm", "transformer")
POSITIONS = ("absolute", "relative")


@dataclass(frozen=True)
class ModelConfig:
    arch: str = "lstm"
    dim: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_len: int = 1024  # the longest context the model is run on; the sampler crops to it
    # Transformer: multiply the token embeddings by sqrt(dim) (the convention of "Attention is all you need",
    # whose embeddings start with std dim ** -0.5). torch's embeddings start with std 1, so the scale drowned
    # the sinusoidal positions (amplitude 1) by sqrt(dim). Only checkpoints trained before it was turned off
    # (their stored config lacks the key; see `legacy_config`) set it.
    scale_embedding: bool = False
    # Transformer positions: "absolute" (sinusoids added to the embeddings; the model cannot read past max_len)
    # or "relative" (a learned bias per head and distance added to the attention logits, as in Music Transformer's
    # relative attention in its bias-only form: no position table, any length runs, distances past
    # `max_distance` share the last bias).
    positions: str = "absolute"
    max_distance: int = 256

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {self.arch!r}; choose one of {', '.join(ARCHITECTURES)}")
        if self.dim < 1 or self.layers < 1 or self.max_len < 2:
            raise ValueError("dim and layers must be >= 1 and max_len >= 2")
        if self.arch == "transformer" and self.dim % self.heads:
            raise ValueError(f"dim {self.dim} is not divisible by heads {self.heads}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout {self.dropout} outside [0, 1)")
        if self.positions not in POSITIONS:
            raise ValueError(f"unknown positions {self.positions!r}; choose one of {', '.join(POSITIONS)}")
        if self.max_distance < 1:
            raise ValueError("max_distance must be >= 1")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Build from a dict, ignoring unknown keys (a stored config may carry extra bookkeeping)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEFAULT_CONFIGS: dict[str, ModelConfig] = {
    "lstm": ModelConfig(arch="lstm", dim=256, layers=2, heads=1, dropout=0.2, max_len=1024),
    # max_len 256, the platform's training window: sampling then slides a 256-token window instead of reading
    # positions the model never saw in training (on the chorale split, test NLL per token 0.796 in windows of
    # the trained 128 against 1.077 in windows of 256).
    "transformer": ModelConfig(
        arch="transformer", dim=256, layers=4, heads=4, dropout=0.1, max_len=256, positions="relative"
    ),
}

# Tiny sizes that train in seconds on a CPU: for tests and smoke runs, not for music.
DEBUG_CONFIGS: dict[str, ModelConfig] = {
    "lstm": ModelConfig(arch="lstm", dim=32, layers=1, heads=1, dropout=0.0, max_len=256),
    "transformer": ModelConfig(
        arch="transformer", dim=32, layers=1, heads=2, dropout=0.0, max_len=256, positions="relative"
    ),
}


class LSTMModel(nn.Module):
    """Embedding -> stacked LSTM -> linear to vocabulary logits (seed §3.1)."""

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, config.dim)
        # PyTorch applies LSTM dropout only between layers, and warns when there is a single layer.
        self.lstm = nn.LSTM(
            config.dim,
            config.dim,
            num_layers=config.layers,
            batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, time] -> logits [batch, time, vocab]."""
        hidden, _ = self.lstm(self.embed(tokens))
        logits: torch.Tensor = self.head(self.drop(hidden))
        return logits

    def step(
        self, tokens: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """Incremental forward: tokens [batch, time] after `state` -> (logits [batch, time, vocab], new state).

        Lets the sampler feed one token per step instead of re-reading the whole context (linear, not quadratic).
        State is (h, c), each [layers, batch, dim].
        """
        hidden, new_state = self.lstm(self.embed(tokens), state)
        return self.head(self.drop(hidden)), new_state


def sinusoidal_positions(max_len: int, dim: int) -> torch.Tensor:
    """The fixed sin/cos table of "Attention is all you need", shape [max_len, dim]."""
    position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)
    div = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(max_len, dim)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div)[:, : dim // 2]
    return table


class TransformerModel(nn.Module):
    """Decoder-only Transformer: self-attention layers under a causal mask, sinusoidal positions, pre-norm."""

    positions: torch.Tensor  # [max_len, dim], a buffer

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, config.dim)
        # A non-persistent buffer: moves with .to(device), is never trained, and is rebuilt from the config on load.
        self.register_buffer("positions", sinusoidal_positions(config.max_len, config.dim), persistent=False)
        layer = nn.TransformerEncoderLayer(
            d_model=config.dim,
            nhead=config.heads,
            dim_feedforward=4 * config.dim,
            dropout=config.dropout,
            batch_first=True,
            norm_first=True,  # pre-norm trains stably without warm-up tricks at these sizes
        )
        # Nested-tensor fast path only applies to padding masks and warns with norm_first; turn it off.
        self.blocks = nn.TransformerEncoder(layer, num_layers=config.layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.dim, vocab_size)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, time] -> logits [batch, time, vocab]; raises ValueError past `max_len`."""
        length = tokens.shape[1]
        if length > self.config.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len {self.config.max_len}")
        scale = math.sqrt(self.config.dim) if self.config.scale_embedding else 1.0
        x = self.embed(tokens) * scale + self.positions[:length]
        mask = nn.Transformer.generate_square_subsequent_mask(length, device=tokens.device, dtype=x.dtype)
        hidden = self.blocks(self.drop(x), mask=mask, is_causal=True)
        logits: torch.Tensor = self.head(self.norm(hidden))
        return logits


class RelativeBlock(nn.Module):
    """One pre-norm decoder block whose attention logits get a learned bias per head and query-key distance."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.heads = config.heads
        self.dropout = config.dropout
        self.norm1 = nn.LayerNorm(config.dim)
        self.qkv = nn.Linear(config.dim, 3 * config.dim)
        self.proj = nn.Linear(config.dim, config.dim)
        self.norm2 = nn.LayerNorm(config.dim)
        self.ff = nn.Sequential(
            nn.Linear(config.dim, 4 * config.dim),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(4 * config.dim, config.dim),
        )
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """x [batch, time, dim]; bias [heads, time, time] (causal mask included as -inf)."""
        batch, time, dim = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, time, 3, self.heads, dim // self.heads).unbind(2)
        attended = nn.functional.scaled_dot_product_attention(
            q.transpose(1, 2),
            k.transpose(1, 2),
            v.transpose(1, 2),
            attn_mask=bias.unsqueeze(0).to(q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        x = x + self.drop(self.proj(attended.transpose(1, 2).reshape(batch, time, dim)))
        out: torch.Tensor = x + self.drop(self.ff(self.norm2(x)))
        return out


class RelativeTransformerModel(nn.Module):
    """Decoder-only Transformer with relative attention (a learned bias per head and distance, shared by the
    layers; seed §3.2, Music Transformer's insight that intervals in time matter more than absolute positions).
    Nothing depends on the absolute position, so the model runs on any length; `max_len` only bounds the
    sampler's context."""

    def __init__(self, config: ModelConfig, vocab_size: int) -> None:
        super().__init__()
        self.config = config
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, config.dim)
        self.distance_bias = nn.Embedding(config.max_distance, config.heads)
        nn.init.zeros_(self.distance_bias.weight)
        self.blocks = nn.ModuleList(RelativeBlock(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.dim)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.dim, vocab_size)

    def attention_bias(self, length: int, device: torch.device) -> torch.Tensor:
        """[heads, length, length]: the learned bias of each query-key distance, -inf where the key is later."""
        steps = torch.arange(length, device=device)
        distance = steps[:, None] - steps[None, :]
        bias: torch.Tensor = self.distance_bias(distance.clamp(0, self.config.max_distance - 1)).permute(2, 0, 1)
        return bias.masked_fill(distance < 0, float("-inf"))

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [batch, time] -> logits [batch, time, vocab]."""
        bias = self.attention_bias(tokens.shape[1], tokens.device)
        x = self.drop(self.embed(tokens))
        for block in self.blocks:
            x = block(x, bias)
        logits: torch.Tensor = self.head(self.norm(x))
        return logits


def get_model(name: str, config: dict[str, Any] | ModelConfig | VAEConfig | None, vocab_size: int) -> nn.Module:
    """Build an untrained model. `config` overrides the fields of `DEFAULT_CONFIGS[name]`; pass
    `{"size": "debug"}` (or any dict with size=debug) to start from `DEBUG_CONFIGS[name]` instead.
    `name="vae"` builds the melody VAE from `vae.DEFAULT_CONFIG` / `vae.DEBUG_CONFIG` the same way."""
    if name == VAE_ARCH:
        if isinstance(config, ModelConfig):
            raise ValueError("the VAE takes a VAEConfig or a dict, not a ModelConfig")
        return build_vae(config, vocab_size)
    if isinstance(config, VAEConfig):
        raise ValueError(f"config is for 'vae', asked for {name!r}")
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join((*ARCHITECTURES, VAE_ARCH))}")
    if isinstance(config, ModelConfig):
        resolved = config
    else:
        overrides = dict(config or {})
        base = DEBUG_CONFIGS[name] if overrides.pop("size", None) == "debug" else DEFAULT_CONFIGS[name]
        merged = base.to_dict() | overrides
        merged["arch"] = name
        resolved = ModelConfig.from_dict(merged)
    if resolved.arch != name:
        raise ValueError(f"config is for {resolved.arch!r}, asked for {name!r}")
    if vocab_size < 2:
        raise ValueError("vocab_size must be >= 2")
    if name == "lstm":
        return LSTMModel(resolved, vocab_size)
    if resolved.positions == "relative":
        return RelativeTransformerModel(resolved, vocab_size)
    return TransformerModel(resolved, vocab_size)


def legacy_config(arch: str, stored: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's stored config, completed for checkpoints older than a field whose default changed:
    a Transformer config without `scale_embedding` was trained with the sqrt(dim) scale, and one without
    `positions` with absolute (sinusoidal) positions."""
    if arch != "transformer":
        return stored
    completed = dict(stored)
    if "scale_embedding" not in stored:
        completed["scale_embedding"] = True
    if "positions" not in stored:
        completed["positions"] = "absolute"
    return completed


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
