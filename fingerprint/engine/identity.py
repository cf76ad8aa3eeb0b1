"""Level 1, audio identity: Chromaprint sub-fingerprints and their bit-error rate over the best alignment.

Chromaprint runs in-process through pyacoustid's ctypes binding (`chromaprint.Fingerprinter`): fpcalc exits 3
at the end of short files (../shared/DEPENDENCIES.md) and costs a process per item. Each 32-bit
sub-fingerprint describes ~0.124 s of audio (11025 Hz, hop 4096/3 samples).
"""

from __future__ import annotations

from dataclasses import dataclass

import chromaprint
import numpy as np

ITEM_SECONDS = 4096 / 3 / 11025  # seconds of audio per sub-fingerprint (Chromaprint's default algorithm)
MIN_ITEMS = 16  # fewer sub-fingerprints than this (~2 s) carry too little evidence to compare


class TooShort(ValueError):
    """The audio is too short (or too quiet) for a fingerprint."""


def raw_fingerprint(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Chromaprint sub-fingerprints of mono float audio in [-1, 1]: uint32 array [items]."""
    if audio.size == 0 or float(np.max(np.abs(audio))) < 1e-4:
        raise TooShort("the audio is silent: nothing to fingerprint")
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    fingerprinter = chromaprint.Fingerprinter()
    fingerprinter.start(int(sample_rate), 1)
    fingerprinter.feed(pcm.tobytes())
    values, _algorithm = chromaprint.decode_fingerprint(fingerprinter.finish())
    raw = np.array(values, dtype=np.int64).astype(np.uint32)
    if raw.size < MIN_ITEMS:
        raise TooShort(f"the audio is too short to fingerprint ({audio.size / sample_rate:.1f} s; at least 3 s needed)")
    return raw


@dataclass(frozen=True)
class Alignment:
    offset: int  # reference item index aligned with query item 0 (negative: query starts before reference)
    ber: float  # bit-error rate over the overlap, 0 identical .. ~0.5 unrelated
    overlap: int  # sub-fingerprints compared

    @property
    def score(self) -> float:
        """0..1: 1 identical, 0 at chance (BER 0.5)."""
        return float(max(0.0, 1.0 - 2.0 * self.ber))

    def query_span_s(self) -> tuple[float, float]:
        start = max(0, -self.offset)
        return start * ITEM_SECONDS, (start + self.overlap) * ITEM_SECONDS

    def match_span_s(self) -> tuple[float, float]:
        start = max(0, self.offset)
        return start * ITEM_SECONDS, (start + self.overlap) * ITEM_SECONDS


def best_alignment(
    query: np.ndarray, reference: np.ndarray, *, offsets: np.ndarray | None = None, min_overlap: int = MIN_ITEMS
) -> Alignment | None:
    """The offset with the lowest bit-error rate (every offset, or only `offsets` when given).

    Handles a query that is an excerpt of the reference (positive offsets) and the reverse.
    """
    q = query.astype(np.uint32)
    r = reference.astype(np.uint32)
    if offsets is None:
        offsets = np.arange(-(len(q) - min_overlap), len(r) - min_overlap + 1)
    best: Alignment | None = None
    for offset in np.unique(offsets):
        q_start = max(0, -int(offset))
        r_start = max(0, int(offset))
        overlap = min(len(q) - q_start, len(r) - r_start)
        if overlap < min_overlap:
            continue
        errors = int(np.bitwise_count(q[q_start : q_start + overlap] ^ r[r_start : r_start + overlap]).sum())
        ber = errors / (32.0 * overlap)
        if best is None or ber < best.ber:
            best = Alignment(int(offset), ber, overlap)
    return best


class HashIndex:
    """Exact sub-fingerprint lookup (sorted arrays): candidates for `best_alignment`.

    Near-exact copies keep a good share of their 32-bit values bit-identical at a consistent offset, so votes
    for (item, offset) find them without comparing against every item.
    """

    def __init__(self, values: np.ndarray, items: np.ndarray, positions: np.ndarray) -> None:
        order = np.argsort(values, kind="stable")
        self.values = values[order].astype(np.uint32)
        self.items = items[order].astype(np.int64)
        self.positions = positions[order].astype(np.int32)

    @classmethod
    def build(cls, fingerprints: dict[int, np.ndarray]) -> HashIndex:
        if not fingerprints:
            empty = np.zeros(0, dtype=np.int64)
            return cls(empty.astype(np.uint32), empty, empty.astype(np.int32))
        values = np.concatenate([fp.astype(np.uint32) for fp in fingerprints.values()])
        items = np.concatenate([np.full(len(fp), key, dtype=np.int64) for key, fp in fingerprints.items()])
        positions = np.concatenate([np.arange(len(fp), dtype=np.int32) for fp in fingerprints.values()])
        return cls(values, items, positions)

    def __len__(self) -> int:
        return len(self.values)

    def candidates(self, query: np.ndarray, *, top: int = 5, min_votes: int = 3) -> list[tuple[int, int, int]]:
        """[(item, offset, votes)] with the most exactly-equal sub-fingerprints at one offset."""
        if len(self.values) == 0:
            return []
        left = np.searchsorted(self.values, query, side="left")
        right = np.searchsorted(self.values, query, side="right")
        hit_items: list[np.ndarray] = []
        hit_offsets: list[np.ndarray] = []
        for q_pos, (lo, hi) in enumerate(zip(left, right, strict=True)):
            if hi > lo and hi - lo < 200:  # a value shared by hundreds of items (silence) proves nothing
                hit_items.append(self.items[lo:hi])
                hit_offsets.append(self.positions[lo:hi] - q_pos)
        if not hit_items:
            return []
        pairs = np.stack([np.concatenate(hit_items), np.concatenate(hit_offsets)], axis=1)
        unique, votes = np.unique(pairs, axis=0, return_counts=True)
        order = np.argsort(-votes)[: top * 4]
        results: list[tuple[int, int, int]] = []
        seen: set[int] = set()
        for index in order:
            item, offset = int(unique[index][0]), int(unique[index][1])
            if votes[index] < min_votes or item in seen:
                continue
            seen.add(item)
            results.append((item, offset, int(votes[index])))
            if len(results) == top:
                break
        return results
