"""A track's life cycle: the one table of allowed status changes, the one function that applies them, and the one
decision vocabulary shared by review and publishing.

Nothing else writes `Track.status`. The screening app (a lower layer) tells this one about a track's screening
by signals (`fingerprint.signals`, received in `tracks.receivers`); review (`rights.review.services`) and
publishing (`rights.market.services.publishing`) call `track_transition` directly.

    from                     event                  to
    draft, screening         screening_started      screening
    screening                screened_clear         clear
    screening                screened_flag          flagged
    screening                screened_incomplete    screening   (screened again when the indexes catch up)
    flagged                  reviewed               cleared | licensed | blocked   (`Decision.track_status`)
    clear, cleared, licensed published              published   (ledger `track.published`; indexed on commit)
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import models, transaction
from django.utils import timezone

from fingerprint.models import FlagStatus
from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.ledger.services import ledger_append


class Decision(models.TextChoices):
    """What a rights reviewer decides about a similarity flag, and so about the flagged track.

    The flag stores it as its `FlagStatus` and the track as its `TrackStatus`; both are derived here, once.
    """

    CLEAR = "clear", "Clear: not a near-copy, or allowed"
    BLOCK = "block", "Block: a near-copy that may not be published"
    REQUIRE_LICENCE = "require_licence", "Require a licence: publish under the dataset's licence"

    @property
    def flag_status(self) -> FlagStatus:
        return _FLAG_STATUS[self]

    @property
    def track_status(self) -> TrackStatus:
        return _TRACK_STATUS[self]

    @classmethod
    def of_flag_status(cls, status: str) -> Decision | None:
        """The decision a decided flag records; None for an open flag."""
        return next((decision for decision, stored in _FLAG_STATUS.items() if stored == status), None)


_FLAG_STATUS = {
    Decision.CLEAR: FlagStatus.CLEARED,
    Decision.BLOCK: FlagStatus.BLOCKED,
    Decision.REQUIRE_LICENCE: FlagStatus.LICENCE_REQUIRED,
}
_TRACK_STATUS = {
    Decision.CLEAR: TrackStatus.CLEARED,
    Decision.BLOCK: TrackStatus.BLOCKED,
    Decision.REQUIRE_LICENCE: TrackStatus.LICENSED,
}


class Event(models.TextChoices):
    """What happened to a track that may change its status."""

    SCREENING_STARTED = "screening_started", "Screening started"
    SCREENED_CLEAR = "screened_clear", "Screened clear"
    SCREENED_FLAG = "screened_flag", "Screening flagged a possible near-copy"
    SCREENED_INCOMPLETE = "screened_incomplete", "Screening incomplete"
    REVIEWED = "reviewed", "A reviewer decided its last open flag"
    PUBLISHED = "published", "Published"


@dataclass(frozen=True)
class Transition:
    event: Event
    source: frozenset[TrackStatus]
    target: TrackStatus
    #: The status reason shown on the track's pages when the caller gives none.
    reason: str = ""
    #: The ledger entry this transition writes itself (None where the cause's own entry records it in the same
    #: transaction: `screening.completed`, `flag.decided`).
    ledger_event: str | None = None


_SCREENED = frozenset({TrackStatus.SCREENING})
_PUBLISHABLE = frozenset({TrackStatus.CLEAR, TrackStatus.CLEARED, TrackStatus.LICENSED})

#: Every allowed change of `Track.status`. A track screened "incomplete" stays in screening and is screened again
#: (`fingerprint.sweep.tracks_rescreen_incomplete`), hence the two screening → screening rows.
TRANSITIONS: tuple[Transition, ...] = (
    Transition(Event.SCREENING_STARTED, frozenset({TrackStatus.DRAFT, TrackStatus.SCREENING}), TrackStatus.SCREENING),
    Transition(Event.SCREENED_CLEAR, _SCREENED, TrackStatus.CLEAR),
    Transition(
        Event.SCREENED_FLAG, _SCREENED, TrackStatus.FLAGGED, "Screening found a possible near-copy; awaiting review."
    ),
    Transition(
        Event.SCREENED_INCOMPLETE,
        _SCREENED,
        TrackStatus.SCREENING,
        "Waiting for the screening indexes to catch up; the track is screened again then.",
    ),
    *(Transition(Event.REVIEWED, frozenset({TrackStatus.FLAGGED}), decision.track_status) for decision in Decision),
    Transition(Event.PUBLISHED, _PUBLISHABLE, TrackStatus.PUBLISHED, ledger_event="track.published"),
)

#: The screening verdict (`fingerprint.models.Verdict`) → the event it is for the screened track.
SCREENED = {"clear": Event.SCREENED_CLEAR, "flag": Event.SCREENED_FLAG, "incomplete": Event.SCREENED_INCOMPLETE}


class ForbiddenTransition(Exception):
    """`event` cannot move the track from its status (to `target`); nothing was written."""

    def __init__(self, *, track: Track, status: str, event: Event, target: str | None = None) -> None:
        self.track, self.status, self.event, self.target = track, status, event, target
        to = f" to {target}" if target else ""
        super().__init__(f"track {track.pk} is {status}: {Event(event).label.lower()} cannot move it{to}")


def transition_for(status: str, event: Event, target: str | None = None) -> Transition | None:
    """The allowed transition from `status` by `event` (to `target`, where the event has several), or None."""
    for transition in TRANSITIONS:
        if transition.event == event and status in transition.source and target in (None, transition.target):
            return transition
    return None


def may_transition(track: Track, event: Event) -> bool:
    return transition_for(track.status, event) is not None


def track_transition(
    *, track: Track, event: Event, target: str | None = None, reason: str | None = None, payload: dict | None = None
) -> Track:
    """Move `track` by `event`; call it inside the transaction of the change that causes it.

    1. The transition must be in `TRANSITIONS` from the status the caller read, else `ForbiddenTransition`.
    2. A conditional UPDATE (`WHERE status = <the status read>`) applies it: zero rows means someone else moved
       the track meanwhile, which is refused the same way, so two racing changes never both apply.
    3. A transition that names a ledger event appends it with `payload`, in the same transaction.
    4. Publishing indexes the track for screening: a fingerprint job sent once the transaction commits, so a
       later failure of its split does not keep it out of the index.
    """
    status = track.status
    transition = transition_for(status, event, target)
    if transition is None:
        raise ForbiddenTransition(track=track, status=status, event=event, target=target)
    with transaction.atomic():
        values = {"status": transition.target, "status_reason": (reason or transition.reason)[:500]}
        if transition.target == TrackStatus.PUBLISHED:
            values["published_at"] = timezone.now()
        if not Track.objects.filter(pk=track.pk, status=status).update(**values):
            current = Track.objects.filter(pk=track.pk).values_list("status", flat=True).first()
            raise ForbiddenTransition(track=track, status=current or "deleted", event=event, target=target)
        for field, value in values.items():
            setattr(track, field, value)
        if transition.ledger_event:
            ledger_append(
                event=transition.ledger_event,
                subject_type="track",
                subject_id=track.pk,
                payload=payload or {},
                organisation=track.organisation,
                private=transition.target != TrackStatus.PUBLISHED,
            )
        if transition.target == TrackStatus.PUBLISHED:
            _index_published(track)
    return track


def track_screened(*, track: Track, verdict: str) -> Track:
    """Move a screened track on by its screening's verdict ("clear", "flag" or "incomplete")."""
    if verdict not in SCREENED:
        raise ValueError(f"unknown screening verdict {verdict!r}")
    return track_transition(track=track, event=SCREENED[verdict])


def _index_published(track: Track) -> None:
    """Fingerprint and index a just-published track (cpu queue, sent on commit), so later outputs are screened
    against it; the index sweep retries it if this job is lost."""
    from fingerprint.services import items_fingerprint_start

    items_fingerprint_start(item_ids=[], track_ids=[track.pk], organisation=track.organisation)
