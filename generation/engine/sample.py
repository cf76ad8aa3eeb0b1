"""Sampling from a token model, and the high-level `generate_piece`.

Determinism: all randomness comes from one CPU `torch.Generator` seeded with `seed` (token sampling) and one
numpy Generator seeded from the same seed (harmony, arrangement). Logits are moved to CPU float32 before any
random draw, so the draws do not depend on the device the model runs on.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ledgerline.music.events import NOTE_DTYPE, NoteRow, Score, TrackInfo

from .anticopy import NgramGuard
from .arrange import Harmoniser, arrange_piece, fit_soprano_range, validate_arrangement
from .limits import MAX_BARS, MAX_TEMPO, MIN_TEMPO
from .markov import Key, MarkovHarmony, estimate_key, key_shift, parse_key
from .stats import scale_pitch_classes
from .tokens import ROLE_NAMES, Vocab, decode, encode_melody, melody_notes, steps_per_bar

MELODY_LOW, MELODY_HIGH = 60, 84  # C4..C6: where the generated tune is placed after transposition
# The random walk's scale degrees (7 is the upper tonic): the fourth below it to the second above the octave,
# about a thirteenth, so the tune has a chorale soprano's range (corpus p95: 14 semitones) and fits the voice.
WALK_DEGREES = (3, 11)
#: Melody pitches are drawn at this fraction of the request's temperature; positions, durations and bar lines at
#: the full temperature. With the key bias below, 0.85 keeps the range and the intervals nearer the corpus than
#: 0.7 (which the platform used before, alone, to pull the out-of-key tail in) while in-key stays above 0.95.
#: Chosen on the valid chorales, benchmarks/generation/RESULTS-issue17.md.
PITCH_TEMPERATURE_SCALE = 0.85
#: Probability factor of a melody pitch outside the key (`KeyBias`); 1 turns the key bias off. Valid chorales,
#: LSTM, pitch scale 0.85: in-key 0.93 at 1, 0.945 at 0.3, 0.959 at 0.2, 0.969 at 0.1, 0.973 at 0.05.
OUT_OF_KEY_PENALTY = 0.1
#: Probability factor of a melody pitch that repeats an earlier bar's contour (`MotifBias`); 1 turns it off.
#: Valid chorales: contour repetition 0.15 at 1, 0.20 at 2, 0.27 at 4, 0.40 at 8 (corpus median 0.43); 4 put the
#: most pieces inside every corpus range; 8 widens the range and skews the intervals.
MOTIF_STRENGTH = 4.0
#: Probability factor of the rhythm token that repeats an earlier bar's rhythm (`RhythmBias`); 1 turns it off.
#: Off: on the valid chorales (with the contour pull at 4) 2 raised contour repetition 0.27 -> 0.33 and 4 to 0.41
#: (corpus median 0.43), but rhythm repetition rose 0.55 -> 0.74 -> 0.85 (corpus p95 0.81), and fewer pieces sat
#: inside every corpus range (42 % -> 36 % -> 16 %).
RHYTHM_STRENGTH = 1.0
#: How many times the guard's beat-line check may draw one bar again before the sampler keeps the bar it has.
BAR_REDRAWS = 4


@runtime_checkable
class IncrementalModel(Protocol):
    """A recurrent model that carries its state between calls (`TokenLSTM.step`)."""

    def step(self, tokens: torch.Tensor, state: Any) -> tuple[torch.Tensor, Any]:
        """tokens [batch, time] after `state` -> (logits [batch, time, vocab], new state)."""
        ...


@dataclass(frozen=True)
class KeyBias:
    """A soft key on the melody: every melody PITCH token outside the key has its probability multiplied by
    `penalty` (log(penalty) added to its logit, as `frames.harmonise`'s out_of_key_penalty weighs the lower
    voices). "In key" is `stats.scale_pitch_classes`: the major scale, or natural minor with the raised 6th and
    7th. No pitch is forbidden: a chromatic passing note keeps `penalty` times its probability.

    The token models are trained on the pieces in their own keys and see no key token: the melody is moved into
    the request's key after sampling (`key_shift`). So with `follow` the key the penalty uses is the one the
    melody is being written in, estimated from its pitches so far among the keys of `key.mode` once `warmup`
    melody notes exist, and `key` itself before that (a melody starts in the request's key, then the model
    chooses). Without `follow` it is `key` throughout (a prompt already moved into the request's key).
    """

    key: Key
    penalty: float
    follow: bool = True
    warmup: int = 4

    def __post_init__(self) -> None:
        if not 0.0 < self.penalty <= 1.0:
            raise ValueError(f"out_of_key_penalty must be in (0, 1], got {self.penalty}")

    def key_for(self, melody: Sequence[int]) -> Key:
        """The key the penalty applies after the melody pitches `melody` (MIDI numbers)."""
        if not self.follow or len(melody) < self.warmup:
            return self.key
        return estimate_key(np.asarray(melody), modes=(self.key.mode,))

    def log_weights(self, melody: Sequence[int], pitch_count: int) -> torch.Tensor:
        """[pitch_count] 0 for the PITCH tokens in key, log(penalty) for the others (token i is MIDI pitch i)."""
        return _out_of_key_log_weights(self.key_for(melody), self.penalty, pitch_count)


@functools.lru_cache(maxsize=64)
def _out_of_key_log_weights(key: Key, penalty: float, pitch_count: int) -> torch.Tensor:
    in_key = {(key.tonic + pc) % 12 for pc in scale_pitch_classes(key)}
    outside = torch.tensor([pitch % 12 not in in_key for pitch in range(pitch_count)])
    return outside.float() * float(np.log(penalty))


@dataclass(frozen=True)
class MotifBias:
    """A light pull toward repeating an earlier bar's contour. When the bar being written has, so far, the same
    up/down/same steps as an earlier bar that has a next step, the melody pitches that take that step from the
    last note have their probability multiplied by `strength` (> 1). The most recent such bar is followed: after
    one note that is the previous bar (a sequence), later only a bar that matched so far (a phrase's repeat).
    Chorales repeat an earlier bar's contour in about 43 % of bars (`stats.melody_stats` contour_repetition);
    a token model of the platform's size keeps too little of that structure (18 %)."""

    strength: float

    def __post_init__(self) -> None:
        if not self.strength >= 1.0:
            raise ValueError(f"motif_strength must be >= 1, got {self.strength}")

    def log_weights(
        self, melody: Sequence[int], melody_bars: Sequence[int], bar: int, pitch_count: int
    ) -> torch.Tensor:
        """[pitch_count] log(strength) for the pitches that continue a matching earlier bar's contour, else 0."""
        weights = torch.zeros(pitch_count)
        by_bar: dict[int, list[int]] = {}
        for pitch, number in zip(melody, melody_bars, strict=True):
            by_bar.setdefault(number, []).append(pitch)
        current = by_bar.pop(bar, [])
        if not current or self.strength == 1.0:
            return weights
        prefix = np.sign(np.diff(current)).tolist()
        for number in sorted(by_bar, reverse=True):
            earlier = by_bar[number]
            if len(earlier) > len(current) and np.sign(np.diff(earlier[: len(current)])).tolist() == prefix:
                step = int(np.sign(earlier[len(current)] - earlier[len(current) - 1]))
                follows = np.sign(np.arange(pitch_count) - current[-1]) == step
                weights[torch.from_numpy(follows)] = float(np.log(self.strength))
                break
        return weights


Rhythm = tuple[int, int]  # a melody note's (onset step in its bar, duration steps)


@dataclass(frozen=True)
class RhythmBias:
    """The rhythm half of the motif pull: when the bar being written has, so far, the same onsets and durations as
    an earlier bar with notes, the token that goes on as that bar did (its next onset's POSITION, or BAR where it
    had no more notes; at an onset, the DURATION its note had) has its probability multiplied by `strength`
    (> 1). The most recent such bar is followed. A repeated rhythm gives the contour pull (`MotifBias`) bars
    with as many notes to repeat."""

    strength: float

    def __post_init__(self) -> None:
        if not self.strength >= 1.0:
            raise ValueError(f"rhythm_strength must be >= 1, got {self.strength}")

    def target(
        self, vocab: Vocab, earlier_bars: Sequence[Sequence[Rhythm]], current: Sequence[Rhythm], onset: int | None
    ) -> int | None:
        """The token to pull toward: with `onset` None the next onset (or BAR), else the duration of the note at
        `onset`; None when no earlier bar matches."""
        done = len(current)
        for earlier in reversed(earlier_bars):
            if not earlier or len(earlier) < done or list(earlier[:done]) != list(current):
                continue
            if onset is None:
                return vocab.position(earlier[done][0]) if len(earlier) > done else vocab.bar
            if len(earlier) > done and earlier[done][0] == onset:
                return vocab.duration(earlier[done][1])
        return None


@dataclass
class SampleResult:
    tokens: list[int]  # prompt followed by the sampled continuation
    interventions: int = 0  # steps where the anti-copy guard removed a token the sampler could have drawn,
    # and bars it drew again
    bar_redraws: int = 0  # bars the guard's beat-line check drew again (`NgramGuard.copies_line`)
    stopped: str = "max_tokens"  # "eos", "max_bars" or "max_tokens"


def validate_sampling(temperature: float, top_k: int, top_p: float) -> None:
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if top_k < 0:
        raise ValueError(f"top_k must be >= 0 (0 disables it), got {top_k}")


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Top-k then nucleus filtering of logits [vocab]; removed entries become -inf. Always keeps the best token."""
    logits = logits.clone()
    if top_k > 0 and top_k < logits.numel():
        kth = torch.topk(logits, top_k).values[-1]
        logits[logits < kth] = float("-inf")
    if top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        # Drop a token when the tokens before it already reach top_p; the first token always stays.
        remove = cumulative - torch.softmax(sorted_logits, dim=-1) >= top_p
        remove[0] = False
        logits[order[remove]] = float("-inf")
    return logits


@torch.no_grad()
def sample(
    model: nn.Module,
    vocab: Vocab,
    prompt: Sequence[int],
    max_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    guard: NgramGuard | None = None,
    device: str | torch.device = "cpu",
    *,
    max_bars: int | None = None,
    pitch_temperature: float | None = None,
    key_bias: KeyBias | None = None,
    motif_bias: MotifBias | None = None,
    rhythm_bias: RhythmBias | None = None,
) -> SampleResult:
    """Sample up to `max_tokens` tokens after `prompt` (default [BOS]), stopping at EOS.

    Each step: logits / temperature (seed §3.1.3: < 1 sharpens, > 1 flattens), the guard masks melody PITCH
    tokens that would copy a training n-gram, then top-k and top-p keep the likely tokens, then one draw. When the
    guard holds training beat lines, a bar whose melody so far aligns with one of them (`NgramGuard.copies_line`)
    is drawn again from its BAR token, at most BAR_REDRAWS times; `max_tokens` counts the tokens kept.
    With `max_bars`, EOS is masked until that many bars exist and sampling stops before the BAR token that
    would open one bar too many. With `key_bias`, melody PITCH tokens outside its key are weighed down (after
    the temperatures, before the guard and the filters, so top-p cuts the out-of-key tail); with `motif_bias`, those that repeat an earlier
    bar's contour are weighed up the same way, and with `rhythm_bias` the token that repeats an earlier bar's
    rhythm. The model is moved to `device` and put in eval mode; it runs in float32
    there (no autocast: bf16 logits would change the draws); context is cropped to its `config.max_len`.
    """
    validate_sampling(temperature, top_k, top_p)
    if pitch_temperature is not None and not pitch_temperature > 0:
        raise ValueError(f"pitch_temperature must be > 0, got {pitch_temperature}")
    if max_tokens < 0:
        raise ValueError("max_tokens must be >= 0")
    generator = torch.Generator(device="cpu").manual_seed(int(seed))
    model.to(device)  # in place; a no-op when the model is there already
    model.eval()
    tokens = [int(t) for t in prompt] or [vocab.bos]
    max_len = int(getattr(getattr(model, "config", None), "max_len", 1024))

    # Replay the prompt through the TRACK/POSITION state machine to know which pitches are melody.
    role = 0
    melody: list[int] = []
    melody_bars: list[int] = []  # the bar of each melody note
    bars = 0
    rhythm = _RhythmTracker()
    for token in tokens:
        role, bars = _advance(vocab, token, role, bars, melody)
        melody_bars += [bars] * (len(melody) - len(melody_bars))
        rhythm.advance(vocab, token, role)

    interventions = 0
    stopped = "max_tokens"
    pitch_ids = torch.tensor(list(vocab.pitch_ids))
    # Recurrent models with a `step` method carry their state; others re-read the (cropped) context each step.
    incremental = model if isinstance(model, IncrementalModel) else None
    state: Any = None
    pending = tokens
    pitch_weights, weighed_after = torch.zeros(len(pitch_ids)), (-1, -1)
    limit = len(tokens) + max_tokens
    # The guard's beat-line check redraws a bar: the sampler's state where the bar began, and its redraws so far.
    line_check = guard is not None and bool(guard.lines)
    bar_start: tuple[Any, ...] | None = None
    redraws: dict[int, int] = {}
    bar_redraws = 0
    while len(tokens) < limit:
        if incremental is not None:
            step_logits, state = incremental.step(torch.tensor([pending], dtype=torch.long, device=device), state)
            raw = step_logits[0, -1]
        else:
            raw = model(torch.tensor([tokens[-max_len:]], dtype=torch.long, device=device))[0, -1]
        logits = raw.float().cpu() / float(temperature)
        if pitch_temperature is not None:
            logits = _sharpen_pitches(logits, raw.float().cpu(), pitch_ids, pitch_temperature)
        if max_bars is not None and bars < max_bars:
            logits[vocab.eos] = float("-inf")
        if role == 0 and (key_bias is not None or motif_bias is not None):
            if weighed_after != (len(melody), bars):  # the weights change only with a new note or bar
                pitch_weights, weighed_after = torch.zeros(len(pitch_ids)), (len(melody), bars)
                if key_bias is not None and key_bias.penalty < 1.0:
                    pitch_weights += key_bias.log_weights(melody, len(pitch_ids))
                if motif_bias is not None:
                    pitch_weights += motif_bias.log_weights(melody, melody_bars, bars, len(pitch_ids))
            if bool(pitch_weights.any()):
                logits = _weigh_pitches(logits, pitch_ids, pitch_weights)
        if rhythm_bias is not None and role == 0:
            target = rhythm.target(vocab, rhythm_bias, tokens[-1])
            if target is not None:
                logits[target] += float(np.log(rhythm_bias.strength))
        if guard is not None and role == 0 and melody:
            blocked = guard.blocked(melody)
            if blocked:
                blocked_ids = pitch_ids[torch.tensor(blocked)]
                unguarded = filter_logits(logits, top_k, top_p)
                if torch.isfinite(unguarded[blocked_ids]).any():
                    interventions += 1
                guarded = logits.clone()
                guarded[blocked_ids] = float("-inf")
                if torch.isfinite(guarded).any():
                    logits = guarded
                # else: every token would copy; keep the unguarded logits as the least-bad choice.
        filtered = filter_logits(logits, top_k, top_p)
        probs = torch.softmax(filtered, dim=-1)
        token = int(torch.multinomial(probs, 1, generator=generator).item())
        closes_bar = token in (vocab.bar, vocab.eos) or len(tokens) + 1 >= limit
        if line_check and closes_bar and bar_start is not None and redraws.get(bars, 0) < BAR_REDRAWS:
            assert guard is not None
            if guard.copies_line(*melody_notes(tokens, vocab=vocab)):
                # The bar just written takes the melody too close to a training melody's beat line: draw it again
                # from its BAR token (the generator has moved on, so the draws differ).
                redraws[bars] = redraws.get(bars, 0) + 1
                bar_redraws += 1
                count, role, bars, notes, rhythm, state, pending = bar_start
                rhythm = copy.deepcopy(rhythm)
                del tokens[count:], melody[notes:], melody_bars[notes:]
                weighed_after = (-1, -1)
                continue
        if token == vocab.bar and max_bars is not None and bars >= max_bars:
            stopped = "max_bars"
            break
        tokens.append(token)
        pending = [token]
        role, bars = _advance(vocab, token, role, bars, melody)
        melody_bars += [bars] * (len(melody) - len(melody_bars))
        rhythm.advance(vocab, token, role)
        if token == vocab.eos:
            stopped = "eos"
            break
        if token == vocab.bar and line_check:
            bar_start = (len(tokens), role, bars, len(melody), copy.deepcopy(rhythm), state, pending)
    if guard is not None:
        guard.interventions += interventions + bar_redraws
    return SampleResult(
        tokens=tokens, interventions=interventions + bar_redraws, stopped=stopped, bar_redraws=bar_redraws
    )


def _sharpen_pitches(
    logits: torch.Tensor, raw: torch.Tensor, pitch_ids: torch.Tensor, pitch_temperature: float
) -> torch.Tensor:
    """`logits` [vocab] (already divided by the temperature) with the PITCH entries replaced: their total mass is
    kept (logsumexp) and split as softmax(raw PITCH logits / pitch_temperature). Shift-invariant, unlike dividing
    the PITCH logits alone."""
    group = logits[pitch_ids]
    if not torch.isfinite(group).any():
        return logits
    sharpened = logits.clone()
    sharpened[pitch_ids] = torch.log_softmax(raw[pitch_ids] / float(pitch_temperature), dim=-1) + torch.logsumexp(
        group, dim=-1
    )
    return sharpened


class _RhythmTracker:
    """The melody's rhythm bar by bar as tokens are read (for `RhythmBias`)."""

    def __init__(self) -> None:
        self.bars: list[list[Rhythm]] = []
        self.current: list[Rhythm] = []
        self.onset: int | None = None

    def advance(self, vocab: Vocab, token: int, role: int) -> None:
        if token == vocab.bar:
            self.bars.append(self.current)
            self.current, self.onset = [], None
        elif vocab.is_position(token):
            self.onset = token - vocab.position_offset
        elif vocab.is_duration(token) and role == 0 and self.onset is not None:
            self.current.append((self.onset, token - vocab.duration_offset + 1))

    def target(self, vocab: Vocab, bias: RhythmBias, last: int) -> int | None:
        """The token `bias` pulls toward after `last`: an onset or BAR after a BAR or a note's DURATION, the
        DURATION after a melody PITCH; None elsewhere."""
        if last == vocab.bar or vocab.is_duration(last):
            return bias.target(vocab, self.bars, self.current, None)
        if vocab.is_pitch(last) and self.onset is not None:
            return bias.target(vocab, self.bars, self.current, self.onset)
        return None


def _weigh_pitches(logits: torch.Tensor, pitch_ids: torch.Tensor, log_weights: torch.Tensor) -> torch.Tensor:
    """`logits` [vocab] with `log_weights` [pitches] added to the PITCH entries, their total mass kept (logsumexp):
    the weights change which pitch is drawn, not whether a pitch is drawn rather than another kind of token."""
    group = logits[pitch_ids]
    if not torch.isfinite(group).any():
        return logits
    weighed = logits.clone()
    moved = group + log_weights
    weighed[pitch_ids] = moved - torch.logsumexp(moved, dim=-1) + torch.logsumexp(group, dim=-1)
    return weighed


def _advance(vocab: Vocab, token: int, role: int, bars: int, melody: list[int]) -> tuple[int, int]:
    """One step of the decoder's state machine: returns (role, bars) and records melody pitches."""
    if token == vocab.bar:
        return 0, bars + 1
    if vocab.is_position(token):
        return 0, bars
    if vocab.is_track(token):
        return token - vocab.track_offset, bars
    if vocab.is_pitch(token) and role == 0:
        melody.append(token - vocab.pitch_offset)
    return role, bars


# --- whole pieces --------------------------------------------------------------------------------------
def validate_piece(bars: int, tempo: float, key: str, programs: Mapping[str, int] | None) -> Key:
    if not isinstance(bars, int) or not 1 <= bars <= MAX_BARS:
        raise ValueError(f"bars must be an integer in 1..{MAX_BARS}, got {bars!r}")
    if not MIN_TEMPO <= float(tempo) <= MAX_TEMPO:
        raise ValueError(f"tempo must be in {MIN_TEMPO:g}..{MAX_TEMPO:g} bpm, got {tempo!r}")
    key_obj = parse_key(key)
    for name, program in (programs or {}).items():
        if name not in ROLE_NAMES:
            raise ValueError(f"unknown track {name!r}; tracks are {', '.join(ROLE_NAMES)}")
        if not isinstance(program, int) or not 0 <= program <= 127:
            raise ValueError(f"program for {name} must be an integer in 0..127, got {program!r}")
    return key_obj


def random_walk_melody(
    bars: int, key: Key, rng: np.random.Generator, time_signature: tuple[int, int] = (4, 4)
) -> np.ndarray:
    """A scale-degree random walk (mostly steps, some leaps) in `key`, ending on the tonic; NOTE_DTYPE.

    The melody for the Markov-only architecture, where there is no neural model to sample from.
    """
    bar_beats = time_signature[0] * 4.0 / time_signature[1]
    scale = key.scale
    # Rhythm cells in beats, chosen per beat; weighted toward quarters and eighths.
    cells: list[tuple[float, ...]] = [(1.0,), (0.5, 0.5), (0.75, 0.25), (2.0,)]
    cell_weights = np.array([0.45, 0.35, 0.1, 0.1])
    steps = np.array([-3, -2, -1, 0, 1, 2, 3])
    step_weights = np.array([0.05, 0.15, 0.3, 0.05, 0.3, 0.1, 0.05])
    degree = 7  # tonic one octave above the base (degrees 0..14 would span two octaves; WALK_DEGREES keeps 3..11)
    base = 60 + key.tonic if key.tonic < 6 else 48 + key.tonic
    rows: list[NoteRow] = []
    beat = 0.0
    end = bars * bar_beats
    while beat < end - 1e-9:
        cell = cells[int(rng.choice(len(cells), p=cell_weights))]
        for length in cell:
            if beat >= end - 1e-9:
                break
            length = min(length, end - beat)
            final = beat + length >= end - 1e-9
            degree = 7 if final else int(np.clip(degree + rng.choice(steps, p=step_weights), *WALK_DEGREES))
            octave, index = divmod(degree, 7)
            pitch = base + 12 * octave + scale[index]
            rows.append((pitch, int(84 + rng.integers(-8, 9)), 0, False, 0, beat, length, 0.0, 0.0))
            beat += length
    return np.array(rows, dtype=NOTE_DTYPE)


def transpose_notes(notes: np.ndarray, semitones: int) -> np.ndarray:
    moved = notes.copy()
    moved["pitch"] = np.clip(notes["pitch"].astype(np.int64) + semitones, 0, 127).astype(np.uint8)
    return moved


def _place_melody(notes: np.ndarray, target: Key) -> np.ndarray:
    """Transpose a melody into `target` (`key_shift`) and move it by octaves into MELODY_LOW..MELODY_HIGH as
    far as it fits."""
    if len(notes) == 0:
        return notes.copy()
    shift = key_shift(notes, target)
    centre = (MELODY_LOW + MELODY_HIGH) / 2.0
    octave = 12 * int(round((centre - float(np.median(notes["pitch"].astype(np.int64) + shift))) / 12.0))
    return transpose_notes(notes, shift + octave)


def prompt_tokens(
    prompt: np.ndarray, vocab: Vocab, time_signature: tuple[int, int] = (4, 4), *, bars: int | None = None
) -> tuple[list[int], int]:
    """[BOS, BAR, ...] of a prompt melody (NOTE_DTYPE, beats from 0; its top voice), without EOS, padded with BAR
    tokens to whole bars so that the continuation starts on a new bar. Returns (tokens, bars the prompt fills):
    `bars` when given (regenerating from a bar), else the bars up to the prompt's last note-off."""
    notes = prompt.copy()
    notes["track"], notes["is_drum"] = 0, False
    score = Score(notes=notes, tracks=[TrackInfo("Melody", 0)], time_signature=time_signature)
    tokens = [t for t in encode_melody(score, track=0, vocab=vocab) if t != vocab.eos]
    if bars is None:
        bar_beats = time_signature[0] * 4.0 / time_signature[1]
        ends = notes["start"] + notes["duration"]
        bars = max(int(np.ceil(float(ends.max()) / bar_beats - 1e-9)), 1) if len(notes) else 0
    tokens += [vocab.bar] * (bars - tokens.count(vocab.bar))
    return tokens, bars


def generate_piece(
    model_or_none: nn.Module | None,
    vocab: Vocab,
    markov: MarkovHarmony,
    *,
    bars: int,
    tempo: float,
    key: str,
    time_signature: tuple[int, int] = (4, 4),
    programs: Mapping[str, int] | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    seed: int = 0,
    guard: NgramGuard | None = None,
    device: str | torch.device = "cpu",
    title: str | None = None,
    arrangement: str = "band",
    drums: bool = True,
    harmoniser: Harmoniser | None = None,
    prompt: np.ndarray | None = None,
    prompt_bars: int | None = None,
    keep: Score | None = None,
    melody_tokens: Sequence[int] | None = None,
    pitch_temperature_scale: float = PITCH_TEMPERATURE_SCALE,
    out_of_key_penalty: float = OUT_OF_KEY_PENALTY,
    follow_key: bool = True,
    motif_strength: float = MOTIF_STRENGTH,
    rhythm_strength: float = RHYTHM_STRENGTH,
) -> tuple[Score, dict[str, Any]]:
    """A piece of exactly `bars` bars: a melody (neural model, or a random walk when `model_or_none` is None),
    moved into `key`, then arranged (`arrange.arrange_piece`: "satb" or "band", drums only with `drums`).
    With `melody_tokens` (melody tokens made elsewhere, e.g. decoded by the VAE), those are the melody and
    `model_or_none` is not sampled.

    `prompt` (NOTE_DTYPE melody, beats from 0) is continued instead of starting from nothing: its notes are
    kept as they are (never transposed or moved by octaves), it fills its own bars (or `prompt_bars`), and the
    model writes the bars after it. The prompt must leave at least one bar to write. With `keep` (regenerating
    that piece from bar `prompt_bars` + 1; `prompt` is then its melody before that bar), every note of `keep`
    before that bar stays exactly as it is (`arrange.splice`). Pitches are drawn at `temperature` times
    `pitch_temperature_scale`, rhythm at `temperature` (see PITCH_TEMPERATURE_SCALE). Melody pitches outside the
    key are weighed by `out_of_key_penalty` (`KeyBias`): in the key the melody is being written in (`follow_key`,
    it is moved into `key` afterwards), or in `key` itself (without `follow_key`, and always after a prompt,
    which is in `key` already). Pitches that repeat an earlier bar's contour are weighed by `motif_strength`
    (`MotifBias`), and rhythm tokens that repeat an earlier bar's rhythm by `rhythm_strength` (`RhythmBias`).
    Returns (score, stats); stats holds the chord names, token count, guard interventions and melody source.
    Raises ValueError for bars outside 1..256, tempo outside 20..400, an unknown key or arrangement, a program
    outside 0..127, or a prompt as long as the piece.
    """
    key_obj = validate_piece(bars, tempo, key, programs)
    validate_sampling(temperature, top_k, top_p)
    validate_arrangement(arrangement)
    rng = np.random.default_rng(int(seed))
    stats: dict[str, Any] = {
        "seed": int(seed),
        "bars": bars,
        "key": key_obj.name,
        "interventions": 0,
        "tokens": 0,
        "arrangement": arrangement,
        "drums": bool(drums and arrangement == "band"),
        "pitch_temperature": round(temperature * pitch_temperature_scale, 4),
        "out_of_key_penalty": out_of_key_penalty,
        "motif_strength": motif_strength,
        "rhythm_strength": rhythm_strength,
    }
    start_tokens, kept_bars = [vocab.bos, vocab.bar], 0
    if prompt is not None and (len(prompt) or prompt_bars):
        start_tokens, kept_bars = prompt_tokens(prompt, vocab, time_signature, bars=prompt_bars)
        if kept_bars >= bars:
            raise ValueError(f"the prompt fills {kept_bars} bar(s): bars must be more than that, got {bars}")
        stats["prompt_bars"] = kept_bars

    melody = np.zeros(0, dtype=NOTE_DTYPE)
    if melody_tokens is not None:
        decoded = decode(melody_tokens, tempo, programs, time_signature=time_signature, vocab=vocab)
        piece_beats = bars * time_signature[0] * 4.0 / time_signature[1]
        melody = decoded.notes[(decoded.notes["track"] == 0) & (decoded.notes["start"] < piece_beats)]
        stats.update(tokens=len(melody_tokens), melody_source="given")
    elif model_or_none is not None:
        # Generous budget: a dense bar of 16 sixteenths costs 16 * 3 tokens plus the BAR token.
        budget = (bars - kept_bars) * (3 * steps_per_bar(time_signature) + 1) + 8
        key_bias = KeyBias(key=key_obj, penalty=out_of_key_penalty, follow=follow_key and not kept_bars)
        result = sample(
            model_or_none,
            vocab,
            start_tokens,
            budget,
            temperature,
            top_k,
            top_p,
            seed,
            guard,
            device,
            max_bars=bars,
            pitch_temperature=temperature * pitch_temperature_scale,
            key_bias=key_bias,
            motif_bias=MotifBias(motif_strength) if motif_strength != 1.0 else None,
            rhythm_bias=RhythmBias(rhythm_strength) if rhythm_strength != 1.0 else None,
        )
        decoded = decode(result.tokens, tempo, programs, time_signature=time_signature, vocab=vocab)
        melody = decoded.notes[decoded.notes["track"] == 0]
        stats.update(tokens=len(result.tokens), interventions=result.interventions, stopped=result.stopped)
        stats["melody_source"] = "model"
    if prompt is not None and kept_bars:
        bar_beats = time_signature[0] * 4.0 / time_signature[1]
        boundary = kept_bars * bar_beats
        new = melody[melody["start"] >= boundary - 1e-9]
        if len(new) == 0:
            walk = random_walk_melody(bars - kept_bars, key_obj, rng, time_signature)
            walk["start"] += boundary
            new = transpose_notes(walk, _octave_towards(walk, prompt))
            stats["melody_source"] = "random_walk" if model_or_none is None else "random_walk_fallback"
        # The prompt's own notes, exactly (its decoded tokens would be snapped to the grid), then the new bars.
        melody = np.concatenate([prompt.astype(NOTE_DTYPE), new])
        melody["track"] = 0
    elif len(melody) == 0:
        # An untrained or degenerate model can yield no melody at all; the piece still needs a tune.
        melody = random_walk_melody(bars, key_obj, rng, time_signature)
        stats["melody_source"] = (
            "random_walk" if model_or_none is None and melody_tokens is None else "random_walk_fallback"
        )
    else:
        melody = _place_melody(melody, key_obj)
    if arrangement == "satb" and not kept_bars:
        melody = fit_soprano_range(melody)

    score, chords = arrange_piece(
        melody,
        arrangement=arrangement,
        markov=markov,
        bars=bars,
        tempo=tempo,
        key=key_obj,
        programs=programs,
        rng=rng,
        drums=drums,
        harmoniser=harmoniser,
        time_signature=time_signature,
        title=title,
        keep=keep,
        keep_bars=kept_bars,
    )
    stats["chords"] = [c.name for c in chords]
    stats["melody_notes"] = int(np.sum(score.notes["track"] == 0))
    return score, stats


def _octave_towards(notes: np.ndarray, reference: np.ndarray) -> int:
    """Whole octaves that bring the median of `notes` nearest the median of `reference`."""
    if len(notes) == 0 or len(reference) == 0:
        return 0
    return 12 * int(round((float(np.median(reference["pitch"])) - float(np.median(notes["pitch"]))) / 12.0))
