"""One decision vocabulary: a reviewer's decision names the flag's stored status and the track's next status."""

import pytest

from fingerprint.models import FlagStatus, SimilarityFlag
from ledgerline.catalogue.models import TrackStatus
from rights.review.policy import flag_decisions, track_decision
from tracks.lifecycle import Decision


@pytest.mark.parametrize(
    "decision, flag_status, track_status",
    [
        (Decision.CLEAR, FlagStatus.CLEARED, TrackStatus.CLEARED),
        (Decision.BLOCK, FlagStatus.BLOCKED, TrackStatus.BLOCKED),
        (Decision.REQUIRE_LICENCE, FlagStatus.LICENCE_REQUIRED, TrackStatus.LICENSED),
    ],
)
def test_a_decision_names_the_flag_status_and_the_track_status(decision, flag_status, track_status):
    assert decision.flag_status == flag_status and decision.track_status == track_status
    assert Decision.of_flag_status(flag_status) == decision


def test_an_open_flag_records_no_decision():
    assert Decision.of_flag_status(FlagStatus.OPEN) is None


@pytest.mark.parametrize(
    "statuses, expected",
    [
        (["cleared"], Decision.CLEAR),
        (["cleared", "licence_required"], Decision.REQUIRE_LICENCE),
        (["licence_required", "blocked", "cleared"], Decision.BLOCK),
    ],
)
def test_one_block_blocks_the_track_else_one_licence_licenses_it(statuses, expected):
    assert track_decision(statuses) == expected


def test_a_licence_can_be_required_only_on_a_corpus_match():
    assert flag_decisions(SimilarityFlag(corpus_item_id=7)) == (
        Decision.CLEAR,
        Decision.BLOCK,
        Decision.REQUIRE_LICENCE,
    )
    assert flag_decisions(SimilarityFlag(matched_track_id=7)) == (Decision.CLEAR, Decision.BLOCK)
