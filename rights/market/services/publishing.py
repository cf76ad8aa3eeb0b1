"""Publishing a screened track: who may, which tracks may (`tracks.lifecycle`), and what publishing starts."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from generation.engine.baseline import readiness
from ledgerline.catalogue.models import Track, TrackStatus
from tracks.lifecycle import Event, may_transition, track_transition

from .roles import require_creator
from .shares import shares_compute
from .splitting import split_start


def _bar_seconds(track: Track) -> float | None:
    if not track.tempo_bpm:
        return None
    numerator, denominator = (int(x) for x in (track.time_signature or "4/4").split("/"))
    return numerator * 4.0 / denominator * 60.0 / track.tempo_bpm


_NOT_PUBLISHABLE = {
    TrackStatus.DRAFT: "the track has not been screened yet",
    TrackStatus.SCREENING: "screening has not finished",
    TrackStatus.FLAGGED: "screening flagged a possible near-copy; a rights reviewer has to decide first",
    TrackStatus.BLOCKED: "a rights reviewer blocked the track",
    TrackStatus.PUBLISHED: "the track is already published",
}


def track_publish(*, user, track: Track) -> Track:
    """Publish a screened track and start splitting it into loops (cpu job).

    The refusals come first, each with its reason: the status (`tracks.lifecycle`: clear, cleared or licensed),
    the model's readiness, a track shorter than a bar, sales that cannot be split. The publish transition writes
    `track.published` to the ledger and indexes the track for screening once this commits, whatever its split
    does.
    """
    require_creator(user, track.organisation)
    with transaction.atomic():
        track = Track.objects.select_for_update().get(pk=track.pk)
        if not may_transition(track, Event.PUBLISHED):
            reason = _NOT_PUBLISHABLE.get(track.status, f"the track is {track.get_status_display().lower()}")
            if track.status == TrackStatus.BLOCKED and track.status_reason:
                reason += f": {track.status_reason}"
            raise ValidationError({"track": f"cannot publish {track.title!r}: {reason}"})
        if track.model is not None and (why := readiness(track.model.arch, track.model.metrics)):
            raise ValidationError(
                {"track": f"cannot publish {track.title!r}: its model {track.model.name!r} is not ready: {why}"}
            )
        bar_s = _bar_seconds(track)
        if bar_s is not None and track.duration_s and track.duration_s < bar_s - 1e-3:
            raise ValidationError(
                {
                    "track": f"cannot publish {track.title!r}: it is shorter than one bar "
                    f"({track.duration_s:.2f} s; a bar lasts {bar_s:.2f} s)"
                }
            )
        try:
            shares_compute(amount=Decimal("100.00"), track=track)
        except ValueError as exc:
            raise ValidationError(
                {"track": f"cannot publish {track.title!r}: its sales cannot be split ({exc})"}
            ) from None
        track_transition(
            track=track,
            event=Event.PUBLISHED,
            payload={
                "title": track.title,
                "content_sha256": track.content_sha256,
                "mix_sha256": track.provenance.get("mix_sha256", ""),
                "screening_status": track.status,
                "by": user.username,
            },
        )
        split_start(track=track, user=user)
    return track
