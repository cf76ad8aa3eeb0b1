"""Fingerprinting, indexing and screening, wrapped around `fingerprint.engine` for the platform."""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import require_role
from ledgerline.catalogue.models import CorpusItem, Track
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.progress import caused_by
from ledgerline.jobs.services import JobError, job_create, job_enqueue, job_start
from ledgerline.ledger.services import ledger_append
from ledgerline.music.audio import CorruptFile, read_audio_bytes
from ledgerline.music.detect import SUFFIX, Format, UnsupportedFormat, detect_format
from ledgerline.music.duration import check_audible, check_duration
from ledgerline.music.events import SAMPLE_RATE, Score
from ledgerline.music.parse import parse_symbolic
from ledgerline.music.render import render_midi
from ledgerline.storage import read_blob, store_bytes

from .coverage import Coverage, coverage_of
from .engine import melody as melody_mod
from .engine import screen as screen_mod
from .engine.features import Features, extract
from .engine.index import IndexCorrupt, VersionedIndex
from .index_key import IndexKey
from .models import Against, Fingerprint, Screening, SimilarityFlag, Verdict
from .transcription import recording_features

logger = logging.getLogger(__name__)


def _level_spec(level: str):
    """The level's index specification with this deployment's Flat/approximate threshold."""
    return screen_mod.level_spec(level, ivf_threshold=settings.LEDGERLINE_INDEX_IVF_THRESHOLD)


SCREENING_ROLES = {Role.LABEL, Role.CREATOR, Role.REVIEWER}


class BadQuery(ValueError):
    """The file cannot be screened: the message says why (shown to the user, exit code 2)."""


# --- features -----------------------------------------------------------------------------------------
def _score_beats(score: Score) -> np.ndarray:
    return score.beats_to_seconds(np.arange(0, int(np.ceil(score.duration_beats)) + 1, dtype=np.float64))


def features_of(*, audio: np.ndarray, score: Score | None, query: bool) -> Features:
    if score is None:  # a recording: its symbolic level is its transcribed melody line
        return recording_features(audio=audio, query=query)
    # A piece with a score was rendered from it by FluidSynth at standard pitch: no tuning to estimate.
    return extract(
        audio,
        SAMPLE_RATE,
        notes=score.notes,
        score_beat_times=_score_beats(score),
        bar_beats=score.bar_beats,
        query=query,
        tuning=0.0,
    )


def _audio_of_blob(relpath: str) -> np.ndarray:
    return read_audio_bytes(read_blob(relpath), suffix=Path(relpath).suffix)


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
    score = Score.from_npz_bytes(read_blob(item.events_path)) if item.events_path else None
    features = features_of(audio=_audio_of_blob(item.audio_path), score=score, query=False)
    return _fingerprint_store(features=features, corpus_item=item)


def track_fingerprint(track: Track) -> Fingerprinted:
    score = Score.from_npz_bytes(read_blob(track.events_path)) if track.events_path else None
    features = features_of(audio=_audio_of_blob(track.audio_path), score=score, query=False)
    return _fingerprint_store(features=features, track=track)


@functools.lru_cache(maxsize=4096)
def _features_at(relpath: str) -> Features:
    return Features.from_npz_bytes(read_blob(relpath))


def load_features(key: int) -> Features | None:
    """The stored features of the item with index key `key` (None when it has none)."""
    field = IndexKey(key).subject_filter()
    relpath = Fingerprint.objects.filter(**field).values_list("features_path", flat=True).first()
    return _features_at(relpath) if relpath else None


# --- indexes ------------------------------------------------------------------------------------------
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


def track_index_add(track: Track) -> Fingerprint:
    """Index a published track so later outputs are screened against it."""
    stored = getattr(track, "fingerprint", None)
    item = Fingerprinted.from_store(stored) if stored is not None else track_fingerprint(track)
    index_add([item])
    return item.fingerprint


# --- screening ----------------------------------------------------------------------------------------
def thresholds() -> screen_mod.Thresholds:
    return screen_mod.Thresholds.from_dict(
        settings.LEDGERLINE_SCREEN_THRESHOLDS | screen_mod.deployed_thresholds(settings.LEDGERLINE_DATA_DIR)
    )


def _allowed(against: str):
    if against == Against.CORPUS:
        return lambda key: IndexKey(key).is_corpus_item
    if against == Against.PUBLISHED:
        return lambda key: IndexKey(key).is_track
    return None


def screener(
    *, against: str = Against.ALL, levels: tuple[str, ...] = screen_mod.LEVELS, exclude_key: int | None = None
) -> screen_mod.Screener:
    """A screener over the live indexes. A damaged index is rebuilt before anything is searched."""
    for level in screen_mod.LEVELS:
        try:
            index_for(level).reader()
        except IndexCorrupt as exc:
            logger.warning("index damaged (%s): rebuilding before screening", exc)
            index_rebuild()
            break
    allowed = _allowed(against)
    if exclude_key is not None:
        base = allowed or (lambda key: True)
        allowed = lambda key: key != exclude_key and base(key)  # noqa: E731
    return screen_mod.Screener(
        audio=index_for("audio"),
        chroma=index_for("chroma"),
        symbolic=index_for("symbolic"),
        load=load_features,
        thresholds=thresholds(),
        levels=levels,
        allowed=allowed,
    )


@dataclass
class Query:
    features: Features
    score: Score | None
    fmt: Format


#: The shortest query that holds one screening window at any level (Chromaprint needs ~2 s, chroma 8 beats).
MIN_QUERY_S = 3.0


def query_from_bytes(data: bytes, *, name: str = "") -> Query:
    """Parse and analyse a file to screen. Raises BadQuery with a one-line reason."""
    if not data:
        raise BadQuery("the file is empty")
    try:
        fmt = detect_format(data)
    except UnsupportedFormat as exc:
        raise BadQuery(str(exc)) from None
    if fmt.is_archive:
        raise BadQuery("archives cannot be screened: screen one piece at a time")
    limit = settings.LEDGERLINE_MAX_QUERY_DURATION_S
    try:  # the duration is checked from the header or the parsed score, before anything is decoded or rendered
        if fmt.is_symbolic:
            score = parse_symbolic(data, fmt, name=name)
            check_duration(data, fmt, limit, min_s=MIN_QUERY_S, score=score)
            audio = render_midi(score.to_midi_bytes(), soundfont=settings.LEDGERLINE_SOUNDFONT)
        else:
            score = None
            check_duration(data, fmt, limit, min_s=MIN_QUERY_S)
            audio = read_audio_bytes(data, suffix=SUFFIX[fmt], max_s=limit)
        check_audible(audio)
    except (CorruptFile, UnsupportedFormat) as exc:
        raise BadQuery(str(exc)) from None
    features = features_of(audio=audio, score=score, query=True)
    if features.raw_fp is None and (features.melody is None or len(features.melody) < melody_mod.WINDOW_NOTES):
        raise BadQuery(features.problems[0] if features.problems else "nothing in the file can be screened")
    return Query(features, score, fmt)


def _titles(keys: set[int]) -> dict[int, dict]:
    info: dict[int, dict] = {}
    index_keys = [IndexKey(key) for key in keys]
    corpus_ids = [key.subject_id for key in index_keys if key.is_corpus_item]
    for item in CorpusItem.objects.filter(pk__in=corpus_ids).select_related("dataset"):
        info[IndexKey.of(corpus_item_id=item.pk)] = {
            "corpus_item": item.pk,
            "track": None,
            "title": item.title,
            "dataset": item.dataset.name,
            "dataset_id": item.dataset_id,
            "licence": item.dataset.licence_name or "",
            "terms": item.dataset.terms(),
            "bar_beats": None,
        }
    for track in Track.objects.filter(pk__in=[key.subject_id for key in index_keys if key.is_track]):
        info[IndexKey.of(track_id=track.pk)] = {
            "corpus_item": None,
            "track": track.pk,
            "title": track.title,
            "dataset": None,
            "dataset_id": None,
            "licence": "",
            "terms": {},
        }
    return info


def _bars(
    seconds_range: tuple[float, float], beats: tuple[float, float] | None, bar_beats: float, features: Features | None
) -> list[float] | None:
    """Bars (1-based, fractional) of a matched range, from beats when known, else via the beat grid."""
    if beats is None and features is not None and features.chroma is not None and features.chroma.beats:
        times = features.chroma.beat_times
        beats = (
            float(np.interp(seconds_range[0], times, np.arange(len(times)))),
            float(np.interp(seconds_range[1], times, np.arange(len(times)))),
        )
    if beats is None:
        return None
    return [round(1 + beats[0] / bar_beats, 2), round(1 + beats[1] / bar_beats, 2)]


@dataclass(frozen=True)
class ScreenedMatch:
    """One match of a verdict as the platform reports it: the engine's `Match`, rounded as reported, with what
    the matched item is. Field order is the order of the JSON (`as_json`)."""

    corpus_item: int | None
    track: int | None
    title: str
    dataset: str | None
    licence: str
    level: str
    score: float  # 4 places: flags and the ledger record the reported score
    query_start: float
    query_end: float
    match_start: float
    match_end: float
    query_bars: list[float] | None  # 1-based, fractional
    match_bars: list[float] | None
    transpose: int
    tempo_ratio: float
    passed: bool
    key: IndexKey

    def as_json(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class ScreeningResult:
    """A verdict over the live indexes and what was searched. Typed until an edge makes JSON of it (`as_json`:
    the stored `Screening.result`, the API, the `screen` command)."""

    verdict: Verdict  # clear, flag, or incomplete (a would-be clear with part of the scope not indexed)
    matches: list[ScreenedMatch]  # the matches behind a flag, best first
    problems: list[str]
    coverage: Coverage

    def as_json(self) -> dict:
        return {
            "verdict": self.verdict.value,
            "matches": [match.as_json() for match in self.matches],
            "problems": self.problems,
            "coverage": self.coverage.as_json(),
        }


def _screened_matches(verdict: screen_mod.Verdict, query: Features) -> list[ScreenedMatch]:
    """The engine's matches with the titles, datasets and bars of the matched items."""
    info = _titles({m.key for m in verdict.matches})
    matches = []
    for match in verdict.matches:
        meta = info.get(match.key, {})
        item_features = load_features(match.key)
        matches.append(
            ScreenedMatch(
                corpus_item=meta.get("corpus_item"),
                track=meta.get("track"),
                title=meta.get("title", ""),
                dataset=meta.get("dataset"),
                licence=meta.get("licence", ""),
                level=match.level,
                score=round(float(match.score), 4),
                query_start=round(match.query_start, 2),
                query_end=round(match.query_end, 2),
                match_start=round(match.match_start, 2),
                match_end=round(match.match_end, 2),
                query_bars=_bars((match.query_start, match.query_end), match.query_beats, query.bar_beats, query),
                match_bars=_bars(
                    (match.match_start, match.match_end),
                    match.match_beats,
                    item_features.bar_beats if item_features else 4.0,
                    item_features,
                ),
                transpose=int(match.transpose),
                tempo_ratio=round(float(match.tempo_ratio), 3),
                passed=bool(match.passed),
                key=IndexKey(match.key),
            )
        )
    return matches


def screen_features(features: Features, *, against: str, exclude_track_id: int | None = None) -> ScreeningResult:
    """Search the live indexes and say what was searched: a "clear" needs the whole scope indexed.

    Coverage is read before the search. An item marked indexed by then is in the index version the search
    reads (the mark is set only after that version is published), so no item can be counted as searched
    without having been searched.
    """
    from .sweep import indexes_lost

    coverage = coverage_of(against=against, exclude_track_id=exclude_track_id, index_lost=indexes_lost())
    exclude = IndexKey.of(track_id=exclude_track_id) if exclude_track_id else None
    found = screener(against=against, exclude_key=exclude).screen(features)
    verdict = Verdict(found.verdict)
    if verdict == Verdict.CLEAR and not coverage.complete:
        verdict = Verdict.INCOMPLETE
    return ScreeningResult(
        verdict=verdict,
        matches=_screened_matches(found, features),
        problems=[*found.problems, *coverage.problems()],
        coverage=coverage,
    )


def screen_bytes(data: bytes, *, name: str = "", against: str = Against.ALL) -> tuple[ScreeningResult, Query]:
    if against not in Against.values:
        raise BadQuery(f"--against must be one of {', '.join(Against.values)}")
    query = query_from_bytes(data, name=name)
    return screen_features(query.features, against=against), query


def _check_may_screen(user, organisation) -> None:
    require_role(
        user,
        organisation,
        *SCREENING_ROLES,
        message="Only labels, creators and rights reviewers of this organisation may screen music.",
    )


def screening_start(*, user, organisation, uploaded_file, against: str = Against.ALL) -> Screening:
    """Store the upload and start a screening job (cpu queue)."""
    _check_may_screen(user, organisation)
    if against not in Against.values:
        raise ValidationError({"against": f"must be one of {', '.join(Against.values)}"})
    from ledgerline.storage import UploadTooLarge, store_upload

    try:  # the format is sniffed from the content when the job runs: no suffix is trusted
        blob = store_upload(uploaded_file, suffix="", max_bytes=settings.LEDGERLINE_MAX_UPLOAD_BYTES)
    except UploadTooLarge as exc:
        raise ValidationError({"file": str(exc)}) from None
    return _screening_enqueue(
        organisation=organisation,
        created_by=user,
        against=against,
        original_name=(uploaded_file.name or "")[:500],
        source_path=blob.relpath,
    )


@transaction.atomic
def _screening_enqueue(*, organisation, created_by, cause: Job | None = None, **fields) -> Screening:
    """A Screening row and its job, sent to the cpu queue once the transaction commits."""
    job = job_create(kind=JobKind.SCREENING, organisation=organisation, user=created_by)
    screening = Screening.objects.create(organisation=organisation, created_by=created_by, job=job, **fields)
    job.params = {"screening": screening.pk, **(caused_by(cause) if cause else {})}
    job.subject_type, job.subject_id = JobSubject.SCREENING, str(screening.pk)
    job.save(update_fields=["params", "subject_type", "subject_id"])
    job_enqueue(job=job)
    return screening


def track_screen_start(*, track: Track, user=None, cause: Job | None = None) -> Screening:
    """Screen a generated track (its mix and score) before it may be published."""
    with transaction.atomic():
        track.mark_screening()
        return _screening_enqueue(
            organisation=track.organisation,
            created_by=user,
            track=track,
            original_name=track.title[:500],
            against=Against.ALL,
            cause=cause,
        )


def _track_query(track: Track) -> Query:
    score = Score.from_npz_bytes(read_blob(track.events_path)) if track.events_path else None
    features = features_of(audio=_audio_of_blob(track.audio_path), score=score, query=True)
    return Query(features, score, Format.MIDI if score is not None else Format.FLAC)


def screening_handler(job: Job) -> dict:
    try:
        screening = Screening.objects.select_related("track").get(pk=job.params["screening"])
    except Screening.DoesNotExist:
        raise JobError("the screening was deleted") from None
    job.set_progress(0.1, "analysing the piece")
    try:
        if screening.track_id:
            query = _track_query(screening.track)
        else:
            query = query_from_bytes(read_blob(screening.source_path), name=screening.original_name)
    except BadQuery as exc:
        raise JobError(str(exc)) from None
    job.set_progress(0.6, "searching the indexes")
    result = screen_features(query.features, against=screening.against, exclude_track_id=screening.track_id)
    with transaction.atomic():
        screening_record(screening=screening, result=result, query=query)
    return {"screening": screening.pk, "verdict": result.verdict.value, "matches": len(result.matches)}


def screening_record(*, screening: Screening, result: ScreeningResult, query: Query) -> Screening:
    """Save the verdict, create a flag per flagged item, move the track on, and write the ledger entry."""
    screening.verdict = result.verdict
    screening.result = result.as_json()
    screening.features_path = store_bytes(query.features.to_npz_bytes(), suffix=".npz").relpath
    if query.score is not None:
        screening.events_path = store_bytes(query.score.to_npz_bytes(), suffix=".npz").relpath
    screening.save(update_fields=["verdict", "result", "features_path", "events_path"])
    best: dict[IndexKey, ScreenedMatch] = {}
    for match in result.matches:
        if match.key not in best or match.score > best[match.key].score:
            best[match.key] = match
    for match in best.values():
        SimilarityFlag.objects.create(
            screening=screening,
            track=screening.track,
            corpus_item_id=match.corpus_item,
            matched_track_id=match.track,
            level=match.level,
            score=match.score,
            evidence={"matches": [m.as_json() for m in result.matches if m.key == match.key]},
        )
    if screening.track_id:
        screening.track.mark_screened(result.verdict.value)
    ledger_append(
        event="screening.completed",
        subject_type="track" if screening.track_id else "screening",
        subject_id=screening.track_id or screening.pk,
        payload={
            "screening": screening.pk,
            "verdict": result.verdict.value,
            "matches": [
                {"corpus_item": m.corpus_item, "track": m.track, "level": m.level, "score": m.score}
                for m in result.matches
            ],
        },
        organisation=screening.organisation,
        private=True,
    )
    return screening
