"""A transposition-invariant n-gram guard against copying training melodies note for note.

The guard holds every run of `n` successive melody intervals seen in training, as 64-bit hashes. During
sampling, a candidate pitch is refused when, appended to the melody so far, it would make the last `n`
intervals equal to one of those runs. Intervals rather than pitches so that a transposed copy is caught too.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from .tokens import interval_sequence

_MAGIC = b"LLNG1"


def _hash_intervals(intervals: Sequence[int] | np.ndarray) -> int:
    """A stable 64-bit hash (Python's hash() is salted per process, so it cannot be stored)."""
    data = np.clip(np.asarray(intervals, dtype=np.int64), -127, 127).astype(np.int8).tobytes()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little")


class NgramGuard:
    """Set of hashed interval n-grams; `n` intervals means n + 1 notes."""

    def __init__(self, n: int = 10) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = int(n)
        self.hashes: set[int] = set()
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

    # --- storage -------------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """Magic, n as 4 bytes, then the sorted hashes as little-endian uint64 (sorted: same set, same bytes)."""
        hashes = np.array(sorted(self.hashes), dtype="<u8")
        buffer = io.BytesIO()
        buffer.write(_MAGIC)
        buffer.write(int(self.n).to_bytes(4, "little"))
        buffer.write(hashes.tobytes())
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> NgramGuard:
        if not data.startswith(_MAGIC) or (len(data) - len(_MAGIC) - 4) % 8:
            raise ValueError("not an n-gram guard file")
        n = int.from_bytes(data[len(_MAGIC) : len(_MAGIC) + 4], "little")
        guard = cls(n)
        guard.hashes = set(np.frombuffer(data[len(_MAGIC) + 4 :], dtype="<u8").tolist())
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
