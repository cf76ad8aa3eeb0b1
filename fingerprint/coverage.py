"""What a screening searched: the items in its scope that are indexed, missing or failed.

A "clear" verdict is a claim about everything in the scope. It may only be given when every corpus item and every
published track in that scope is in the live indexes; otherwise the verdict is "incomplete" and names what is
missing. Coverage is read from the database (`Fingerprint.indexed`, set only after an index version that holds the
item was published), never from the history of jobs or signals, so a crashed worker or a process that exited early
cannot make a clear verdict out of an index that is behind.

What a screening reads costs what is missing, not the size of the corpus: the fingerprints it could not search
come through a partial index that holds only them (`fingerprint_unsearched`), and nothing counts what is indexed.
Subjects with no fingerprint row yet are an anti-join of two primary-key/unique indexes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from ledgerline.catalogue.models import CorpusItem, Track, TrackStatus

from .models import UNSEARCHED, Against, Fingerprint

#: How many ids of missing or failed items a verdict lists (the counts are always whole).
LISTED_IDS = 100


def _not_indexed() -> Q:
    """Subjects with no fingerprint yet, or one that is not in the live indexes and did not fail."""
    return Q(fingerprint__isnull=True) | Q(fingerprint__indexed=False, fingerprint__error="")


def corpus_items_missing(*, dataset_ids: list[int] | None = None) -> QuerySet[CorpusItem]:
    items = CorpusItem.objects.filter(_not_indexed())
    return items.filter(dataset_id__in=dataset_ids) if dataset_ids is not None else items


def published_tracks_missing() -> QuerySet[Track]:
    return Track.objects.filter(_not_indexed(), status=TrackStatus.PUBLISHED)


@dataclass(frozen=True)
class Coverage:
    """The scope of one screening: what in it was not searched. Ids are sorted."""

    missing_corpus_items: list[int] = field(default_factory=list)
    missing_tracks: list[int] = field(default_factory=list)
    failed_corpus_items: list[int] = field(default_factory=list)
    failed_tracks: list[int] = field(default_factory=list)
    index_lost: bool = False

    @property
    def missing(self) -> int:
        return len(self.missing_corpus_items) + len(self.missing_tracks)

    @property
    def complete(self) -> bool:
        return self.missing == 0 and not self.index_lost

    def problems(self) -> list[str]:
        """Lines for a verdict's `problems`: what was not searched, and why."""
        lines = []
        if self.index_lost:
            lines.append("the screening indexes are missing on disk: they are being rebuilt")
        if self.missing:
            lines.append(
                f"{self.missing} item(s) in scope are not indexed yet ({len(self.missing_corpus_items)} "
                f"corpus items, {len(self.missing_tracks)} published tracks): the verdict is incomplete"
            )
        if self.failed_corpus_items or self.failed_tracks:
            lines.append(
                f"{len(self.failed_corpus_items) + len(self.failed_tracks)} item(s) could not be "
                f"fingerprinted and were not searched (corpus items {self.failed_corpus_items[:LISTED_IDS]}, "
                f"tracks {self.failed_tracks[:LISTED_IDS]})"
            )
        return lines

    def as_json(self) -> dict:
        return {
            "complete": self.complete,
            "missing": self.missing,
            "missing_corpus_items": self.missing_corpus_items[:LISTED_IDS],
            "missing_tracks": self.missing_tracks[:LISTED_IDS],
            "failed": len(self.failed_corpus_items) + len(self.failed_tracks),
            "failed_corpus_items": self.failed_corpus_items[:LISTED_IDS],
            "failed_tracks": self.failed_tracks[:LISTED_IDS],
            "index_lost": self.index_lost,
        }


def coverage_of(*, against: str, exclude_track_id: int | None = None, index_lost: bool = False) -> Coverage:
    """The coverage of a screening against `against` (all, corpus or published), leaving out the query's own track.

    1. The fingerprints that are not searched (not indexed yet, or failed), through the partial index: missing when
       pending, failed when they hold an error; a track's counts only while it is published.
    2. The subjects in scope with no fingerprint row at all: missing."""
    corpus = against in (Against.ALL, Against.CORPUS)
    published = against in (Against.ALL, Against.PUBLISHED)
    missing: dict[str, set[int]] = {"items": set(), "tracks": set()}
    failed: dict[str, set[int]] = {"items": set(), "tracks": set()}
    rows = Fingerprint.objects.filter(UNSEARCHED).order_by()
    if not (corpus and published):
        rows = rows.filter(corpus_item__isnull=not corpus)
    for item_id, track_id, status, error in rows.values_list("corpus_item_id", "track_id", "track__status", "error"):
        if item_id is not None:
            (failed if error else missing)["items"].add(item_id)
        elif status == TrackStatus.PUBLISHED and track_id != exclude_track_id:
            (failed if error else missing)["tracks"].add(track_id)
    if corpus:
        items = CorpusItem.objects.filter(fingerprint__isnull=True).order_by()
        missing["items"].update(items.values_list("pk", flat=True))
    if published:
        tracks = Track.objects.filter(status=TrackStatus.PUBLISHED, fingerprint__isnull=True).order_by()
        missing["tracks"].update(tracks.exclude(pk=exclude_track_id).values_list("pk", flat=True))
    return Coverage(
        missing_corpus_items=sorted(missing["items"]),
        missing_tracks=sorted(missing["tracks"]),
        failed_corpus_items=sorted(failed["items"]),
        failed_tracks=sorted(failed["tracks"]),
        index_lost=index_lost,
    )
