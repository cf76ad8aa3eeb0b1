"""The screening app's signals about a track, applied to the track's life cycle."""

from __future__ import annotations

from .lifecycle import Event, track_screened, track_transition


def track_screening_started(sender, *, track, **kwargs) -> None:
    track_transition(track=track, event=Event.SCREENING_STARTED)


def track_screening_recorded(sender, *, track, verdict: str, **kwargs) -> None:
    track_screened(track=track, verdict=verdict)
