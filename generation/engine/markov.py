"""Second-order Markov chord model (seed §4.3) and the four-track arranger.

Chords. A `Chord` is an absolute root pitch class (0 = C) and a quality among maj, min, dim, 7 (dominant
seventh). Chords are read off a Score one per bar (or per `span` beats) by template matching a
duration-weighted pitch-class histogram.

Key-relative states. The transition tables store chords relative to the piece's tonic as "degree:quality",
e.g. "0:maj" (I), "7:7" (V7), "9:min" (vi), with separate tables for major and minor pieces, so that one table
learns from chorales in every key and proposes in any key.

Probabilities. P(c | a, b) is additive (add-k) smoothing toward the lower order,
    P3(c|a,b) = (N(a,b,c) + kV * P2(c|b)) / (N(a,b) + kV)
    P2(c|b)   = (N(b,c)   + kV * P1(c))   / (N(b)   + kV)
    P1(c)     = (N(c) + k) / (N + kV)
over the V = 48 chord symbols. An unseen context falls back exactly to the lower order (backoff), and every
distribution sums to one. Sequences start from the context ("<s>", "<s>").
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ledgerline.music.events import NOTE_DTYPE, NoteRow, Score, TrackInfo, with_seconds

from .tokens import DEFAULT_PROGRAMS, ROLE_NAMES

PITCH_NAMES = ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}

QUALITIES: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "7": (0, 4, 7, 10),
}
_QUALITY_SUFFIX = {"maj": "", "min": "m", "dim": "dim", "7": "7"}
START = "<s>"

MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
MINOR_SCALE = (0, 2, 3, 5, 7, 8, 10)  # natural minor; the harmoniser adds the leading tone through V/V7

# Krumhansl-Kessler key profiles, tonic first.
_KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
_KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])

_KEY_RE = re.compile(r"^\s*([A-Ga-g])([#b]?)\s*(m|min|minor|maj|major)?\s*$")


# --- keys ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class, 0 = C
    mode: str  # "major" or "minor"

    @property
    def scale(self) -> tuple[int, ...]:
        return MAJOR_SCALE if self.mode == "major" else MINOR_SCALE

    @property
    def name(self) -> str:
        return PITCH_NAMES[self.tonic] + ("m" if self.mode == "minor" else "")


def parse_key(name: str) -> Key:
    """'C', 'F#', 'Bb', 'Am', 'C#m' (also 'A minor', 'Eb major') -> Key. Raises ValueError naming a bad key."""
    match = _KEY_RE.match(name) if isinstance(name, str) else None
    if not match:
        raise ValueError(f"unknown key {name!r}: use a major or minor key name such as 'C', 'F#', 'Bb', 'Am' or 'C#m'")
    letter, accidental, mode = match.groups()
    tonic = (_LETTER_PC[letter.upper()] + {"#": 1, "b": -1, "": 0}[accidental]) % 12
    return Key(tonic, "minor" if mode in ("m", "min", "minor") else "major")


def estimate_key(
    pitches: np.ndarray, weights: np.ndarray | None = None, *, modes: tuple[str, ...] = ("major", "minor")
) -> Key:
    """Krumhansl-Schmuckler estimate from pitches [n] and optional duration weights [n], among the keys of
    `modes`; C major (the first mode's C) when empty."""
    fallback = Key(0, modes[0])
    if len(pitches) == 0:
        return fallback
    histogram = np.bincount(np.asarray(pitches, dtype=np.int64) % 12, weights=weights, minlength=12)
    if not np.any(histogram > 0) or np.allclose(histogram, histogram[0]):
        return fallback
    best, best_r = fallback, -2.0
    profiles = [(p, m) for p, m in ((_KK_MAJOR, "major"), (_KK_MINOR, "minor")) if m in modes]
    for tonic in range(12):
        for profile, mode in profiles:
            r = float(np.corrcoef(histogram, np.roll(profile, tonic))[0, 1])
            if r > best_r:
                best, best_r = Key(tonic, mode), r
    return best


def key_shift(notes: np.ndarray, target: Key) -> int:
    """Semitones (-5..+6) that move a melody from its estimated key into `target`; a mode mismatch maps to the
    relative key so the scale is kept (C major -> A minor shares the scale: the source's relative is its tonic)."""
    source = estimate_key(notes["pitch"], notes["duration"])
    source_tonic = source.tonic
    if source.mode != target.mode:
        source_tonic = (source.tonic + (9 if source.mode == "major" else 3)) % 12
    shift = (target.tonic - source_tonic) % 12
    return shift - 12 if shift > 6 else shift


def score_key(score: Score) -> Key:
    """The Score's written key when it parses, else an estimate from its pitched notes."""
    if score.key:
        try:
            return parse_key(score.key)
        except ValueError:
            pass
    notes = score.notes[~score.notes["is_drum"]]
    return estimate_key(notes["pitch"], notes["duration"])


# --- chords --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Chord:
    root: int  # absolute pitch class
    quality: str  # one of QUALITIES

    @property
    def pitch_classes(self) -> tuple[int, ...]:
        return tuple((self.root + i) % 12 for i in QUALITIES[self.quality])

    @property
    def name(self) -> str:
        return PITCH_NAMES[self.root] + _QUALITY_SUFFIX[self.quality]

    def relative(self, key: Key) -> str:
        """The key-relative state label, e.g. G7 in C -> '7:7'."""
        return f"{(self.root - key.tonic) % 12}:{self.quality}"

    @classmethod
    def from_relative(cls, label: str, key: Key) -> Chord:
        degree, _, quality = label.partition(":")
        return cls((int(degree) + key.tonic) % 12, quality)


ALL_LABELS: tuple[str, ...] = tuple(f"{d}:{q}" for d in range(12) for q in QUALITIES)
_LABEL_INDEX = {label: i for i, label in enumerate(ALL_LABELS)}
# Template matrix [48, 12]: 1 where the chord label contains the pitch class relative to the tonic.
_TEMPLATES = np.zeros((len(ALL_LABELS), 12))
for _i, _label in enumerate(ALL_LABELS):
    _deg, _, _q = _label.partition(":")
    for _iv in QUALITIES[_q]:
        _TEMPLATES[_i, (int(_deg) + _iv) % 12] = 1.0


def match_chord(histogram: np.ndarray, bass_pc: int | None = None) -> Chord | None:
    """Best chord for a 12-bin pitch-class weight vector: weight inside the template minus half the weight
    outside, with a small bonus when the lowest note is the root. Ties go to the simpler quality (maj, min,
    dim before 7) so a plain triad is never called a seventh. None for silence."""
    total = float(histogram.sum())
    if total <= 0:
        return None
    weights = histogram / total
    inside = _TEMPLATES @ weights
    scores = inside - 0.5 * (1.0 - inside)
    # A template note that is missing counts against the chord a little, so a bare fifth is not a seventh.
    scores -= 0.05 * (_TEMPLATES @ (weights <= 0).astype(float))
    if bass_pc is not None:
        roots = np.array([int(label.partition(":")[0]) for label in ALL_LABELS])
        scores += 0.1 * (roots == bass_pc)
    best = int(np.argmax(scores))  # argmax takes the first maximum: labels list maj before 7 for each root
    degree, _, quality = ALL_LABELS[best].partition(":")
    return Chord(int(degree), quality)


def extract_chords(score: Score, span: float | None = None) -> list[Chord]:
    """One chord per `span` beats (default: one per bar) from the pitched notes; a silent span repeats the
    previous chord (a rest does not change the harmony)."""
    notes = score.notes[~score.notes["is_drum"]]
    if len(notes) == 0:
        return []
    span = float(span or score.bar_beats)
    count = int(math.ceil(score.duration_beats / span - 1e-9))
    starts, ends = notes["start"], notes["start"] + notes["duration"]
    chords: list[Chord] = []
    for index in range(count):
        lo, hi = index * span, (index + 1) * span
        overlap = np.clip(np.minimum(ends, hi) - np.maximum(starts, lo), 0.0, None)
        sounding = overlap > 1e-9
        if not np.any(sounding):
            if chords:
                chords.append(chords[-1])
            continue
        histogram = np.bincount(notes["pitch"][sounding] % 12, weights=overlap[sounding], minlength=12)
        bass_pc = int(np.min(notes["pitch"][sounding])) % 12
        chord = match_chord(histogram, bass_pc)
        if chord is not None:
            chords.append(chord)
    return chords


# --- the model -----------------------------------------------------------------------------------------
class MarkovHarmony:
    """P(c_t | c_{t-2}, c_{t-1}) over key-relative chord labels, one table per mode."""

    def __init__(self, k: float = 1.0) -> None:
        if k <= 0:
            raise ValueError("smoothing constant k must be > 0")
        self.k = float(k)
        self.unigram: dict[str, Counter[str]] = {"major": Counter(), "minor": Counter()}
        self.bigram: dict[str, dict[str, Counter[str]]] = {"major": {}, "minor": {}}
        self.trigram: dict[str, dict[str, Counter[str]]] = {"major": {}, "minor": {}}

    # --- fitting -------------------------------------------------------------------------------------
    def fit(self, scores: Iterable[Score], span: float | None = None) -> MarkovHarmony:
        """Count chord n-grams of every Score (chords per bar unless `span` beats is given); returns self."""
        for score in scores:
            key = score_key(score)
            self.add_sequence([c.relative(key) for c in extract_chords(score, span)], key.mode)
        return self

    def add_sequence(self, labels: Sequence[str], mode: str = "major") -> None:
        """Count one key-relative label sequence."""
        if mode not in self.unigram:
            raise ValueError(f"mode must be major or minor, got {mode!r}")
        for label in labels:
            if label not in _LABEL_INDEX:
                raise ValueError(f"unknown chord label {label!r}")
        padded = [START, START, *labels]
        for i in range(2, len(padded)):
            a, b, c = padded[i - 2], padded[i - 1], padded[i]
            self.unigram[mode][c] += 1
            self.bigram[mode].setdefault(b, Counter())[c] += 1
            self.trigram[mode].setdefault(f"{a}|{b}", Counter())[c] += 1

    def _mode_with_data(self, mode: str) -> str:
        # A mode never seen in training borrows the other mode's table rather than going uniform.
        if sum(self.unigram[mode].values()) == 0:
            other = "minor" if mode == "major" else "major"
            if sum(self.unigram[other].values()) > 0:
                return other
        return mode

    # --- probabilities -------------------------------------------------------------------------------
    def distribution(self, previous: Sequence[str], mode: str = "major") -> np.ndarray:
        """P(next | last two labels of `previous`) over `ALL_LABELS`, shape [48], sums to 1."""
        mode = self._mode_with_data(mode)
        context = [START, START, *previous][-2:]
        size = len(ALL_LABELS)
        kv = self.k * size
        uni = self.unigram[mode]
        p1 = np.array([uni.get(label, 0) for label in ALL_LABELS], dtype=np.float64) + self.k
        p1 /= p1.sum()
        p2 = _smooth(self.bigram[mode].get(context[1]), p1, kv)
        return _smooth(self.trigram[mode].get(f"{context[0]}|{context[1]}"), p2, kv)

    def prob(self, label: str, previous: Sequence[str], mode: str = "major") -> float:
        return float(self.distribution(previous, mode)[_LABEL_INDEX[label]])

    def log_prob(self, sequence: Sequence[Chord | str], key: str | Key = "C") -> float:
        """Natural-log probability of a chord sequence (absolute `Chord`s read in `key`, or relative labels).
        The mean negative of this over chords is the NLL per chord."""
        key_obj = parse_key(key) if isinstance(key, str) else key
        labels = [c.relative(key_obj) if isinstance(c, Chord) else c for c in sequence]
        total = 0.0
        for i, label in enumerate(labels):
            total += math.log(self.distribution(labels[:i], key_obj.mode)[_LABEL_INDEX[label]])
        return total

    # --- generation ----------------------------------------------------------------------------------
    def propose(self, n_chords: int, rng: np.random.Generator, key: str | Key = "C") -> list[Chord]:
        """Sample `n_chords` chords in `key` from the chain."""
        key_obj = parse_key(key) if isinstance(key, str) else key
        labels: list[str] = []
        for _ in range(n_chords):
            probs = self.distribution(labels, key_obj.mode)
            labels.append(ALL_LABELS[int(rng.choice(len(ALL_LABELS), p=probs))])
        return [Chord.from_relative(label, key_obj) for label in labels]

    def harmonise(
        self,
        melody_pitches_per_bar: Sequence[Sequence[int]],
        rng: np.random.Generator,
        key: str | Key = "C",
        *,
        fit_power: float = 4.0,
    ) -> list[Chord]:
        """One chord per bar that fits the bar's melody notes, weighted by the transition probability.

        weight(c) = P(c | previous two) * (0.05 + fraction of the bar's notes in c) ** fit_power; the power
        makes a chord that holds every melody note dominate one that holds half of them. A bar without notes
        is scored by the transition probability alone.
        """
        key_obj = parse_key(key) if isinstance(key, str) else key
        labels: list[str] = []
        for pitches in melody_pitches_per_bar:
            probs = self.distribution(labels, key_obj.mode)
            if len(pitches):
                pcs = (np.asarray(pitches, dtype=np.int64) - key_obj.tonic) % 12
                fit = _TEMPLATES[:, pcs].mean(axis=1)
                probs = probs * (0.05 + fit) ** fit_power
            probs = probs / probs.sum()
            labels.append(ALL_LABELS[int(rng.choice(len(ALL_LABELS), p=probs))])
        return [Chord.from_relative(label, key_obj) for label in labels]

    # --- serialisation -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "unigram": {m: dict(c) for m, c in self.unigram.items()},
            "bigram": {m: {ctx: dict(c) for ctx, c in t.items()} for m, t in self.bigram.items()},
            "trigram": {m: {ctx: dict(c) for ctx, c in t.items()} for m, t in self.trigram.items()},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MarkovHarmony:
        model = cls(k=float(data.get("k", 0.1)))
        for mode in ("major", "minor"):
            model.unigram[mode] = Counter(data.get("unigram", {}).get(mode, {}))
            model.bigram[mode] = {ctx: Counter(c) for ctx, c in data.get("bigram", {}).get(mode, {}).items()}
            model.trigram[mode] = {ctx: Counter(c) for ctx, c in data.get("trigram", {}).get(mode, {}).items()}
        return model

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> MarkovHarmony:
        return cls.from_dict(json.loads(text))


def _smooth(counts: Counter[str] | None, lower: np.ndarray, kv: float) -> np.ndarray:
    if not counts:
        return lower
    vector = np.array([counts.get(label, 0) for label in ALL_LABELS], dtype=np.float64)
    return (vector + kv * lower) / (float(vector.sum()) + kv)


# --- arrangement ---------------------------------------------------------------------------------------
KICK, SNARE, CLOSED_HAT = 36, 38, 42


def _voice_chord(chord: Chord) -> list[int]:
    """Close root-position voicing with the root between G3 and F#4, so the block sits under the melody."""
    root = 55 + (chord.root - 7) % 12
    return [root + interval for interval in QUALITIES[chord.quality]]


def _bass_root(chord: Chord) -> int:
    """The root between E2 (40) and D#3 (51): low enough to be bass, high enough to stay audible."""
    return 40 + (chord.root - 4) % 12


def arrange(
    melody_notes: np.ndarray,
    chords: Sequence[Chord],
    bars: int,
    tempo: float,
    key: str | Key,
    programs: Mapping[str, int] | None,
    rng: np.random.Generator,
    *,
    time_signature: tuple[int, int] = (4, 4),
    title: str | None = None,
    drums: bool = True,
) -> Score:
    """Four tracks (melody, harmony, bass, drums) over exactly `bars` bars; three without `drums`.

    `melody_notes` is a NOTE_DTYPE array (its track/program/drum fields are overwritten); notes past the last
    bar are dropped or cut. `chords` holds one chord per bar (the last one repeats if there are fewer).
    Harmony: a block chord on each half bar. Bass: the root on the downbeat and the fifth half-way.
    Drums: kick on even beats, snare on odd beats, closed hi-hat on every eighth; small random velocity
    changes from `rng` keep the loop from sounding mechanical while staying reproducible.
    """
    if not chords:
        raise ValueError("arrange needs at least one chord")
    key_obj = parse_key(key) if isinstance(key, str) else key
    progs = {name: int((programs or {}).get(name, DEFAULT_PROGRAMS[name])) for name in ROLE_NAMES}
    numerator, denominator = time_signature
    bar_beats = numerator * 4.0 / denominator
    beat_len = 4.0 / denominator
    end = bars * bar_beats

    melody = melody_notes.copy()
    melody = melody[melody["start"] < end - 1e-9]
    melody["duration"] = np.minimum(melody["duration"], end - melody["start"])
    melody["track"], melody["program"], melody["is_drum"] = 0, progs["melody"], False

    rows: list[NoteRow] = []
    half = bar_beats / 2.0
    for bar in range(bars):
        chord = chords[min(bar, len(chords) - 1)]
        bar_start = bar * bar_beats
        for offset in (0.0, half):
            velocity = int(64 + rng.integers(-6, 7))
            for pitch in _voice_chord(chord):
                rows.append((pitch, velocity, progs["harmony"], False, 1, bar_start + offset, half * 0.95, 0.0, 0.0))
        root = _bass_root(chord)
        fifth = root + 7 if root + 7 <= 55 else root - 5
        rows.append((root, 96, progs["bass"], False, 2, bar_start, half * 0.9, 0.0, 0.0))
        rows.append((fifth, 88, progs["bass"], False, 2, bar_start + half, half * 0.9, 0.0, 0.0))
        for beat in range(numerator if drums else 0):
            t = bar_start + beat * beat_len
            hit = KICK if beat % 2 == 0 else SNARE
            rows.append((hit, int(100 + rng.integers(-8, 9)), progs["drums"], True, 3, t, 0.25, 0.0, 0.0))
            for eighth in (0.0, beat_len / 2.0):
                velocity = int(70 + rng.integers(-10, 11))
                rows.append((CLOSED_HAT, velocity, progs["drums"], True, 3, t + eighth, 0.125, 0.0, 0.0))

    accompaniment = np.array(rows, dtype=NOTE_DTYPE) if rows else np.zeros(0, dtype=NOTE_DTYPE)
    notes = np.concatenate([melody.astype(NOTE_DTYPE), accompaniment])
    tracks = [
        TrackInfo("Melody", progs["melody"]),
        TrackInfo("Harmony", progs["harmony"]),
        TrackInfo("Bass", progs["bass"]),
    ]
    if drums:
        tracks.append(TrackInfo("Drums", progs["drums"], True))
    score = Score(
        notes=notes,
        tracks=tracks,
        tempo_bpm=float(tempo),
        time_signature=time_signature,
        key=f"{PITCH_NAMES[key_obj.tonic]} {key_obj.mode}",
        title=title,
    )
    return with_seconds(score)
