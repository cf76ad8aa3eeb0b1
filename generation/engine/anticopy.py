"""The anti-copy guard: two checks against copying the training melodies, one note by note, one beat by beat.

1. Note n-grams. The guard holds every run of `n` successive melody intervals seen in training, as 64-bit
   hashes. During sampling, a candidate pitch is refused when, appended to the melody so far, it would make the
   last `n` intervals equal to one of those runs. Intervals rather than pitches so that a transposed copy is
   caught too.
2. Beat lines. The n-grams miss a tune that keeps a training melody's notes on the beat and changes what lies
   between them, or changes a note now and then: the screening's melody level finds such variants by aligning
   reduced beat lines with substitutions and gaps tolerated (`ledgerline.music.align.variant_similarity`). So
   the guard also holds the training melodies' reduced lines, and at every bar line the sampler asks
   `copies_line` whether the melody so far aligns with one of them at `line_score` or more over `line_beats`
   equal beats or more (below the screening's own 0.71 and 24 beats, so that what the guard lets through is not
   at the edge of a flag); if so the bar is drawn again (`sample`, up to `BAR_REDRAWS` times).
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ledgerline.music.events import Score

from .tokens import encode_melody, interval_sequence, melody_notes, melody_pitches, steps_per_bar

_MAGIC = b"LLNG1"  # n, then the hashes
_MAGIC_LINES = b"LLNG2"  # n, the hash count, the hashes, then the reduced lines
#: The beat-line check (`NgramGuard.copies_line`): a melody so far whose reduced line aligns with a training
#: melody's at this similarity or more, over at least LINE_BEATS equal beats, is too close. The screening's
#: melody level flags at 0.71 and 24 beats (fingerprint.engine.screen.Thresholds); a test keeps these below it.
LINE_SCORE = 0.65
LINE_BEATS = 20


def _hash_intervals(intervals: Sequence[int] | np.ndarray) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process, so it cannot be stored)."""
    data = np.clip(np.asarray(intervals, dtype=np.int64), -127, 127).astype(np.int8).tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class NgramGuard:
    """Set of hashed interval n-grams; `n` intervals means n + 1 notes."""

    def __init__(self, n: int = 10, *, line_score: float = LINE_SCORE, line_beats: int = LINE_BEATS) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        if not 0.0 < line_score <= 1.0 or line_beats < 1:
            raise ValueError("line_score must be in (0, 1] and line_beats >= 1")
        self.n = int(n)
        self.hashes: set[int] = set()
        self.lines: list[np.ndarray] = []  # the training melodies' reduced beat lines (MIDI pitches)
        self.line_score, self.line_beats = float(line_score), int(line_beats)
        self.interventions = 0  # how many sampling steps the guard changed; reset by the caller per piece

    # --- building ------------------------------------------------------------------------------------
    def add_pitches(self, pitches: Sequence[int] | np.ndarray) -> None:
        """Add every interval n-gram of one melody (pitch sequence [time])."""
        self.add_intervals(interval_sequence(pitches))

    def add_intervals(self, intervals: Sequence[int] | np.ndarray) -> None:
        arr = np.asarray(intervals, dtype=np.int64)
        for start in range(len(arr) - self.n + 1):
            self.hashes.add(_hash_intervals(arr[start : start + self.n]))

    @classmethod
    def from_melodies(cls, melodies: Iterable[Sequence[int]], n: int = 10) -> NgramGuard:
        guard = cls(n)
        for pitches in melodies:
            guard.add_pitches(pitches)
        return guard

    def add_line(self, onsets: np.ndarray, pitches: np.ndarray, end: float) -> None:
        """Add one training melody's reduced beat line: notes at `onsets` (quarter-note beats) up to `end`."""
        from ledgerline.music.align import beat_line, merge_held

        line = merge_held(*beat_line(onsets, pitches, end))[0]
        if len(line) >= self.line_beats:  # a shorter line cannot hold line_beats equal beats
            self.lines.append(line.astype(np.int64))

    @classmethod
    def from_scores(cls, scores: Iterable[Score], n: int = 10, *, lines: bool = True) -> NgramGuard:
        """Both checks from the training pieces' melodies (`tokens.encode_melody`); `lines=False` builds the note
        n-grams alone (the guard of earlier models)."""
        guard = cls(n)
        for score in scores:
            tokens = encode_melody(score)
            guard.add_pitches(melody_pitches(tokens))
            if lines:
                guard.add_line(*melody_notes(tokens, steps_per_bar(score.time_signature)))
        return guard

    def __len__(self) -> int:
        return len(self.hashes)

    # --- checking ------------------------------------------------------------------------------------
    def contains(self, intervals: Sequence[int] | np.ndarray) -> bool:
        """Whether exactly these n intervals occur in training."""
        return len(intervals) == self.n and _hash_intervals(intervals) in self.hashes

    def would_copy(self, recent_pitches: Sequence[int], candidate_pitch: int) -> bool:
        """True when appending `candidate_pitch` makes the last n intervals a training n-gram."""
        if len(recent_pitches) < self.n:
            return False
        window = [*recent_pitches[-self.n :], int(candidate_pitch)]
        return _hash_intervals(np.diff(np.asarray(window, dtype=np.int64))) in self.hashes

    def blocked(self, recent_pitches: Sequence[int], candidates: Iterable[int] = range(128)) -> list[int]:
        """The candidate pitches that would copy; shares the prefix work across the candidates."""
        if len(recent_pitches) < self.n or not self.hashes:
            return []
        prefix = np.diff(np.asarray(recent_pitches[-self.n :], dtype=np.int64))
        last = int(recent_pitches[-1])
        buffer = np.empty(self.n, dtype=np.int64)
        buffer[:-1] = prefix
        result: list[int] = []
        for pitch in candidates:
            buffer[-1] = int(pitch) - last
            if _hash_intervals(buffer) in self.hashes:
                result.append(int(pitch))
        return result

    def copied_ngrams(self, pitches: Sequence[int]) -> int:
        """How many interval n-grams of a melody occur in training (0 for a clean melody)."""
        intervals = interval_sequence(pitches)
        return sum(self.contains(intervals[i : i + self.n]) for i in range(len(intervals) - self.n + 1))

    def copies_line(self, onsets: np.ndarray, pitches: np.ndarray, end: float) -> bool:
        """Whether a melody (notes at `onsets` in beats, up to `end`) aligns with a training melody's reduced line
        at `line_score` or more over `line_beats` equal beats or more: the screening's melody-level test, with
        the guard's lower bar. False when the guard holds no lines (a guard saved before they existed)."""
        if not self.lines or len(onsets) < self.line_beats:
            return False
        from ledgerline.music.align import beat_line, merge_held, variant_similarity

        line = merge_held(*beat_line(onsets, pitches, end))[0]
        if len(line) < self.line_beats:
            return False
        for training in self.lines:
            found = variant_similarity(line, training)
            if found.similarity >= self.line_score and found.equal >= self.line_beats:
                return True
        return False

    def copies(self, tokens: Sequence[int], bar_steps: int = 16) -> bool:
        """Whether a finished melody (tokens) fails either check: a training n-gram, or a training beat line."""
        return self.copied_ngrams(melody_pitches(tokens)) > 0 or self.copies_line(*melody_notes(tokens, bar_steps))

    # --- storage -------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Magic, n as 4 bytes, the hash count as 8, the sorted hashes as little-endian uint64 (sorted: same set,
        same bytes), then the line count as 4 bytes and each line as its length (4 bytes) and int8 pitches."""
        hashes = np.array(sorted(self.hashes), dtype="<u8")
        buffer = io.BytesIO()
        buffer.write(_MAGIC_LINES)
        buffer.write(int(self.n).to_bytes(4, "little"))
        buffer.write(len(hashes).to_bytes(8, "little"))
        buffer.write(hashes.tobytes())
        buffer.write(len(self.lines).to_bytes(4, "little"))
        for line in self.lines:
            buffer.write(len(line).to_bytes(4, "little"))
            buffer.write(np.clip(line, 0, 127).astype(np.int8).tobytes())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> NgramGuard:
        """Either format: LLNG1 (n-grams only: its beat-line check is off) or LLNG2."""
        head = len(_MAGIC) + 4
        if data.startswith(_MAGIC) and not (len(data) - head) % 8:
            guard = cls(int.from_bytes(data[len(_MAGIC) : head], "little"))
            guard.hashes = set(np.frombuffer(data[head:], dtype="<u8").tolist())
            return guard
        if not data.startswith(_MAGIC_LINES) or len(data) < head + 8:
            raise ValueError("not an n-gram guard file")
        try:
            guard = cls(int.from_bytes(data[len(_MAGIC_LINES) : head], "little"))
            count = int.from_bytes(data[head : head + 8], "little")
            at = head + 8 + 8 * count
            guard.hashes = set(np.frombuffer(data[head + 8 : at], dtype="<u8").tolist())
            for _ in range(int.from_bytes(data[at : at + 4], "little")):
                size = int.from_bytes(data[at + 4 : at + 8], "little")
                line = np.frombuffer(data[at + 8 : at + 8 + size], dtype=np.int8).astype(np.int64)
                if len(line) != size:
                    raise ValueError("truncated")
                guard.lines.append(line)
                at += 4 + size
        except ValueError as exc:
            raise ValueError("not an n-gram guard file") from exc
        if at + 4 != len(data):
            raise ValueError("not an n-gram guard file")
        return guard

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write atomically so a reader never sees half a file."""
        target = Path(path)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> NgramGuard:
        return cls.from_bytes(Path(path).read_bytes())
