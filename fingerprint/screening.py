"""Screening a piece against the live indexes: queries from files or tracks, the screener over the indexes,
the typed verdict (`ScreeningResult`, JSON only at the edges), and the `screening` job that records it: the
flags, the track's next status and the ledger entry."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import require_role
from ledgerline.catalogue.models import CorpusItem, Track
from ledgerline.jobs.models import Job, JobKind, JobSubject
from ledgerline.jobs.progress import caused_by
from ledgerline.jobs.services import JobError, job_create, job_enqueue
from ledgerline.ledger.services import ledger_append
from ledgerline.music.audio import CorruptFile, read_audio_bytes
from ledgerline.music.detect import SUFFIX, Format, UnsupportedFormat, detect_format
from ledgerline.music.duration import check_audible, check_duration
from ledgerline.music.events import Score
from ledgerline.music.parse import parse_symbolic
from ledgerline.music.render import render_midi
from ledgerline.storage import read_blob, store_bytes

from .coverage import Coverage, coverage_of
from .engine import melody as melody_mod
from .engine import screen as screen_mod
from .engine.features import Features
from .engine.index import IndexCorrupt
from .index_key import IndexKey
from .indexing import features_of, index_for, index_rebuild, load_features, stored_features
from .models import Against, Screening, SimilarityFlag, Verdict
from .signals import track_screened, track_screening_started

logger = logging.getLogger(__name__)


SCREENING_ROLES = {Role.LABEL, Role.CREATOR, Role.REVIEWER}


class BadQuery(ValueError):
    """The file cannot be screened: the message says why (shown to the user, exit code 2)."""


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
        track_screening_started.send(sender=Screening, track=track)
        return _screening_enqueue(
            organisation=track.organisation,
            created_by=user,
            track=track,
            original_name=track.title[:500],
            against=Against.ALL,
            cause=cause,
        )


def _track_query(track: Track) -> Query:
    features, score = stored_features(track, query=True)
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
        track_screened.send(sender=Screening, track=screening.track, verdict=result.verdict.value)
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
