"""Writes of rights review: a reviewer decides a similarity flag; the flagged track's creator appeals one."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from fingerprint.models import FlagStatus, SimilarityFlag
from fingerprint.selectors import flag_may_decide
from ledgerline.catalogue.models import Track
from ledgerline.ledger.services import ledger_append
from tracks.lifecycle import Decision, Event, ForbiddenTransition, track_transition
from tracks.selectors import track_may_appeal

from .policy import flag_decisions, track_decision

APPEAL_MAX_CHARS = 2000


def flag_decide(*, flag: SimilarityFlag, user, decision: str, reason: str) -> SimilarityFlag:
    """Record a decision; only a reviewer of the matched work's rights holder or platform staff may make it, and
    never a member of the organisation whose piece was flagged (`fingerprint.selectors.flags_decidable_q`).

    Once the track's last open flag is decided, the track moves on by the decisions of all its flags
    (`policy.track_decision`).
    """
    if not flag_may_decide(user, flag):
        raise PermissionDenied(
            "Only a reviewer of the rights holder whose work was matched, or platform staff, "
            "may decide this flag; never a member of the flagged piece's organisation."
        )
    if decision not in Decision.values:
        raise ValidationError({"decision": f"must be one of {', '.join(Decision.values)}"})
    decision = Decision(decision)
    if decision not in flag_decisions(flag):
        raise ValidationError(
            {
                "decision": "a licence can be required only when the match is a corpus item: "
                "a published track has no dataset licence"
            }
        )
    if not reason.strip():
        raise ValidationError({"reason": "give a reason for the decision"})
    with transaction.atomic():
        # The track's row first: two reviewers deciding its last two flags at once are serialised on it, so the
        # second sees the first's decision and moves the track on (each alone would see the other flag open).
        track = Track.objects.select_for_update().filter(pk=flag.track_id).first()
        flag = SimilarityFlag.objects.select_for_update().get(pk=flag.pk)
        try:
            flag.decide(status=decision.flag_status, reason=reason.strip(), user=user)
        except ValueError as exc:
            raise ValidationError({"decision": str(exc)}) from None
        if track is not None and not track.flags.filter(status=FlagStatus.OPEN).exists():
            overall = track_decision(track.flags.values_list("status", flat=True))
            try:
                track_transition(track=track, event=Event.REVIEWED, target=overall.track_status, reason=reason.strip())
            except ForbiddenTransition as exc:
                raise ValidationError({"decision": str(exc)}) from None
        ledger_append(
            event="flag.decided",
            subject_type="similarity_flag",
            subject_id=flag.pk,
            payload={
                "decision": decision.value,
                "reason": reason.strip(),
                "track": flag.track_id,
                "corpus_item": flag.corpus_item_id,
                "by": user.username,
            },
            organisation=flag.screening.organisation,
            private=True,
        )
    return flag


def flag_may_appeal(user, flag: SimilarityFlag) -> bool:
    return track_may_appeal(user, flag.track)


def flag_appeal(*, flag: SimilarityFlag, user, note: str) -> SimilarityFlag:
    """Record the flagged track's organisation's one answer (an appeal) to an open flag, for the reviewer."""
    if not flag_may_appeal(user, flag):
        raise PermissionDenied("Only a creator of the flagged track's organisation may appeal this flag.")
    note = (note or "").strip()
    if not note:
        raise ValidationError({"note": "write the appeal: what the reviewer should know"})
    if "\x00" in note:
        raise ValidationError({"note": "the note may not contain NUL characters"})
    if len(note) > APPEAL_MAX_CHARS:
        raise ValidationError({"note": f"at most {APPEAL_MAX_CHARS} characters (this one has {len(note)})"})
    with transaction.atomic():
        flag = SimilarityFlag.objects.select_for_update().get(pk=flag.pk)
        if flag.status != FlagStatus.OPEN:
            raise ValidationError(
                {
                    "note": f"flag {flag.pk} was already decided "
                    f"({flag.get_status_display().lower()}): it can no longer be appealed"
                }
            )
        if flag.appealed_at is not None:
            raise ValidationError({"note": f"flag {flag.pk} was already appealed: one appeal per flag"})
        flag.appeal, flag.appealed_by, flag.appealed_at = note, user, timezone.now()
        flag.save(update_fields=["appeal", "appealed_by", "appealed_at"])
        ledger_append(
            event="flag.appealed",
            subject_type="similarity_flag",
            subject_id=flag.pk,
            payload={"note": note, "track": flag.track_id, "by": user.username},
            organisation=flag.track.organisation,
            private=True,
        )
    return flag
