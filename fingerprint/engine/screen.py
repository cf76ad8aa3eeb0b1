"""Candidates from the indexes, verification against the stored features, and the fused verdict."""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ledgerline.music import align as align_mod

from . import chroma as chroma_mod
from . import identity
from . import melody as melody_mod
from .features import Features
from .index import IndexSpec, VersionedIndex

log = logging.getLogger(__name__)
LEVELS = ("audio", "chroma", "symbolic")  # one index each
# Levels a match may be reported at: "melody" is the beat-line match, searched in the symbolic index.
MATCH_LEVELS = (*LEVELS, "melody")


def level_spec(level: str, *, ivf_threshold: int = IndexSpec.ivf_threshold) -> IndexSpec:
    """How each level's index is built (the platform passes its settings' threshold)."""
    if level == "audio":  # Chromaprint sub-fingerprints: 32-bit codes, compared by bit errors
        return IndexSpec("audio", 32, "hamming", ivf_threshold=ivf_threshold)
    if level == "chroma":  # unit chroma windows: inner product = cosine
        return IndexSpec("chroma", chroma_mod.DIM, "ip", ivf_threshold=ivf_threshold)
    if level == "symbolic":  # hits must be equal up to rounding (Thresholds.symbolic_hit_distance): exact re-scoring
        return IndexSpec("symbolic", melody_mod.DIM, "l2", ivf_threshold=ivf_threshold, refine="Flat")
    raise ValueError(f"unknown level {level!r}")


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds; calibrated on the corpus by `benchmarks/nearcopy` (see benchmarks/README.md).

    audio_score is 1 - 2*BER; chroma_score the mean of the chroma-DTW similarity over the matched passage and of
    its agreeing windows' correlation; symbolic_score the share of exactly matching melody steps in the local
    alignment; melody_score the variant alignment's score over the shorter reduced line
    (`align.variant_similarity`), its length the beats aligned equal. A deployment's own values,
    fitted on its labelled variants by `manage.py calibrate_screening`, are merged over these.
    """

    audio_score: float = 0.55
    audio_min_items: int = 40  # ~5 s of identical audio
    chroma_score: float = 0.8
    chroma_hit: float = 0.65  # window correlation for a FAISS hit to count as a vote
    chroma_min_windows: int = 4  # consistent windows (4 windows of 8 beats, hop 2: 14 beats)
    # A passage of at least chroma_long_windows agreeing windows (one item, transposition and offset: 18 beats)
    # passes at chroma_long_score: a change of instruments lowers every column's correlation (reeds and strings
    # add their harmonics' pitch classes), not how many windows agree. Unrelated chorales reached at most 5 such
    # windows (best score 0.79), copies 6-65 (benchmarks/nearcopy/RESULTS-audio-only.md).
    chroma_long_windows: int = 6
    chroma_long_score: float = 0.65
    symbolic_score: float = 0.8
    symbolic_min_notes: int = 14
    symbolic_hit_distance: float = 0.02  # squared L2 between window vectors: equal up to rounding
    # Fitted on the real-variant benchmark's fit part at 1 % false flags (benchmarks/nearcopy/RESULTS-real-variants.md)
    melody_score: float = 0.71
    melody_min_beats: int = 24  # equal beats: six bars of common time
    melody_candidates: int = 20  # items whose reduced lines are aligned with the query's (`Screener._beats`)
    # Fusion may also flag when two levels each reach `support` x their threshold on the same item. Off by
    # default: at 0.85 and 0.95 it raised the false flags on unseen chorales to 5 % and 1.7 % with no recall gain.
    support: float | None = None

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Thresholds:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def score_of(self, level: str) -> float:
        return float(getattr(self, f"{level}_score"))

    def long_enough(self, level: str, length: int) -> bool:
        """Whether a match of `length` (items, windows, notes or beats, by level) is long enough to count."""
        minimum = {
            "audio": self.audio_min_items,
            "chroma": self.chroma_min_windows,
            "symbolic": self.symbolic_min_notes,
            "melody": self.melody_min_beats,
        }[level]
        return length >= minimum

    def passes(self, level: str, score: float, length: int) -> bool:
        return self.long_enough(level, length) and score >= self.required_score(level, length)

    def required_score(self, level: str, length: int) -> float:
        """The score a match of `length` must reach: the level's threshold, lower for long chroma matches."""
        if level == "chroma" and length >= self.chroma_long_windows:
            return min(self.chroma_score, self.chroma_long_score)
        return self.score_of(level)


THRESHOLDS_FILE = "screening-thresholds.json"  # a deployment's fitted thresholds, in its data folder


def deployed_thresholds(data_dir: Path) -> dict[str, Any]:
    """The thresholds `calibrate_screening` fitted for this deployment ({} when it has not been run); the
    platform merges them over its settings. A damaged file is reported and ignored, not half-applied."""
    path = Path(data_dir) / THRESHOLDS_FILE
    try:
        values = json.loads(path.read_text())["thresholds"]
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("%s cannot be read (%s): using the settings' thresholds", path, exc)
        return {}
    return values if isinstance(values, dict) else {}


@dataclass
class Match:
    key: int  # index key of the matched item
    level: str
    score: float
    query_start: float
    query_end: float
    match_start: float
    match_end: float
    transpose: int = 0
    tempo_ratio: float = 1.0
    passed: bool = False  # over this level's own threshold
    query_beats: tuple[float, float] | None = None
    match_beats: tuple[float, float] | None = None
    evidence: dict[str, Any] = field(default_factory=dict)  # level-specific detail (alignment path, votes)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("evidence")
        return data


@dataclass
class Verdict:
    verdict: str  # "clear" or "flag"
    matches: list[Match]  # the matches behind a flag (all levels of each flagged item), best first
    considered: list[Match]  # every verified candidate, for calibration and the report
    problems: list[str]


Loader = Callable[[int], Features | None]


class Screener:
    def __init__(
        self,
        *,
        audio: VersionedIndex,
        chroma: VersionedIndex,
        symbolic: VersionedIndex,
        load: Loader,
        thresholds: Thresholds,
        levels: tuple[str, ...] = LEVELS,
        allowed: Callable[[int], bool] | None = None,
    ) -> None:
        self.audio, self.chroma, self.symbolic = audio, chroma, symbolic
        self.load = load
        self.t = thresholds
        self.levels = levels
        self.allowed = allowed or (lambda key: True)

    # --- level 1 -----------------------------------------------------------------------------------------
    def _audio(self, query: Features) -> list[Match]:
        if query.raw_fp is None:
            return []
        codes = query.raw_fp.astype("<u4").view(np.uint8).reshape(-1, 4)
        hits = self.audio.search(codes, k=8)
        votes: dict[tuple[int, int], int] = defaultdict(int)
        close = -hits.scores <= 2  # at most 2 of 32 bits differ
        for q_pos, k_pos in zip(*np.nonzero(close), strict=True):
            key = int(hits.keys[q_pos, k_pos])
            if self.allowed(key):
                votes[(key, int(hits.positions[q_pos, k_pos]) - int(q_pos))] += 1
        best: dict[int, tuple[int, int]] = {}
        for (key, offset), count in votes.items():
            if count >= 3 and count > best.get(key, (0, 0))[1]:
                best[key] = (offset, count)
        matches = []
        for key, (offset, count) in sorted(best.items(), key=lambda kv: -kv[1][1])[:5]:
            item = self.load(key)
            if item is None or item.raw_fp is None:
                continue
            align = identity.best_alignment(query.raw_fp, item.raw_fp, offsets=np.arange(offset - 3, offset + 4))
            if align is None:
                continue
            q0, q1 = align.query_span_s()
            m0, m1 = align.match_span_s()
            matches.append(
                Match(
                    key,
                    "audio",
                    round(align.score, 4),
                    q0,
                    q1,
                    m0,
                    m1,
                    passed=self.t.passes("audio", align.score, align.overlap),
                    evidence={"ber": align.ber, "overlap": align.overlap, "votes": count},
                )
            )
        return matches

    # --- level 2 -----------------------------------------------------------------------------------------
    def _chroma(self, query: Features) -> list[Match]:
        if query.chroma is None:
            return []
        groups: dict[tuple[int, int, str, int], list[tuple[int, float]]] = defaultdict(list)
        grids = {"x1": query.chroma, **query.grids}
        # Every grid's rotated windows in one search: one pass of the coarse quantizer's matrix product.
        parts = [(name, *chroma_mod.rotated_windows(bc)) for name, bc in grids.items()]
        parts = [part for part in parts if len(part[1])]
        if not parts:
            return []
        hits = self.chroma.search(np.concatenate([part[1] for part in parts]), k=8)
        grid_of = np.concatenate([np.full(len(part[1]), i) for i, part in enumerate(parts)])
        first = np.concatenate([part[2] for part in parts])
        transpose = np.concatenate([part[3] for part in parts])
        for row, col in zip(*np.nonzero(hits.scores >= self.t.chroma_hit), strict=True):
            key = int(hits.keys[row, col])
            if not self.allowed(key):
                continue
            offset = int(hits.positions[row, col]) - int(first[row])  # beats
            groups[(key, int(transpose[row]), parts[grid_of[row]][0], offset)].append(
                (int(first[row]), float(hits.scores[row, col]))
            )
        ranked = []
        for group_key, hits_list in groups.items():
            windows = {start: sim for start, sim in hits_list}
            if len(windows) >= 2:
                ranked.append((sum(windows.values()), group_key, windows))
        ranked.sort(key=lambda r: -r[0])
        best_per_key: dict[int, Match] = {}
        for _total, (key, rotation, grid_name, offset), windows in ranked[:20]:
            if key in best_per_key:
                continue
            item = self.load(key)
            if item is None or item.chroma is None:
                continue
            bc = grids[grid_name]
            q0 = min(windows)
            q1 = min(max(windows) + chroma_mod.WINDOW_BEATS, bc.beats)
            m0 = max(0, q0 + offset)
            m1 = min(item.chroma.beats, m0 + (q1 - q0))
            if m1 - m0 < chroma_mod.WINDOW_BEATS:
                continue
            q_seg = np.roll(bc.chroma[:, q0:q1], -rotation, axis=0)
            dtw = chroma_mod.dtw_similarity(q_seg, item.chroma.chroma[:, m0:m1])
            qs, qe = float(bc.beat_times[q0]), float(bc.beat_times[min(q1, len(bc.beat_times) - 1)])
            ms, me = (
                float(item.chroma.beat_times[m0]),
                float(item.chroma.beat_times[min(m1, len(item.chroma.beat_times) - 1)]),
            )
            tempo_ratio = (me - ms) / (qe - qs) if qe > qs else 1.0
            # Two views of one passage: the chroma-DTW of its columns, and how well its 8-beat windows correlate.
            # Unrelated chorales reached DTW 0.82 over 4 windows correlating 0.69; quotes correlate above 0.9.
            correlation = float(np.mean(list(windows.values())))
            score = round((float(dtw.similarity) + correlation) / 2, 4)
            best_per_key[key] = Match(
                key,
                "chroma",
                score,
                qs,
                qe,
                ms,
                me,
                transpose=chroma_mod.signed_semitones(rotation),
                tempo_ratio=round(tempo_ratio, 3),
                passed=self.t.passes("chroma", score, len(windows)),
                match_beats=(float(m0), float(m1)),
                evidence={
                    "windows": len(windows),
                    "mean_window_correlation": correlation,
                    "dtw_similarity": float(dtw.similarity),
                    "grid": grid_name,
                    "rotation": rotation,
                    "dtw_path": dtw.path.tolist(),
                    "query_beat_range": [q0, q1],
                    "match_beat_range": [m0, m1],
                },
            )
        return list(best_per_key.values())

    # --- level 3 -----------------------------------------------------------------------------------------
    def _symbolic(self, query: Features) -> list[Match]:
        if query.melody is None:
            return []
        return self._notes(query.melody) + self._beats(query.melody)

    def _notes(self, mel: melody_mod.Melody) -> list[Match]:
        if len(mel) < melody_mod.WINDOW_NOTES:
            return []
        vectors, starts = melody_mod.windows(mel)
        hits = self.symbolic.search(vectors, k=16)
        groups: dict[tuple[int, int], set[int]] = defaultdict(set)
        near = (-hits.scores <= self.t.symbolic_hit_distance) & (hits.positions < melody_mod.BEAT_POSITION)
        for row, col in zip(*np.nonzero(near), strict=True):
            key = int(hits.keys[row, col])
            if self.allowed(key):
                groups[(key, int(hits.positions[row, col]) - int(starts[row]))].add(int(starts[row]))
        ranked = sorted(((len(v), k, v) for k, v in groups.items() if len(v) >= 2), key=lambda r: -r[0])
        best_per_key: dict[int, Match] = {}
        for _count, (key, offset), q_starts in ranked[:20]:
            if key in best_per_key:
                continue
            item = self.load(key)
            if item is None or item.melody is None:
                continue
            pad = 16
            qa, qb = max(0, min(q_starts) - pad), min(len(mel), max(q_starts) + melody_mod.WINDOW_NOTES + pad)
            ma, mb = max(0, qa + offset), min(len(item.melody), qb + offset)
            q_part = _slice(mel, qa, qb)
            m_part = _slice(item.melody, ma, mb)
            la = melody_mod.local_alignment(q_part, m_part)
            if la.matched == 0:
                continue
            qi0, qi1 = qa + la.query_span[0], qa + la.query_span[1] - 1
            mi0, mi1 = ma + la.match_span[0], ma + la.match_span[1] - 1
            qs, qe = float(mel.onsets_s[qi0]), float(mel.onsets_s[qi1] + _ioi_s(mel, qi1))
            ms, me = float(item.melody.onsets_s[mi0]), float(item.melody.onsets_s[mi1] + _ioi_s(item.melody, mi1))
            transpose = int(mel.pitches[qi0]) - int(item.melody.pitches[mi0])
            tempo_ratio = (me - ms) / (qe - qs) if qe > qs else 1.0
            best_per_key[key] = Match(
                key,
                "symbolic",
                round(la.score, 4),
                qs,
                qe,
                ms,
                me,
                transpose=transpose,
                tempo_ratio=round(tempo_ratio, 3),
                passed=self.t.passes("symbolic", la.score, la.matched),
                query_beats=(float(mel.onsets[qi0]), float(mel.onsets[qi1] + mel.iois[qi1])),
                match_beats=(float(item.melody.onsets[mi0]), float(item.melody.onsets[mi1] + item.melody.iois[mi1])),
                evidence={"matched_notes": la.matched, "windows": len(q_starts), "path": (la.path + [qa, ma]).tolist()},
            )
        return list(best_per_key.values())

    def _beats(self, mel: melody_mod.Melody) -> list[Match]:
        """Beat-line matches, in two steps.

        1. Retrieval: the windows of the query's reduced lines on every grid (`melody.QUERY_GRIDS`) are searched
           in the symbolic index; each item found among a window's nearest beat windows gains that window's
           closeness (exp(-squared distance / BEAT_SUPPORT_SCALE)), whatever the distance: variants are rarely
           equal window for window. The `melody_candidates` items with the most support go on, not those over a
           distance.
        2. Verification: each candidate's reduced line is aligned with the query's on every grid
           (`align.variant_similarity`: near pitches, octaves and gaps tolerated, best transposition); the
           score is the share of the shorter line the alignment holds, the length the beats it aligned equal.
        """
        lines = [melody_mod.reduced_line(mel, step=step, phase=phase) for step, phase in melody_mod.QUERY_GRIDS]
        vectors = [melody_mod.beat_windows(line[0])[0] for line in lines]
        if not any(len(v) for v in vectors):
            return []
        hits = self.symbolic.search(np.concatenate(vectors), k=32)
        beat = (hits.positions >= melody_mod.BEAT_POSITION) & (hits.keys >= 0)
        closeness = np.where(beat, np.exp(-np.maximum(-hits.scores, 0.0) / melody_mod.BEAT_SUPPORT_SCALE), 0.0)
        support: dict[int, float] = defaultdict(float)
        for row in range(len(hits.keys)):
            best: dict[int, float] = {}
            for col in np.nonzero(beat[row])[0]:
                key = int(hits.keys[row, col])
                best[key] = max(best.get(key, 0.0), float(closeness[row, col]))
            for key, value in best.items():
                support[key] += value
        candidates = [key for key in sorted(support, key=lambda k: -support[k]) if self.allowed(key)]
        matches = []
        for key in candidates[: self.t.melody_candidates]:
            item = self.load(key)
            if item is None or item.melody is None:
                continue
            m_line, m_grid = melody_mod.reduced_line(item.melody)
            grid, found = max(
                ((g, align_mod.variant_similarity(line[0], m_line)) for g, line in enumerate(lines) if len(line[0])),
                key=lambda gf: (gf[1].similarity, gf[1].equal),
            )
            if not found.segments:
                continue
            top = found.segments[0]
            q_grid = lines[grid][1]
            q_beats = q_grid[[top.query_span[0], top.query_span[1] - 1]] + [0.0, melody_mod.QUERY_GRIDS[grid][0]]
            m_beats = m_grid[[top.match_span[0], top.match_span[1] - 1]] + [0.0, 1.0]
            qs, qe = melody_mod.beat_seconds(mel, q_beats)
            ms, me = melody_mod.beat_seconds(item.melody, m_beats)
            matches.append(
                Match(
                    key,
                    "melody",
                    found.similarity,
                    float(qs),
                    float(qe),
                    float(ms),
                    float(me),
                    transpose=found.transpose,
                    tempo_ratio=round(float((me - ms) / (qe - qs)) if qe > qs else 1.0, 3),
                    passed=self.t.passes("melody", found.similarity, found.equal),
                    query_beats=(float(q_beats[0]), float(q_beats[1])),
                    match_beats=(float(m_beats[0]), float(m_beats[1])),
                    evidence={
                        "matched_beats": found.equal,
                        "support": round(support[key], 3),
                        "grid": list(melody_mod.QUERY_GRIDS[grid]),
                        "segments": [[*seg.query_span, *seg.match_span, seg.equal] for seg in found.segments],
                    },
                )
            )
        return matches

    # --- fusion ------------------------------------------------------------------------------------------
    def screen(self, query: Features) -> Verdict:
        considered: list[Match] = []
        if "audio" in self.levels:
            considered += self._audio(query)
        if "chroma" in self.levels:
            considered += self._chroma(query)
        if "symbolic" in self.levels:
            considered += self._symbolic(query)
        by_key: dict[int, list[Match]] = defaultdict(list)
        for match in considered:
            by_key[match.key].append(match)
        flagged: list[Match] = []
        for matches in by_key.values():
            if any(m.passed for m in matches) or self._supported(matches):
                flagged += sorted(matches, key=lambda m: -m.score)
        flagged.sort(key=lambda m: (-int(m.passed), -m.score))
        return Verdict("flag" if flagged else "clear", flagged, considered, list(query.problems))

    def _supported(self, matches: list[Match]) -> bool:
        """Two levels each close to their threshold agree on the same item."""
        if self.t.support is None:
            return False
        near = {m.level for m in matches if m.score >= self.t.support * self.t.score_of(m.level)}
        return len(near) >= 2


_LENGTH = {"audio": "overlap", "chroma": "windows", "symbolic": "matched_notes", "melody": "matched_beats"}


def match_length(match: Match) -> int:
    """What `Thresholds.long_enough` compares: sub-fingerprints, windows, notes or beats matched."""
    return int(match.evidence[_LENGTH[match.level]])


def _slice(mel: melody_mod.Melody, a: int, b: int) -> melody_mod.Melody:
    return melody_mod.Melody(mel.pitches[a:b], mel.onsets[a:b], mel.onsets_s[a:b], mel.iois[a:b])


def _ioi_s(mel: melody_mod.Melody, index: int) -> float:
    if index + 1 < len(mel):
        return float(mel.onsets_s[index + 1] - mel.onsets_s[index])
    beats = mel.onsets[index] - mel.onsets[max(index - 1, 0)]
    seconds = mel.onsets_s[index] - mel.onsets_s[max(index - 1, 0)]
    return float(mel.iois[index] * (seconds / beats if beats > 0 else 0.5))


def screener_of(
    items: dict[int, Features],
    root: Path,
    *,
    thresholds: Thresholds | None = None,
    levels: tuple[str, ...] = LEVELS,
) -> Screener:
    """A screener over `items` (index key -> features) alone, its indexes built under `root` (tests, benchmarks)."""
    indexes = {level: VersionedIndex(root, level_spec(level)) for level in LEVELS}
    for level, index in indexes.items():
        index.rebuild(*level_vectors(items, level))
    return Screener(
        audio=indexes["audio"],
        chroma=indexes["chroma"],
        symbolic=indexes["symbolic"],
        load=items.get,
        thresholds=thresholds or Thresholds(),
        levels=levels,
    )


def index_vectors(features: Features) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """What an item contributes to each index: level -> (vectors, window positions)."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    if features.raw_fp is not None:
        out["audio"] = (features.raw_fp.astype("<u4").view(np.uint8).reshape(-1, 4), np.arange(len(features.raw_fp)))
    if features.chroma is not None:
        out["chroma"] = chroma_mod.windows(features.chroma)
    if features.melody is not None:
        notes, beats = (
            melody_mod.windows(features.melody),
            melody_mod.beat_windows(melody_mod.reduced_line(features.melody)[0]),
        )
        out["symbolic"] = (np.concatenate([notes[0], beats[0]]), np.concatenate([notes[1], beats[1]]))
    return out


def level_vectors(items: dict[int, Features], level: str) -> tuple[np.ndarray, np.ndarray]:
    """What `items` (index key -> features) put into one level's index: vectors, and (key, position) rows."""
    vectors, keys = [], []
    for key, features in items.items():
        found = index_vectors(features).get(level)
        if found is not None:
            vectors.append(found[0])
            keys.append(np.stack([np.full(len(found[1]), key), found[1]], 1))
    if not vectors:
        spec = level_spec(level)
        return spec.as_input(np.zeros((0, spec.dim))), np.zeros((0, 2), np.int64)
    return np.concatenate(vectors), np.concatenate(keys)
