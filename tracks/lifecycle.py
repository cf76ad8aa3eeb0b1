"""A track's life cycle: one decision vocabulary shared by review and publishing."""

from __future__ import annotations

from django.db import models

from fingerprint.models import FlagStatus
from ledgerline.catalogue.models import TrackStatus


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
