"""Fingerprints and the live screening indexes: the features of corpus items and published tracks, stored once
with their index vectors, the per-level `VersionedIndex` caches, incremental adds and rebuilds, and the
`fingerprint` job that does both (see docs/ARCHITECTURE.md, "Screening indexes")."""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db.models import Q

from ledgerline.catalogue.models import CorpusItem, Track
from ledgerline.jobs.models import Job, JobKind
from ledgerline.jobs.progress import caused_by
from ledgerline.jobs.services import job_start
from ledgerline.music.audio import CorruptFile, read_audio_bytes
from ledgerline.music.events import Score
from ledgerline.storage import read_blob, store_bytes

from .engine import screen as screen_mod
from .engine.features import Features, score_features
from .engine.index import IndexCorrupt, VersionedIndex
from .index_key import IndexKey
from .models import Fingerprint
from .transcription import recording_features, recording_transcribe

logger = logging.getLogger(__name__)


def _level_spec(level: str):
    """The level's index specification with this deployment's Flat/approximate threshold."""
    return screen_mod.level_spec(level, ivf_threshold=settings.LEDGERLINE_INDEX_IVF_THRESHOLD)


def features_of(*, audio: np.ndarray, score: Score | None, query: bool) -> Features:
    if score is None:  # a recording: its symbolic level is its transcribed melody line
        return recording_features(audio=audio, query=query)
    # A piece with a score was rendered from it by FluidSynth at standard pitch: no tuning to estimate.
    return score_features(audio, score, query=query)


def stored_features(subject: CorpusItem | Track, *, query: bool) -> tuple[Features, Score | None]:
    """The features of a corpus item's or a track's stored mix (with its score, when it has one)."""
    if not subject.events_path:  # a recording: its transcription is kept as its notes
        return recording_transcribe(subject, query=query), None
    score = Score.from_npz_bytes(read_blob(subject.events_path)) if subject.events_path else None
    audio = read_audio_bytes(read_blob(subject.audio_path), suffix=Path(subject.audio_path).suffix)
    return features_of(audio=audio, score=score, query=query), score


#: What one item puts into each index: level -> (vectors [windows, dim], window positions [windows]).
LevelVectors = dict[str, tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Fingerprinted:
    """A stored fingerprint with its index vectors, computed once: counted when stored, then added to the indexes."""

    fingerprint: Fingerprint
    vectors: LevelVectors

    @classmethod
    def from_store(cls, fingerprint: Fingerprint) -> Fingerprinted:
        """For a fingerprint stored earlier: its vectors from its stored features."""
        return cls(fingerprint, screen_mod.index_vectors(_features_at(fingerprint.features_path)))


def _fingerprint_store(
    *, features: Features, corpus_item: CorpusItem | None = None, track: Track | None = None
) -> Fingerprinted:
    vectors = screen_mod.index_vectors(features)
    blob = store_bytes(features.to_npz_bytes(), suffix=".npz")
    values = {
        "features_path": blob.relpath,
        "duration_s": features.duration_s,
        "sub_fingerprints": len(vectors.get("audio", ([], []))[1]),
        "chroma_windows": len(vectors.get("chroma", ([], []))[1]),
        "melody_windows": len(vectors.get("symbolic", ([], []))[1]),
        "problems": features.problems,
        "indexed": False,
        "error": "",
    }
    lookup = {"corpus_item": corpus_item} if corpus_item is not None else {"track": track}
    fingerprint, _ = Fingerprint.objects.update_or_create(**lookup, defaults=values)
    return Fingerprinted(fingerprint, vectors)


def corpus_item_fingerprint(item: CorpusItem) -> Fingerprinted:
    features, _ = stored_features(item, query=False)
    return _fingerprint_store(features=features, corpus_item=item)


def track_fingerprint(track: Track) -> Fingerprinted:
    features, _ = stored_features(track, query=False)
    return _fingerprint_store(features=features, track=track)


@functools.lru_cache(maxsize=4096)
def _features_at(relpath: str) -> Features:
    return Features.from_npz_bytes(read_blob(relpath))


def load_features(key: int) -> Features | None:
    """The stored features of the item with index key `key` (None when it has none)."""
    field = IndexKey(key).subject_filter()
    relpath = Fingerprint.objects.filter(**field).values_list("features_path", flat=True).first()
    return _features_at(relpath) if relpath else None


_indexes: dict[str, VersionedIndex] = {}


_indexes_lock = threading.Lock()


def index_for(level: str) -> VersionedIndex:
    root = Path(settings.LEDGERLINE_INDEX_DIR)
    with _indexes_lock:
        current = _indexes.get(level)
        if current is None or current.folder.parent != root:
            current = _indexes[level] = VersionedIndex(root, _level_spec(level))
        return current


def _collect(items: list[Fingerprinted]) -> dict[str, tuple[list[np.ndarray], list[np.ndarray]]]:
    """Per level: the items' vectors, and their (index key, window position) rows."""
    collected: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {level: ([], []) for level in screen_mod.LEVELS}
    for item in items:
        for level, (vectors, positions) in item.vectors.items():
            collected[level][0].append(vectors)
            collected[level][1].append(np.stack([np.full(len(positions), item.fingerprint.key), positions], axis=1))
    return collected


def _concat(level: str, parts: tuple[list[np.ndarray], list[np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    spec = _level_spec(level)
    width = spec.dim // 8 if spec.binary else spec.dim
    vectors = np.concatenate(parts[0]) if parts[0] else np.zeros((0, width))
    keys = np.concatenate(parts[1]) if parts[1] else np.zeros((0, 2), np.int64)
    return vectors, keys


def index_rebuild(*, progress=None) -> dict[str, dict]:
    """Rebuild every index from the stored features of all corpus items and published tracks."""
    fingerprints = list(
        Fingerprint.objects.filter(indexable_q()).only("id", "corpus_item_id", "track_id", "features_path")
    )
    summary: dict[str, dict] = {}
    collected = _collect([Fingerprinted.from_store(fingerprint) for fingerprint in fingerprints])
    for position, (level, parts) in enumerate(collected.items()):
        vectors, keys = _concat(level, parts)
        version = index_for(level).rebuild(vectors, keys)
        summary[level] = {"version": version, "vectors": int(len(keys))}
        if progress:
            progress((position + 1) / len(collected), f"{level}: {len(keys)} vectors")
    Fingerprint.objects.filter(pk__in=[f.pk for f in fingerprints]).update(indexed=True)
    return summary


def indexable_q() -> Q:
    """Fingerprints that belong in the indexes: every corpus item, and tracks once they are published."""
    return Q(corpus_item__isnull=False) | Q(track__status="published")


def index_add(items: list[Fingerprinted]) -> None:
    """Add (or replace) these items in every index; a damaged index is rebuilt from the database instead."""
    if not items:
        return
    fingerprints = [item.fingerprint for item in items]
    collected = _collect(items)
    try:
        for level, parts in collected.items():
            vectors, keys = _concat(level, parts)
            index_for(level).add(vectors, keys, replace_keys={f.key for f in fingerprints})
    except IndexCorrupt as exc:
        logger.warning("index damaged (%s): rebuilding from the database", exc)
        Fingerprint.objects.filter(pk__in=[f.pk for f in fingerprints]).update(indexed=True)
        index_rebuild()
        return
    Fingerprint.objects.filter(pk__in=[f.pk for f in fingerprints]).update(indexed=True)


def _fingerprint_failed(*, error: str, corpus_item: CorpusItem | None = None, track: Track | None = None) -> None:
    """Record why a subject could not be fingerprinted: it leaves the sweep's retries and shows in every verdict."""
    lookup = {"corpus_item": corpus_item} if corpus_item is not None else {"track": track}
    Fingerprint.objects.update_or_create(
        **lookup, defaults={"features_path": "", "indexed": False, "error": error[:2000], "problems": [error[:500]]}
    )


def subjects_fingerprint_and_index(*, item_ids: list[int], track_ids: list[int] = (), progress=None) -> dict:
    """Fingerprint these corpus items and published tracks and add them to the indexes in one new version.

    A subject whose file cannot be analysed gets a failed fingerprint (its error) rather than being skipped in
    silence; a subject that is gone (deleted meanwhile) is ignored.
    """
    done: list[Fingerprinted] = []
    failed: list[str] = []
    subjects: list[tuple[str, CorpusItem | Track]] = [
        *(("corpus_item", item) for item in CorpusItem.objects.filter(pk__in=item_ids)),
        *(("track", track) for track in Track.objects.filter(pk__in=list(track_ids), status="published")),
    ]
    for position, (kind, subject) in enumerate(subjects):
        try:
            if kind == "corpus_item":
                done.append(corpus_item_fingerprint(subject))
            else:
                done.append(track_fingerprint(subject))
        except (CorruptFile, OSError, ValueError) as exc:
            failed.append(f"{kind} {subject.pk}: {exc}")
            _fingerprint_failed(error=str(exc), **{kind: subject})
        if progress and (position % 10 == 0 or position == len(subjects) - 1):
            progress(0.9 * (position + 1) / max(len(subjects), 1), f"fingerprinted {position + 1}/{len(subjects)}")
    if progress:
        progress(0.92, f"indexing {len(done)} items")
    index_add(done)
    return {"fingerprinted": len(done), "failed": failed}


def fingerprint_handler(job: Job) -> dict:
    from .sweep import tracks_rescreen_incomplete

    result = subjects_fingerprint_and_index(
        item_ids=list(job.params.get("items", [])),
        track_ids=list(job.params.get("tracks", [])),
        progress=job.set_progress,
    )
    # Screenings that stopped at "incomplete" because these items were not indexed yet are run again now.
    result["rescreened"] = tracks_rescreen_incomplete(cause=job)
    return result


def items_fingerprint_start(
    *,
    item_ids: list[int],
    track_ids: list[int] = (),
    organisation=None,
    dataset_ids: list[int] = (),
    cause: Job | None = None,
) -> Job:
    return job_start(
        kind=JobKind.FINGERPRINT,
        organisation=organisation,
        params={
            "items": list(item_ids),
            "tracks": list(track_ids),
            "datasets": list(dataset_ids),
            **(caused_by(cause) if cause else {}),
        },
    )
