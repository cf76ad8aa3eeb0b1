"""Arrangements that fit the style of the training data (issue 17 §3). No Django; typed for `mypy --strict`.

Two arrangements of a melody:

- "satb": a four-voice chorale texture. The melody is the soprano; one chord per beat is chosen by a
  `Harmoniser`; alto, tenor and bass are voiced by a dynamic programme over every voicing of each chord
  (`voice_chords`) that forbids voice crossing and keeps the voices in their ranges, and whose cost punishes
  parallel fifths and octaves (so heavily that one is taken only when every voicing of the next chord would
  have one), leaps in the inner voices, incomplete chords and doubled leading tones.
- "band": lead + block chords + bass, and drums only when asked or when the corpus has a drum track
  (`markov.arrange`).

`corpus_style` reads the training pieces (four pitched parts and no drums: chorale-like) and `default_arrangement`
turns it into the default for a request that does not name one.

Interface for other harmonisers (frames.py, `harmony` request parameter; note for gen16):
    A `Harmoniser` is any callable `(melody_per_beat, rng, key) -> list[Chord]` returning exactly one `Chord`
    per entry of `melody_per_beat` (entry i: the melody pitches sounding in beat i, the pitch at the beat first;
    empty when the melody rests). `MarkovHarmony.harmonise` is one. Pass it to `harmonise_satb(melody,
    harmoniser, key=..., rng=..., bars=...)`, which returns the four voices (`Voices`, soprano..bass per beat)
    and the chords, or to `arrange_piece(..., harmoniser=...)` for the whole Score. A model that proposes
    pitch sets rather than chord symbols can name them with `markov.match_chord(histogram)`. Keep the
    signature; the voicing, the rules and the measurement (`voice_leading_errors`) stay here.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ledgerline.music.events import NOTE_DTYPE, Score, TrackInfo, with_seconds

from .markov import PITCH_NAMES, Chord, Key, MarkovHarmony, arrange, parse_key
from .tokens import DEFAULT_PROGRAMS, ROLE_NAMES

ARRANGEMENTS: tuple[str, ...] = ("satb", "band")
VOICE_NAMES: tuple[str, ...] = ("Soprano", "Alto", "Tenor", "Bass")
#: Textbook vocal ranges (MIDI, inclusive): soprano C4-G5, alto G3-C5, tenor C3-G4, bass E2-C4.
VOICE_RANGES: tuple[tuple[int, int], ...] = ((60, 79), (55, 72), (48, 67), (40, 60))
#: GM programs of a chorale when the request names none: choir aahs for every voice.
SATB_PROGRAMS: dict[str, int] = {"melody": 52, "harmony": 52, "bass": 52}
DRUM_CHANNEL = 9  # GM channel 10, counted from 0

Harmoniser = Callable[[Sequence[Sequence[int]], np.random.Generator, Key], list[Chord]]
Voicing = tuple[int, int, int, int]  # soprano, alto, tenor, bass (MIDI pitches)

# Costs of the voicing search. PARALLEL is large enough that no sum of the other costs over one step reaches it.
PARALLEL = 1000.0
_INVERSION = {0: 0.0, 1: 3.0, 2: 12.0, 3: 6.0}  # by the bass's chord member: root, third, fifth, seventh
_DOUBLED_THIRD = 2.0
_DOUBLED_LEADING_TONE = 20.0
_DOUBLED_SEVENTH = 20.0
_OMITTED_FIFTH = 1.5
_SOPRANO_NOT_IN_CHORD = 0.0  # the chord was chosen for the melody; a passing soprano note is the melody's choice
_WIDE_SPACING = 4.0  # tenor-to-bass over a twelfth
_RELAXED = 50.0  # a voicing outside the strict ranges, used only where no strict one exists


# --- the style of a corpus -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CorpusStyle:
    pieces: int
    four_part_share: float  # pieces with exactly four pitched tracks
    drum_share: float  # pieces with a drum track (GM channel 10) or drum notes

    @property
    def chorale_like(self) -> bool:
        return self.pieces > 0 and self.drum_share == 0.0 and self.four_part_share >= 0.5

    @property
    def has_drums(self) -> bool:
        return self.drum_share > 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "pieces": self.pieces,
            "four_part_share": round(self.four_part_share, 3),
            "drum_share": round(self.drum_share, 3),
            "chorale_like": self.chorale_like,
            "has_drums": self.has_drums,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> CorpusStyle:
        return cls(
            pieces=int(str(data.get("pieces", 0))),
            four_part_share=float(str(data.get("four_part_share", 0.0))),
            drum_share=float(str(data.get("drum_share", 0.0))),
        )


def corpus_style(scores: Sequence[Score]) -> CorpusStyle:
    """How many pieces have four pitched parts, and how many a drum track."""
    four = drums = 0
    for score in scores:
        notes = score.notes
        drum_tracks = {i for i, t in enumerate(score.tracks) if t.is_drum}
        drum_tracks |= {int(t) for t in np.unique(notes["track"][notes["is_drum"]])}
        pitched = {int(t) for t in np.unique(notes["track"][~notes["is_drum"]])} - drum_tracks
        four += len(pitched) == 4
        drums += bool(drum_tracks)
    count = len(scores)
    return CorpusStyle(count, four / count if count else 0.0, drums / count if count else 0.0)


def default_arrangement(style: CorpusStyle | None) -> str:
    return "satb" if style is not None and style.chorale_like else "band"


def validate_arrangement(arrangement: str) -> str:
    if arrangement not in ARRANGEMENTS:
        raise ValueError(f"unknown arrangement {arrangement!r}; choose one of {', '.join(ARRANGEMENTS)}")
    return arrangement


# --- melody per beat -----------------------------------------------------------------------------------
def melody_per_beat(melody: np.ndarray, beats: int, beat_len: float = 1.0) -> list[list[int]]:
    """For each beat, the melody pitches sounding in it, the one sounding at the beat's start first; [] for a
    beat where the melody rests throughout. `melody` is NOTE_DTYPE (one voice)."""
    notes = np.sort(melody, order=["start", "pitch"])
    starts, ends = notes["start"], notes["start"] + notes["duration"]
    result: list[list[int]] = []
    for beat in range(beats):
        lo, hi = beat * beat_len, (beat + 1) * beat_len
        sounding = (starts < hi - 1e-9) & (ends > lo + 1e-9)
        at_start = sounding & (starts <= lo + 1e-9)
        first = [int(p) for p in notes["pitch"][at_start][-1:]]  # the latest-starting note held at the beat
        rest = [int(p) for p in notes["pitch"][sounding & ~at_start]]
        result.append(first + rest)
    return result


def soprano_line(per_beat: Sequence[Sequence[int]]) -> list[int | None]:
    """The soprano at each beat: the melody's pitch there, else the last one before (the next one at the start)."""
    line: list[int | None] = [int(p[0]) if len(p) else None for p in per_beat]
    last: int | None = None
    for i, pitch in enumerate(line):
        if pitch is None:
            line[i] = last
        last = line[i]
    following: int | None = None
    for i in range(len(line) - 1, -1, -1):
        if line[i] is None:
            line[i] = following
        following = line[i]
    return line


def fit_soprano_range(melody: np.ndarray) -> np.ndarray:
    """The melody moved by whole octaves so that most of its notes lie in the soprano's range."""
    if len(melody) == 0:
        return melody
    low, high = VOICE_RANGES[0]
    pitches = melody["pitch"].astype(np.int64)
    best = min(range(-3, 4), key=lambda k: (int(np.sum((pitches + 12 * k < low) | (pitches + 12 * k > high))), abs(k)))
    moved = melody.copy()
    moved["pitch"] = np.clip(pitches + 12 * best, 0, 127).astype(moved["pitch"].dtype)
    return moved


# --- voicing -------------------------------------------------------------------------------------------
def _voicing(pitches: Sequence[int] | np.ndarray) -> Voicing:
    """Four MIDI pitches (soprano, alto, tenor, bass) as a Voicing; ValueError for any other count."""
    soprano, alto, tenor, bass = (int(p) for p in pitches)
    return soprano, alto, tenor, bass


def _members(chord: Chord) -> list[int]:
    """Chord members as pitch classes in order root, third, fifth (, seventh)."""
    return list(chord.pitch_classes)


def chord_voicings(chord: Chord, soprano: int, key: Key, *, relaxed: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Every (soprano, alto, tenor, bass) under `soprano` with alto/tenor/bass on chord tones, in range, without
    crossing, upper voices within an octave of each other and root and third present. Returns voicings [n, 4]
    and their costs [n] (inversion, doubling, omissions, spacing). Empty arrays when none fits.

    `relaxed` widens every range by a fourth and lets the alto lie up to a twelfth under the soprano; a voicing
    that needs it costs _RELAXED, so it is taken only where the strict ones would force a parallel or where
    there are none (a soprano at the edge of its range)."""
    members = _members(chord)
    root, third = members[0], members[1]
    leading_tone = (key.tonic + 11) % 12
    widen = 5 if relaxed else 0
    (_, _), (a_lo, a_hi), (t_lo, t_hi), (b_lo, b_hi) = ((lo - widen, hi + widen) for lo, hi in VOICE_RANGES)
    upper_spacing = 19 if relaxed else 12
    pcs = set(members)

    def tones(lo: int, hi: int) -> list[int]:
        return [p for p in range(lo, hi + 1) if p % 12 in pcs]

    rows: list[Voicing] = []
    costs: list[float] = []
    for bass in tones(b_lo, b_hi):
        for tenor in tones(max(t_lo, bass), t_hi):
            if tenor - bass > 24:
                continue
            for alto in tones(max(a_lo, tenor), min(a_hi, soprano)):
                if alto - tenor > 12 or soprano - alto > upper_spacing:
                    continue
                voicing = (soprano, alto, tenor, bass)
                classes = [p % 12 for p in voicing]
                if root not in classes or third not in classes:
                    continue
                cost = _INVERSION[members.index(bass % 12)]
                if relaxed and not _strict(voicing):
                    cost += _RELAXED
                if classes.count(third) > 1 and third != leading_tone:
                    cost += _DOUBLED_THIRD
                if classes.count(leading_tone) > 1 and leading_tone in pcs:
                    cost += _DOUBLED_LEADING_TONE
                if len(members) == 4 and classes.count(members[3]) > 1:
                    cost += _DOUBLED_SEVENTH
                if members[2] not in classes:
                    cost += _OMITTED_FIFTH
                if soprano % 12 not in pcs:
                    cost += _SOPRANO_NOT_IN_CHORD
                if tenor - bass > 19:
                    cost += _WIDE_SPACING
                rows.append(voicing)
                costs.append(cost)
    return np.array(rows, dtype=np.int64).reshape(-1, 4), np.array(costs, dtype=np.float64)


def _strict(voicing: Voicing) -> bool:
    soprano, alto, tenor, _ = voicing
    in_range = all(lo <= p <= hi for p, (lo, hi) in zip(voicing[1:], VOICE_RANGES[1:], strict=True))
    return in_range and soprano - alto <= 12 and alto - tenor <= 12


def _parallels(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Count [m, n] of voice pairs moving in parallel (or contrary) fifths or octaves/unisons from each voicing
    in `previous` [m, 4] to each in `current` [n, 4]: the same interval class (0 or 7 semitones modulo the
    octave) in both chords and both voices moving."""
    count = np.zeros((len(previous), len(current)), dtype=np.int64)
    for upper, lower in itertools.combinations(range(4), 2):
        before = (previous[:, upper] - previous[:, lower]) % 12
        after = (current[:, upper] - current[:, lower]) % 12
        perfect = (before[:, None] == after[None, :]) & np.isin(after, (0, 7))[None, :]
        moved = (previous[:, upper, None] != current[None, :, upper]) & (
            previous[:, lower, None] != current[None, :, lower]
        )
        count += perfect & moved
    return count


def _motion_cost(previous: np.ndarray, current: np.ndarray) -> np.ndarray:
    """Cost [m, n] of moving: the inner voices' steps (leaps beyond a fourth cost more), half the bass's,
    a bass leap beyond a fifth, and the parallels."""
    steps = np.abs(previous[:, None, :] - current[None, :, :])  # [m, n, 4]
    inner = steps[:, :, 1] + steps[:, :, 2]
    cost = inner + 2.0 * (np.maximum(steps[:, :, 1] - 5, 0) + np.maximum(steps[:, :, 2] - 5, 0))
    cost = cost + 0.5 * steps[:, :, 3] + 2.0 * np.maximum(steps[:, :, 3] - 7, 0)
    # Overlap: a voice moving past where the neighbouring voice just was.
    overlap = (current[None, :, 1] > previous[:, None, 0]) | (current[None, :, 2] > previous[:, None, 1])
    overlap |= (current[None, :, 3] > previous[:, None, 2]) | (current[None, :, 2] < previous[:, None, 3])
    total: np.ndarray = cost + 2.0 * overlap + PARALLEL * _parallels(previous, current)
    return total


def voice_chords(
    soprano: Sequence[int], chords: Sequence[Chord], key: Key, *, fixed: Sequence[Voicing | None] = ()
) -> list[Voicing]:
    """The cheapest voicing of `chords` [n] under the soprano pitches [n]: Viterbi over each chord's voicings.

    1. Candidates per beat: `chord_voicings(relaxed=True)` (strict voicings, and at a cost the relaxed ones);
       failing those (a soprano far below its range), the beat is a unison of the chord's root under it.
       Beat i with `fixed[i]` given has that voicing as its only candidate (the bars a regeneration keeps).
    2. Cost of a path: the candidates' own costs plus `_motion_cost` between neighbours.
    3. Backtrack the cheapest path.
    """
    if len(soprano) != len(chords):
        raise ValueError(f"{len(soprano)} soprano pitches for {len(chords)} chords")
    if not chords:
        return []
    candidates: list[np.ndarray] = []
    own: list[np.ndarray] = []
    for index, (pitch, chord) in enumerate(zip(soprano, chords, strict=True)):
        kept = fixed[index] if index < len(fixed) else None
        if kept is not None:
            candidates.append(np.array([kept], dtype=np.int64))
            own.append(np.zeros(1))
            continue
        voicings, costs = chord_voicings(chord, int(pitch), key, relaxed=True)
        if len(voicings) == 0:
            root = max(int(pitch) - (int(pitch) - chord.root) % 12, 0)
            voicings = np.array([[pitch, root, root, root]], dtype=np.int64)
            costs = np.array([PARALLEL / 10.0])
        candidates.append(voicings)
        own.append(costs)
    total = own[0].copy()
    back: list[np.ndarray] = []
    for i in range(1, len(candidates)):
        step = total[:, None] + _motion_cost(candidates[i - 1], candidates[i])  # [m, n]
        back.append(np.argmin(step, axis=0))
        total = step[back[-1], np.arange(step.shape[1])] + own[i]
    index = int(np.argmin(total))
    path = [index]
    for pointers in reversed(back):
        index = int(pointers[index])
        path.append(index)
    path.reverse()
    return [_voicing(candidates[i][j]) for i, j in enumerate(path)]


@dataclass(frozen=True)
class Voices:
    """Four voices on a grid of beats: voicings[i] is (soprano, alto, tenor, bass) at beat i."""

    voicings: list[Voicing]
    beat_len: float = 1.0


def harmonise_satb(
    melody: np.ndarray,
    harmoniser: Harmoniser,
    *,
    key: Key,
    rng: np.random.Generator,
    bars: int,
    time_signature: tuple[int, int] = (4, 4),
    fixed: Sequence[Voicing | None] = (),
) -> tuple[Voices, list[Chord]]:
    """One chord per beat from `harmoniser`, voiced in four parts under the melody (NOTE_DTYPE, one voice);
    `fixed` voicings stay as they are (see `voice_chords`)."""
    beat_len = 4.0 / time_signature[1]
    beats = bars * time_signature[0]
    per_beat = melody_per_beat(melody, beats, beat_len)
    chords = harmoniser(per_beat, rng, key)
    if len(chords) != beats:
        raise ValueError(f"the harmoniser returned {len(chords)} chords for {beats} beats")
    line = soprano_line(per_beat)
    if all(p is None for p in line):  # no melody at all: the tonic's fifth leads
        line = [VOICE_RANGES[0][0] + (key.tonic + 7) % 12] * beats
    soprano = [int(p) for p in line if p is not None]
    return Voices(voice_chords(soprano, chords, key, fixed=fixed), beat_len), chords


def satb_score(
    melody: np.ndarray,
    voices: Voices,
    *,
    bars: int,
    tempo: float,
    key: Key,
    programs: Mapping[str, int],
    time_signature: tuple[int, int] = (4, 4),
    title: str | None = None,
    boundary_beat: int | None = None,
) -> Score:
    """Tracks Soprano (the melody itself, every note), Alto, Tenor, Bass (one note per beat, a repeated pitch
    held, but not across `boundary_beat`). Programs: soprano `melody`, alto and tenor `harmony`, bass `bass`."""
    bar_beats = time_signature[0] * 4.0 / time_signature[1]
    end = bars * bar_beats
    soprano = melody[melody["start"] < end - 1e-9].copy()
    soprano["duration"] = np.minimum(soprano["duration"], end - soprano["start"])
    soprano["track"], soprano["program"], soprano["is_drum"] = 0, programs["melody"], False
    part_programs = (programs["melody"], programs["harmony"], programs["harmony"], programs["bass"])
    rows: list[tuple[int, int, int, bool, int, float, float, float, float]] = []
    for voice in (1, 2, 3):
        held: tuple[int, float] | None = None  # (pitch, start) of the note being held
        for beat, voicing in enumerate([*voices.voicings, None]):
            pitch = None if voicing is None else voicing[voice]
            if held is not None and (pitch != held[0] or beat == boundary_beat):
                start = held[1]
                rows.append(
                    (held[0], 72, part_programs[voice], False, voice, start, beat * voices.beat_len - start, 0, 0)
                )
                held = None
            if pitch is not None and held is None:
                held = (pitch, beat * voices.beat_len)
    parts = np.array(rows, dtype=NOTE_DTYPE) if rows else np.zeros(0, dtype=NOTE_DTYPE)
    score = Score(
        notes=np.concatenate([soprano.astype(NOTE_DTYPE), parts]),
        tracks=[TrackInfo(name, program) for name, program in zip(VOICE_NAMES, part_programs, strict=True)],
        tempo_bpm=float(tempo),
        time_signature=time_signature,
        key=f"{PITCH_NAMES[key.tonic]} {key.mode}",
        title=title,
    )
    return with_seconds(score)


# --- the whole arrangement -----------------------------------------------------------------------------
def arrange_piece(
    melody: np.ndarray,
    *,
    arrangement: str,
    markov: MarkovHarmony,
    bars: int,
    tempo: float,
    key: Key | str,
    programs: Mapping[str, int] | None,
    rng: np.random.Generator,
    drums: bool = False,
    harmoniser: Harmoniser | None = None,
    time_signature: tuple[int, int] = (4, 4),
    title: str | None = None,
    keep: Score | None = None,
    keep_bars: int = 0,
) -> tuple[Score, list[Chord]]:
    """The Score of `melody` (NOTE_DTYPE) in `arrangement`, and the chords it uses.

    With `keep` (a piece being regenerated from bar `keep_bars` + 1, counted from 1) the notes of `keep` that
    start before that bar are kept exactly and the arrangement continues from them: in satb its voicings are
    fixed there, so the voice leading across the seam is checked like any other step.

    satb: chords per beat from `harmoniser` (default: `markov.harmonise`), voiced by `voice_chords`; `drums` is
    ignored (a chorale has none). band: one chord per bar from `markov.harmonise`, `markov.arrange` with a drum
    track only when `drums`. Programs the request does not name come from SATB_PROGRAMS or DEFAULT_PROGRAMS.
    """
    validate_arrangement(arrangement)
    key_obj = parse_key(key) if isinstance(key, str) else key
    bar_beats = time_signature[0] * 4.0 / time_signature[1]
    if arrangement == "satb":
        progs = {**DEFAULT_PROGRAMS, **SATB_PROGRAMS, **(programs or {})}
        beats_per_bar = time_signature[0]
        fixed: list[Voicing | None] = []
        if keep is not None and keep_bars:
            grid = satb_per_beat(keep, beat_len=4.0 / time_signature[1])[: keep_bars * beats_per_bar]
            fixed = [_voicing(row) if np.all(row >= 0) else None for row in grid]
        voices, chords = harmonise_satb(
            melody,
            harmoniser or markov.harmonise,
            key=key_obj,
            rng=rng,
            bars=bars,
            time_signature=time_signature,
            fixed=fixed,
        )
        score = satb_score(
            melody,
            voices,
            bars=bars,
            tempo=tempo,
            key=key_obj,
            programs=progs,
            time_signature=time_signature,
            title=title,
            boundary_beat=keep_bars * beats_per_bar if keep is not None else None,
        )
        return splice(keep, score, keep_bars * bar_beats) if keep is not None else score, chords
    per_bar: list[list[int]] = [[] for _ in range(bars)]
    for note in melody:
        bar = int(note["start"] // bar_beats)
        if 0 <= bar < bars:
            per_bar[bar].append(int(note["pitch"]))
    chords = markov.harmonise(per_bar, rng, key_obj)
    progs = {**DEFAULT_PROGRAMS, **(programs or {})}
    score = arrange(
        melody, chords, bars, tempo, key_obj, progs, rng, time_signature=time_signature, title=title, drums=drums
    )
    return splice(keep, score, keep_bars * bar_beats) if keep is not None else score, chords


def splice(kept: Score, new: Score, boundary: float) -> Score:
    """`kept`'s notes that start before `boundary` beats, unchanged but for a note sounding past `boundary`,
    which ends there (what sounds from the boundary on is the new piece's), then `new`'s notes from there on,
    on `new`'s tracks. Raises ValueError when the two do not have the same tracks (another arrangement)."""
    if [(t.name, t.is_drum) for t in kept.tracks] != [(t.name, t.is_drum) for t in new.tracks]:
        raise ValueError("the regenerated piece must keep the arrangement (tracks) of the piece it continues")
    before = kept.notes[kept.notes["start"] < boundary - 1e-9].copy()
    before["duration"] = np.minimum(before["duration"], boundary - before["start"])
    after = new.notes[new.notes["start"] >= boundary - 1e-9]
    notes = np.concatenate([before.astype(NOTE_DTYPE), after.astype(NOTE_DTYPE)])
    score = Score(
        notes=notes,
        tracks=list(new.tracks),
        tempo_bpm=new.tempo_bpm,
        time_signature=new.time_signature,
        key=new.key,
        title=new.title,
    )
    return with_seconds(score)


# --- measuring voice leading ---------------------------------------------------------------------------
def satb_per_beat(score: Score, *, beat_len: float = 1.0) -> np.ndarray:
    """Pitches [beats, 4] of the first four pitched tracks, ordered from the highest mean pitch down, at each
    beat's start (-1 where a voice rests). A chorale's parts and an SATB arrangement read alike."""
    notes = score.notes[~score.notes["is_drum"]]
    tracks = [int(t) for t in np.unique(notes["track"])]
    tracks.sort(key=lambda t: -float(np.mean(notes["pitch"][notes["track"] == t])))
    beats = int(np.ceil(score.duration_beats / beat_len - 1e-9))
    grid = np.full((beats, 4), -1, dtype=np.int64)
    for column, track in enumerate(tracks[:4]):
        part = notes[notes["track"] == track]
        starts, ends = part["start"], part["start"] + part["duration"]
        for beat in range(beats):
            t = beat * beat_len + 1e-9
            sounding = (starts <= t) & (ends > t)
            if np.any(sounding):
                grid[beat, column] = int(np.max(part["pitch"][sounding]))
    return grid


def voice_leading_errors(grid: np.ndarray) -> dict[str, float]:
    """Errors of four voices on a beat grid [beats, 4] (-1: rest), counted over the beats where all four sound
    (the chords) and the steps between two such neighbouring beats.

    parallel_fifths / parallel_octaves: voice pairs keeping a fifth / an octave or unison (modulo octaves) while
    both move; range: a voice outside VOICE_RANGES; crossing: a lower voice above the one over it. Returns the
    counts, `chords`, and each per 100 chords.
    """
    full = np.all(grid >= 0, axis=1)
    counts = {"parallel_fifths": 0, "parallel_octaves": 0, "range": 0, "crossing": 0}
    for row in grid[full]:
        counts["range"] += sum(not lo <= int(p) <= hi for p, (lo, hi) in zip(row, VOICE_RANGES, strict=True))
        counts["crossing"] += int(np.sum(row[1:] > row[:-1]))
    for i in range(1, len(grid)):
        if not (full[i] and full[i - 1]):
            continue
        before, after = grid[i - 1], grid[i]
        for upper, lower in itertools.combinations(range(4), 2):
            interval = (after[upper] - after[lower]) % 12
            moved = before[upper] != after[upper] and before[lower] != after[lower]
            if moved and interval == (before[upper] - before[lower]) % 12:
                if interval == 7:
                    counts["parallel_fifths"] += 1
                elif interval == 0:
                    counts["parallel_octaves"] += 1
    chords = int(full.sum())
    result: dict[str, float] = {"chords": chords, **counts}
    for name, count in counts.items():
        result[f"{name}_per_100"] = round(100.0 * count / chords, 3) if chords else 0.0
    return result


__all__ = [
    "ARRANGEMENTS",
    "ROLE_NAMES",
    "CorpusStyle",
    "Harmoniser",
    "Voices",
    "arrange_piece",
    "chord_voicings",
    "corpus_style",
    "default_arrangement",
    "harmonise_satb",
    "satb_per_beat",
    "satb_score",
    "voice_chords",
    "voice_leading_errors",
]
