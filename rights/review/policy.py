"""Which decisions apply to a flag, and what a track's decided flags add up to."""

from __future__ import annotations

from collections.abc import Iterable

from fingerprint.models import SimilarityFlag
from tracks.lifecycle import Decision


def flag_decisions(flag: SimilarityFlag) -> tuple[Decision, ...]:
    """The decisions that apply to `flag`: requiring a licence needs the matched corpus item's dataset licence
    (a published track has none to offer)."""
    if flag.corpus_item_id is not None:
        return tuple(Decision)
    return tuple(d for d in Decision if d != Decision.REQUIRE_LICENCE)


def track_decision(flag_statuses: Iterable[str]) -> Decision:
    """The decision on a track once all its flags are decided: one block blocks it, else one required licence
    makes it licensed, else it is cleared."""
    decided = {Decision.of_flag_status(status) for status in flag_statuses}
    if Decision.BLOCK in decided:
        return Decision.BLOCK
    if Decision.REQUIRE_LICENCE in decided:
        return Decision.REQUIRE_LICENCE
    return Decision.CLEAR
