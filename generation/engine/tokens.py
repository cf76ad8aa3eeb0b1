"""Event vocabulary on a 16th-note grid, and conversions between `Score` and token sequences.

Vocabulary (ids are fixed, so a checkpoint trained today decodes the same way tomorrow):

    0            PAD
    1            BOS
    2            EOS
    3            BAR                 start of the next bar
    4..19        POSITION_0..15      onset inside the bar, in 16ths (a 4/4 bar has 16 positions)
    20..23       TRACK_0..3          0 melody, 1 harmony, 2 bass, 3 drums
    24..151      PITCH_0..127        MIDI pitch (GM drum note on the drum track)
    152..183     DURATION_1..32      length in 16ths

A note is `[POSITION_k] [TRACK_t] PITCH_p DURATION_d`. POSITION is written only when the onset moves and
TRACK only when the role differs from the current one; both the position and the track state reset at every
BAR and the track state resets at every POSITION (to 0, melody). A melody-only sequence therefore never needs
a TRACK token, and the same model/sampler handles melody-only and multi-track sequences.

Bars longer than 16 sixteenths (5/4, 12/8, ...) are cut into 16-step grid bars: the grid is what the model
sees, the time signature is kept on the Score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ledgerline.music.events import NOTE_DTYPE, NoteRow, Score, TrackInfo, with_seconds

STEPS_PER_BEAT = 4  # 16th-note grid: four steps per quarter-note beat
MAX_POSITIONS = 16
NUM_TRACKS = 4
MAX_DURATION = 32

ROLE_NAMES: tuple[str, ...] = ("melody", "harmony", "bass", "drums")
DEFAULT_PROGRAMS: dict[str, int] = {"melody": 0, "harmony": 48, "bass": 33, "drums": 0}
DRUM_ROLE = 3


@dataclass(frozen=True)
class Vocab:
    """The fixed token vocabulary. All ids are derived from the offsets below."""

    pad: int = 0
    bos: int = 1
    eos: int = 2
    bar: int = 3
    position_offset: int = 4
    track_offset: int = 4 + MAX_POSITIONS
    pitch_offset: int = 4 + MAX_POSITIONS + NUM_TRACKS
    duration_offset: int = 4 + MAX_POSITIONS + NUM_TRACKS + 128

    @property
    def size(self) -> int:
        return self.duration_offset + MAX_DURATION

    # --- constructors -------------------------------------------------------------------------------
    def position(self, step: int) -> int:
        if not 0 <= step < MAX_POSITIONS:
            raise ValueError(f"position {step} outside 0..{MAX_POSITIONS - 1}")
        return self.position_offset + step

    def track(self, role: int) -> int:
        if not 0 <= role < NUM_TRACKS:
            raise ValueError(f"track {role} outside 0..{NUM_TRACKS - 1}")
        return self.track_offset + role

    def pitch(self, pitch: int) -> int:
        if not 0 <= pitch < 128:
            raise ValueError(f"pitch {pitch} outside 0..127")
        return self.pitch_offset + pitch

    def duration(self, steps: int) -> int:
        if not 1 <= steps <= MAX_DURATION:
            raise ValueError(f"duration {steps} outside 1..{MAX_DURATION}")
        return self.duration_offset + steps - 1

    # --- queries ------------------------------------------------------------------------------------
    def is_position(self, token: int) -> bool:
        return self.position_offset <= token < self.track_offset

    def is_track(self, token: int) -> bool:
        return self.track_offset <= token < self.pitch_offset

    def is_pitch(self, token: int) -> bool:
        return self.pitch_offset <= token < self.duration_offset

    def is_duration(self, token: int) -> bool:
        return self.duration_offset <= token < self.size

    @property
    def pitch_ids(self) -> range:
        return range(self.pitch_offset, self.duration_offset)

    # --- strings ------------------------------------------------------------------------------------
    def to_str(self, token: int) -> str:
        specials = {self.pad: "PAD", self.bos: "BOS", self.eos: "EOS", self.bar: "BAR"}
        if token in specials:
            return specials[token]
        if self.is_position(token):
            return f"POSITION_{token - self.position_offset}"
        if self.is_track(token):
            return f"TRACK_{token - self.track_offset}"
        if self.is_pitch(token):
            return f"PITCH_{token - self.pitch_offset}"
        if self.is_duration(token):
            return f"DURATION_{token - self.duration_offset + 1}"
        raise ValueError(f"token id {token} outside the vocabulary (size {self.size})")

    def from_str(self, text: str) -> int:
        specials = {"PAD": self.pad, "BOS": self.bos, "EOS": self.eos, "BAR": self.bar}
        if text in specials:
            return specials[text]
        kind, _, value = text.partition("_")
        if not value.isdigit():
            raise ValueError(f"unknown token {text!r}")
        number = int(value)
        builders = {"POSITION": self.position, "TRACK": self.track, "PITCH": self.pitch, "DURATION": self.duration}
        if kind not in builders:
            raise ValueError(f"unknown token {text!r}")
        return builders[kind](number)

    def to_strings(self, tokens: Sequence[int]) -> list[str]:
        return [self.to_str(int(t)) for t in tokens]

    def from_strings(self, texts: Sequence[str]) -> list[int]:
        return [self.from_str(t) for t in texts]


VOCAB = Vocab()


def steps_per_bar(time_signature: tuple[int, int]) -> int:
    """Grid steps in one token bar: the real bar length in 16ths, capped at 16 (see the module docstring)."""
    numerator, denominator = time_signature
    steps = int(round(numerator * 4.0 / denominator * STEPS_PER_BEAT))
    return max(1, min(MAX_POSITIONS, steps))


def interval_sequence(pitches: Sequence[int] | np.ndarray) -> np.ndarray:
    """Successive pitch intervals in semitones, shape [len(pitches) - 1]; a transposed tune gives the same array."""
    arr = np.asarray(pitches, dtype=np.int16)
    if arr.size < 2:
        return np.zeros(0, dtype=np.int16)
    return np.diff(arr).astype(np.int16)


# --- track roles ---------------------------------------------------------------------------------------
def assign_roles(score: Score) -> dict[int, int]:
    """Map each Score track index to a role: drums -> 3; the highest-sounding pitched track -> 0 (melody);
    the lowest, when there are at least two pitched tracks -> 2 (bass); every other pitched track -> 1.

    Ranking by mean pitch rather than by track order because MIDI files list parts in any order.
    """
    notes = score.notes
    roles: dict[int, int] = {}
    pitched: list[tuple[float, int]] = []
    for index, info in enumerate(score.tracks):
        mask = notes["track"] == index
        is_drum = info.is_drum or bool(np.any(notes["is_drum"][mask]))
        if is_drum:
            roles[index] = DRUM_ROLE
        elif np.any(mask):
            pitched.append((float(np.mean(notes["pitch"][mask])), index))
    pitched.sort(key=lambda item: (-item[0], item[1]))
    for rank, (_, index) in enumerate(pitched):
        if rank == 0:
            roles[index] = 0
        elif rank == len(pitched) - 1:
            roles[index] = 2
        else:
            roles[index] = 1
    return roles


def _quantise(notes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and durations in grid steps; every note lasts at least one step."""
    starts = np.round(notes["start"] * STEPS_PER_BEAT).astype(np.int64)
    durations = np.clip(np.round(notes["duration"] * STEPS_PER_BEAT).astype(np.int64), 1, MAX_DURATION)
    return np.maximum(starts, 0), durations


def _events_to_tokens(events: list[tuple[int, int, int, int]], bar_steps: int, vocab: Vocab) -> list[int]:
    """(onset_step, role, pitch, duration_steps) events, sorted, to [BOS ... EOS]."""
    tokens = [vocab.bos]
    current_bar = -1
    current_pos = -1
    current_role = 0
    for onset, role, pitch, duration in events:
        bar, pos = divmod(onset, bar_steps)
        while current_bar < bar:
            # Empty bars still get a BAR token so that rests keep their length.
            tokens.append(vocab.bar)
            current_bar += 1
            current_pos = -1
            current_role = 0
        if pos != current_pos:
            tokens.append(vocab.position(pos))
            current_pos = pos
            current_role = 0
        if role != current_role:
            tokens.append(vocab.track(role))
            current_role = role
        tokens.append(vocab.pitch(pitch))
        tokens.append(vocab.duration(duration))
    tokens.append(vocab.eos)
    return tokens


def skyline(notes: np.ndarray) -> np.ndarray:
    """The top voice of `notes` (NOTE_DTYPE, any order): the highest pitch at each onset, dropping a note that
    starts under a still-sounding higher top-voice note, and cutting each note at the next kept onset so the
    result is monophonic."""
    if len(notes) == 0:
        return notes.copy()
    order = np.lexsort((-notes["pitch"].astype(np.int32), notes["start"]))
    ordered = notes[order]
    kept: list[np.void] = []
    for note in ordered:
        if kept and abs(note["start"] - kept[-1]["start"]) < 1e-9:
            continue  # a lower note at the same onset
        if kept:
            prev = kept[-1]
            still_sounding = prev["start"] + prev["duration"] > note["start"] + 1e-9
            if still_sounding and prev["pitch"] > note["pitch"]:
                continue
        kept.append(note.copy())
    result = np.array(kept, dtype=NOTE_DTYPE)
    ends = np.minimum(result["start"][:-1] + result["duration"][:-1], result["start"][1:])
    result["duration"][:-1] = ends - result["start"][:-1]
    return result


def encode_melody(score: Score, track: int | None = None, vocab: Vocab = VOCAB) -> list[int]:
    """Tokens of the top voice (soprano) of one track: `track`, or the melody-role track when None.

    Returns [BOS, BAR, POSITION, PITCH, DURATION, ..., EOS] without TRACK tokens (the melody is role 0).
    """
    if track is None:
        roles = assign_roles(score)
        melody_tracks = [index for index, role in roles.items() if role == 0]
        if not melody_tracks:
            return [vocab.bos, vocab.eos]
        track = melody_tracks[0]
    notes = score.notes[(score.notes["track"] == track) & ~score.notes["is_drum"]]
    top = skyline(notes)
    starts, durations = _quantise(top)
    events: list[tuple[int, int, int, int]] = []
    last_onset = -1
    for onset, duration, pitch in zip(starts.tolist(), durations.tolist(), top["pitch"].tolist(), strict=True):
        if onset == last_onset:
            continue  # two top notes collapsed onto one 16th: keep the first (highest)
        events.append((onset, 0, int(pitch), int(duration)))
        last_onset = onset
    return _events_to_tokens(events, steps_per_bar(score.time_signature), vocab)


def encode(score: Score, vocab: Vocab = VOCAB) -> list[int]:
    """Multi-track tokens: every note of every track, with TRACK tokens naming the role (see `assign_roles`).

    Notes at one onset are ordered by role, then by descending pitch, which makes the sequence deterministic.
    Identical (onset, role, pitch) notes from merged tracks are written once.
    """
    roles = assign_roles(score)
    notes = score.notes
    starts, durations = _quantise(notes)
    seen: set[tuple[int, int, int]] = set()
    events: list[tuple[int, int, int, int]] = []
    for onset, duration, pitch, track in zip(
        starts.tolist(), durations.tolist(), notes["pitch"].tolist(), notes["track"].tolist(), strict=True
    ):
        role = roles.get(int(track), 1)
        key = (onset, role, int(pitch))
        if key in seen:
            continue
        seen.add(key)
        events.append((onset, role, int(pitch), int(duration)))
    events.sort(key=lambda e: (e[0], e[1], -e[2]))
    return _events_to_tokens(events, steps_per_bar(score.time_signature), vocab)


def _program_list(programs: Mapping[str, int] | Sequence[int] | None) -> list[int]:
    if programs is None:
        return [DEFAULT_PROGRAMS[name] for name in ROLE_NAMES]
    if isinstance(programs, Mapping):
        return [int(programs.get(name, DEFAULT_PROGRAMS[name])) for name in ROLE_NAMES]
    values = [int(p) for p in programs]
    if len(values) != NUM_TRACKS:
        raise ValueError(f"programs needs {NUM_TRACKS} entries (melody, harmony, bass, drums), got {len(values)}")
    return values


def decode(
    tokens: Sequence[int],
    tempo_bpm: float = 120.0,
    programs: Mapping[str, int] | Sequence[int] | None = None,
    *,
    time_signature: tuple[int, int] = (4, 4),
    velocity: int = 90,
    vocab: Vocab = VOCAB,
) -> Score:
    """Tokens to a four-track Score (tracks in role order: melody, harmony, bass, drums; any may be empty).

    Tolerant of sampled garbage: a PITCH without a following DURATION lasts one step, a DURATION without a
    PITCH is ignored, everything after the first EOS is ignored.
    """
    program_list = _program_list(programs)
    bar_steps = steps_per_bar(time_signature)
    step_beats = 1.0 / STEPS_PER_BEAT
    rows: list[NoteRow] = []
    bar, pos, role = -1, 0, 0
    pending: int | None = None

    def flush(duration_steps: int) -> None:
        nonlocal pending
        if pending is None:
            return
        onset = (max(bar, 0) * bar_steps + pos) * step_beats
        is_drum = role == DRUM_ROLE
        rows.append(
            (pending, velocity, program_list[role], is_drum, role, onset, duration_steps * step_beats, 0.0, 0.0)
        )
        pending = None

    for raw in tokens:
        token = int(raw)
        if token == vocab.eos:
            break
        if vocab.is_duration(token):
            flush(token - vocab.duration_offset + 1)
            continue
        flush(1)
        if token == vocab.bar:
            bar, pos, role = bar + 1, 0, 0
        elif vocab.is_position(token):
            pos, role = min(token - vocab.position_offset, bar_steps - 1), 0
        elif vocab.is_track(token):
            role = token - vocab.track_offset
        elif vocab.is_pitch(token):
            pending = token - vocab.pitch_offset
    flush(1)
    notes = np.array(rows, dtype=NOTE_DTYPE) if rows else np.zeros(0, dtype=NOTE_DTYPE)
    tracks = [
        TrackInfo(name.capitalize(), program_list[index], index == DRUM_ROLE) for index, name in enumerate(ROLE_NAMES)
    ]
    score = Score(notes=notes, tracks=tracks, tempo_bpm=float(tempo_bpm), time_signature=time_signature)
    return with_seconds(score)


def melody_notes(
    tokens: Sequence[int], bar_steps: int = 16, vocab: Vocab = VOCAB
) -> tuple[np.ndarray, np.ndarray, float]:
    """The melody role's notes as (onsets [notes] in quarter-note beats, pitches [notes], end in beats: the last
    bar line read), one note per onset (the highest), following the TRACK/POSITION/BAR state rules. The first
    BAR token opens bar 0."""
    role, bar, position = 0, -1, 0
    notes: dict[int, int] = {}
    for raw in tokens:
        token = int(raw)
        if token == vocab.bar:
            role, bar, position = 0, bar + 1, 0
        elif vocab.is_position(token):
            role, position = 0, token - vocab.position_offset
        elif vocab.is_track(token):
            role = token - vocab.track_offset
        elif vocab.is_pitch(token) and role == 0 and bar >= 0:
            onset = bar * bar_steps + position
            notes[onset] = max(notes.get(onset, 0), token - vocab.pitch_offset)
    onsets = np.array(sorted(notes), dtype=np.int64)
    pitches = np.array([notes[o] for o in onsets.tolist()], dtype=np.int64)
    return onsets / STEPS_PER_BEAT, pitches, (bar + 1) * bar_steps / STEPS_PER_BEAT


def melody_pitches(tokens: Sequence[int], vocab: Vocab = VOCAB) -> list[int]:
    """MIDI pitches of the melody role (track 0) in token order, following the TRACK/POSITION/BAR state rules."""
    role = 0
    pitches: list[int] = []
    for raw in tokens:
        token = int(raw)
        if token == vocab.bar or vocab.is_position(token):
            role = 0
        elif vocab.is_track(token):
            role = token - vocab.track_offset
        elif vocab.is_pitch(token) and role == 0:
            pitches.append(token - vocab.pitch_offset)
    return pitches
