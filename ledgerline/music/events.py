"""The shared event representation: every symbolic piece becomes a `Score` of note events.

A note carries pitch, velocity, General MIDI program, drum flag, track index, and its onset and duration both
in quarter-note beats (the musical grid: bars, loops) and in seconds (audio alignment). The seed article's
note vector (pitch, start, duration, velocity) plus instrument, tempo, time signature and key.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import numpy as np

SAMPLE_RATE = 22050  # canonical mono PCM rate of every rendered or decoded audio item

NOTE_DTYPE = np.dtype(
    [
        ("pitch", "u1"),
        ("velocity", "u1"),
        ("program", "u1"),
        ("is_drum", "?"),
        ("track", "u2"),
        ("start", "f8"),  # quarter-note beats
        ("duration", "f8"),  # quarter-note beats
        ("start_s", "f8"),
        ("duration_s", "f8"),
    ]
)

# One NOTE_DTYPE record as a tuple, in field order: pitch, velocity, program, is_drum, track, start, duration,
# start_s, duration_s (`np.array(rows, dtype=NOTE_DTYPE)` builds the notes array from a list of them).
NoteRow = tuple[int, int, int, bool, int, float, float, float, float]

DEFAULT_TPQ = 480


@dataclass(frozen=True)
class TrackInfo:
    name: str
    program: int
    is_drum: bool = False


@dataclass
class Score:
    """A multi-track piece. `notes` is a structured array of `NOTE_DTYPE`, sorted by (start, track, pitch)."""

    notes: np.ndarray
    tracks: list[TrackInfo]
    tempo_bpm: float = 120.0
    tempo_map: list[tuple[float, float]] = field(default_factory=list)  # (beat, bpm), first at beat 0
    time_signature: tuple[int, int] = (4, 4)
    key: str | None = None
    title: str | None = None
    composer: str | None = None
    tempo_marked: bool = True  # False: the file gave no tempo and `tempo_bpm` is the 120 default of MIDI

    def __post_init__(self) -> None:
        if self.notes.dtype != NOTE_DTYPE:
            raise TypeError("Score.notes must have NOTE_DTYPE")
        if not self.tempo_map:
            self.tempo_map = [(0.0, float(self.tempo_bpm))]
        order = np.lexsort((self.notes["pitch"], self.notes["track"], self.notes["start"]))
        self.notes = self.notes[order]

    # --- time ------------------------------------------------------------------------------------------
    @property
    def bar_beats(self) -> float:
        """Quarter-note beats per bar (6/8 -> 3.0)."""
        numerator, denominator = self.time_signature
        return numerator * 4.0 / denominator

    @property
    def duration_beats(self) -> float:
        if len(self.notes) == 0:
            return 0.0
        return float(np.max(self.notes["start"] + self.notes["duration"]))

    @property
    def duration_s(self) -> float:
        if len(self.notes) == 0:
            return 0.0
        return float(np.max(self.notes["start_s"] + self.notes["duration_s"]))

    def beats_to_seconds(self, beats: np.ndarray | float) -> np.ndarray:
        """Convert quarter-note beats to seconds through the tempo map (piecewise-constant tempo)."""
        beats_arr = np.asarray(beats, dtype=np.float64)
        starts = np.array([b for b, _ in self.tempo_map], dtype=np.float64)
        spb = np.array([60.0 / bpm for _, bpm in self.tempo_map], dtype=np.float64)
        seconds_at = np.concatenate([[0.0], np.cumsum(np.diff(starts) * spb[:-1])])
        seg = np.clip(np.searchsorted(starts, beats_arr, side="right") - 1, 0, len(starts) - 1)
        return seconds_at[seg] + (beats_arr - starts[seg]) * spb[seg]

    def bar_lines_s(self, bars: int | None = None) -> np.ndarray:
        """Seconds of each bar line from 0 up to the end of the piece (or `bars` bars)."""
        count = bars if bars is not None else int(np.ceil(self.duration_beats / self.bar_beats - 1e-9))
        return self.beats_to_seconds(np.arange(count + 1) * self.bar_beats)

    # --- tracks ----------------------------------------------------------------------------------------
    def track_score(self, index: int) -> Score:
        """A Score holding only track `index` (renumbered 0)."""
        notes = self.notes[self.notes["track"] == index].copy()
        notes["track"] = 0
        return Score(
            notes=notes,
            tracks=[self.tracks[index]],
            tempo_bpm=self.tempo_bpm,
            tempo_map=list(self.tempo_map),
            time_signature=self.time_signature,
            key=self.key,
            title=self.title,
            composer=self.composer,
        )

    def instruments(self) -> list[dict[str, object]]:
        return [{"name": t.name, "program": t.program, "is_drum": t.is_drum} for t in self.tracks]

    # --- serialisation ---------------------------------------------------------------------------------
    def _meta(self) -> dict[str, object]:
        return {
            "tracks": self.instruments(),
            "tempo_bpm": self.tempo_bpm,
            "tempo_map": [[b, t] for b, t in self.tempo_map],
            "time_signature": list(self.time_signature),
            "key": self.key,
            "title": self.title,
            "composer": self.composer,
        }

    def to_npz_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, notes=self.notes, meta=np.array(json.dumps(self._meta())))
        return buffer.getvalue()

    @classmethod
    def from_npz_bytes(cls, data: bytes) -> Score:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            notes = archive["notes"]
            meta = json.loads(str(archive["meta"]))
        return cls(
            notes=notes.astype(NOTE_DTYPE),
            tracks=[TrackInfo(t["name"], int(t["program"]), bool(t["is_drum"])) for t in meta["tracks"]],
            tempo_bpm=float(meta["tempo_bpm"]),
            tempo_map=[(float(b), float(t)) for b, t in meta["tempo_map"]],
            time_signature=(int(meta["time_signature"][0]), int(meta["time_signature"][1])),
            key=meta["key"],
            title=meta["title"],
            composer=meta["composer"],
        )

    def to_midi_bytes(self, tpq: int = DEFAULT_TPQ) -> bytes:
        """A type-1 MIDI file: one MIDI track per Score track, channel 9 for drums."""
        from symusic.core import NoteTick, ScoreTick, TempoTick, TimeSignatureTick, TrackTick

        score = ScoreTick(tpq)
        for beat, bpm in self.tempo_map:
            score.tempos.append(TempoTick(int(round(beat * tpq)), float(bpm)))
        num, den = self.time_signature
        score.time_signatures.append(TimeSignatureTick(0, num, den))
        for index, info in enumerate(self.tracks):
            track = TrackTick(info.name, info.program, info.is_drum)
            for note in self.notes[self.notes["track"] == index]:
                start = int(round(note["start"] * tpq))
                duration = max(1, int(round(note["duration"] * tpq)))
                track.notes.append(NoteTick(start, duration, int(note["pitch"]), int(note["velocity"])))
            score.tracks.append(track)
        return bytes(score.dumps_midi())

    @classmethod
    def from_midi_bytes(cls, data: bytes, *, title: str | None = None, composer: str | None = None) -> Score:
        """Parse MIDI bytes with symusic. Raises ValueError on a file symusic cannot read."""
        from symusic.core import ScoreTick

        try:
            score = ScoreTick.from_midi(data)
        except Exception as exc:  # symusic raises RuntimeError/ValueError with C++ messages
            raise ValueError(f"not a readable MIDI file: {exc}") from exc
        tpq = float(score.ticks_per_quarter)
        tempo_map = [(t.time / tpq, float(t.qpm)) for t in score.tempos] or [(0.0, 120.0)]
        # One tempo per beat position, starting at 0 (MIDI files often omit the initial tempo event).
        merged: dict[float, float] = {}
        for beat, bpm in sorted(tempo_map):
            merged[beat] = bpm
        if 0.0 not in merged:
            merged[0.0] = tempo_map[0][1]
        tempo_map = sorted(merged.items())
        ts = (
            (score.time_signatures[0].numerator, score.time_signatures[0].denominator)
            if len(score.time_signatures)
            else (4, 4)
        )
        key = None
        if len(score.key_signatures):
            ks = score.key_signatures[0]
            key = _key_name(int(ks.key), int(ks.tonality))
        tracks: list[TrackInfo] = []
        rows: list[NoteRow] = []
        for track in score.tracks:
            if len(track.notes) == 0:
                continue
            index = len(tracks)
            tracks.append(TrackInfo(track.name or f"Track {index + 1}", int(track.program), bool(track.is_drum)))
            for note in track.notes:
                rows.append(
                    (
                        note.pitch,
                        note.velocity,
                        track.program,
                        track.is_drum,
                        index,
                        note.time / tpq,
                        note.duration / tpq,
                        0.0,
                        0.0,
                    )
                )
        notes = np.array(rows, dtype=NOTE_DTYPE) if rows else np.zeros(0, dtype=NOTE_DTYPE)
        result = cls(
            notes=notes,
            tracks=tracks,
            tempo_bpm=tempo_map[0][1],
            tempo_map=tempo_map,
            time_signature=ts,
            key=key,
            title=title,
            composer=composer,
            tempo_marked=bool(len(score.tempos)),
        )
        return with_seconds(result)


_MAJOR_BY_FIFTHS = ["C", "G", "D", "A", "E", "B", "F#", "C#", "F", "Bb", "Eb", "Ab", "Db", "Gb", "Cb"]
_MINOR_BY_FIFTHS = ["A", "E", "B", "F#", "C#", "G#", "D#", "A#", "D", "G", "C", "F", "Bb", "Eb", "Ab"]


def _key_name(sharps: int, tonality: int) -> str:
    """MIDI key signature (sharps −7..7, tonality 0 major / 1 minor) to a name like 'A minor'."""
    idx = sharps if sharps >= 0 else 7 - sharps
    names = _MINOR_BY_FIFTHS if tonality else _MAJOR_BY_FIFTHS
    return f"{names[idx]} {'minor' if tonality else 'major'}"


def make_notes(
    rows: list[tuple[int, float, float]], *, track: int = 0, program: int = 0, velocity: int = 90, is_drum: bool = False
) -> np.ndarray:
    """Notes from (pitch, start_beat, duration_beats) rows; seconds are filled in by `Score.with_seconds()`."""
    arr = np.zeros(len(rows), dtype=NOTE_DTYPE)
    for i, (pitch, start, duration) in enumerate(rows):
        arr[i] = (pitch, velocity, program, is_drum, track, start, duration, 0.0, 0.0)
    return arr


def with_seconds(score: Score) -> Score:
    """Fill `start_s`/`duration_s` from the beats and the tempo map (in place) and return the score."""
    score.notes["start_s"] = score.beats_to_seconds(score.notes["start"])
    score.notes["duration_s"] = (
        score.beats_to_seconds(score.notes["start"] + score.notes["duration"]) - score.notes["start_s"]
    )
    return score
