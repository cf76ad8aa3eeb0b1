"""Indexing driven by state: find what is not in the indexes and index it.

The end-of-ingest signal only says "look now"; what gets indexed is decided here, from the database: every
corpus item and published track with no fingerprint, or one that is not in the live indexes and did not fail.
The sweep runs when a dataset finishes ingesting, when a worker starts, periodically under Celery beat, and from
`rebuild_index --missing`; so items ingested before a worker crashed, or by a process that exited while its
fingerprint thread was still running, are indexed by the next sweep.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import OuterRef, Subquery

from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.jobs.models import FINISHED, Job, JobKind

from .coverage import corpus_items_missing, published_tracks_missing
from .models import Fingerprint, Screening, Verdict

logger = logging.getLogger(__name__)

#: Items per fingerprint job: a job's progress stays meaningful and a killed worker loses little.
BATCH = 500


def _held_by_live_jobs() -> tuple[set[int], set[int]]:
    """Corpus items and tracks that a queued or running fingerprint job will index (a dead job is re-queued by
    the jobs sweep, so its items are not started twice)."""
    items: set[int] = set()
    tracks: set[int] = set()
    for params in (
        Job.objects.filter(kind=JobKind.FINGERPRINT).exclude(status__in=FINISHED).values_list("params", flat=True)
    ):
        items.update(params.get("items", []))
        tracks.update(params.get("tracks", []))
    return items, tracks


def indexes_lost() -> bool:
    """True when an index folder lost its live version while the database says items are indexed."""
    from fingerprint.engine.screen import LEVELS
    from fingerprint.indexing import index_for

    if not Fingerprint.objects.filter(indexed=True).exists():
        return False
    return any(index_for(level).current_version() is None for level in LEVELS)


def index_sweep(*, dataset_ids: list[int] | None = None, organisation=None, cause: Job | None = None) -> list[Job]:
    """Start fingerprint jobs for every missing subject not already held by a live job; return the jobs started.

    1. An index lost on disk (a wiped data folder) makes every fingerprint "not indexed" again.
    2. Missing corpus items (of these datasets, or all) and published tracks, minus those held by live jobs.
    3. One job per batch, enqueued once this transaction commits.
    """
    from fingerprint.indexing import items_fingerprint_start

    if indexes_lost():
        logger.warning("screening indexes are missing on disk: every fingerprint will be indexed again")
        Fingerprint.objects.filter(indexed=True).update(indexed=False)
    held_items, held_tracks = _held_by_live_jobs()
    items = [
        pk
        for pk in corpus_items_missing(dataset_ids=dataset_ids).order_by("pk").values_list("pk", flat=True)
        if pk not in held_items
    ]
    tracks = (
        []
        if dataset_ids is not None
        else [
            pk for pk in published_tracks_missing().order_by("pk").values_list("pk", flat=True) if pk not in held_tracks
        ]
    )
    jobs = []
    with transaction.atomic():
        for start in range(0, max(len(items), len(tracks)), BATCH):
            jobs.append(
                items_fingerprint_start(
                    item_ids=items[start : start + BATCH],
                    track_ids=tracks[start : start + BATCH],
                    organisation=organisation,
                    dataset_ids=dataset_ids or [],
                    cause=cause,
                )
            )
    if jobs:
        logger.info(
            "index sweep: %d corpus items and %d tracks to index in %d job(s)", len(items), len(tracks), len(jobs)
        )
    return jobs


def jobs_indexing(*, dataset_ids: list[int]) -> list[Job]:
    """Unfinished fingerprint jobs that hold items of these datasets."""
    from ledgerline.catalogue.models import CorpusItem

    wanted = set(CorpusItem.objects.filter(dataset_id__in=dataset_ids).values_list("pk", flat=True))
    return [
        job
        for job in Job.objects.filter(kind=JobKind.FINGERPRINT).exclude(status__in=FINISHED).order_by("created_at")
        if wanted.intersection(job.params.get("items", []))
    ]


def tracks_rescreen_incomplete(*, cause: Job | None = None) -> int:
    """Screen again every track still waiting on an "incomplete" screening; returns how many were started.

    The tracks whose latest screening is incomplete come from one query (the latest verdict is a subquery), and
    the users who asked for those screenings from one more, whatever the number of tracks in screening."""
    from django.contrib.auth import get_user_model

    from fingerprint.screening import track_screen_start

    if corpus_items_missing().exists() or published_tracks_missing().exists():
        return 0  # another batch is still indexing: the last one to finish screens them again
    latest = Screening.objects.filter(track=OuterRef("pk")).order_by("-created_at", "-id")
    waiting = list(
        Track.objects.filter(status=TrackStatus.SCREENING)
        .annotate(
            latest_verdict=Subquery(latest.values("verdict")[:1]), asked_by=Subquery(latest.values("created_by")[:1])
        )
        .filter(latest_verdict=Verdict.INCOMPLETE)
        .select_related("organisation")
        .order_by("pk")
    )
    users = get_user_model().objects.in_bulk({track.asked_by for track in waiting} - {None})
    for track in waiting:
        track_screen_start(track=track, user=users.get(track.asked_by), cause=cause)
    return len(waiting)
