"""Reads of the screening app shared by the API and the pages.

Who decides a similarity flag: a reviewer of the rights holder (the organisation owning the matched corpus
item's dataset, or the matched published track's organisation) or a platform staff member, and never a member
of the organisation whose piece was flagged. That organisation still sees its own flags; nobody else sees them.
"""

from __future__ import annotations

from django.db.models import Q, QuerySet

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import has_role_anywhere, organisations_for
from ledgerline.catalogue.models import Track
from ledgerline.catalogue.selectors import tracks_visible_to

from .models import Screening, SimilarityFlag


def is_reviewer(user) -> bool:
    return has_role_anywhere(user, Role.REVIEWER)


def _flagged_q(organisations) -> Q:
    """Flags on a piece screened for (or a track of) one of `organisations`."""
    return Q(screening__organisation__in=organisations) | Q(track__organisation__in=organisations)


def flags_decidable_q(user) -> Q:
    """The flags `user` may decide."""
    if not user.is_authenticated:
        return Q(pk__in=[])
    own = organisations_for(user)
    if user.is_staff:
        return ~_flagged_q(own)
    holder = organisations_for(user, Role.REVIEWER)
    return (Q(corpus_item__dataset__organisation__in=holder) | Q(matched_track__organisation__in=holder)) & ~_flagged_q(
        own
    )


def flags_visible_to(user) -> QuerySet[SimilarityFlag]:
    """The flags `user` may decide, and those on their own organisations' pieces."""
    queryset = SimilarityFlag.objects.select_related(
        "screening__organisation", "track", "corpus_item__dataset__organisation", "matched_track", "decided_by"
    )
    if user.is_authenticated and user.is_staff:
        return queryset
    return queryset.filter(flags_decidable_q(user) | _flagged_q(organisations_for(user)))


def tracks_readable_by(user) -> QuerySet[Track]:
    """The tracks whose page and provenance `user` may read: those of `tracks_visible_to`, and the flagged tracks
    of the flags they may see (a reviewer must open what they review; nobody else gains access)."""
    return tracks_visible_to(user) | Track.objects.filter(pk__in=flags_visible_to(user).values("track_id"))


def flag_may_decide(user, flag: SimilarityFlag) -> bool:
    return SimilarityFlag.objects.filter(flags_decidable_q(user), pk=flag.pk).exists()


def screenings_visible_to(user) -> QuerySet[Screening]:
    """Staff see every screening; others their organisations' (a rights holder sees the flags on its works, not
    the rest of a screening: its other matches name other holders' works)."""
    queryset = Screening.objects.select_related("job", "organisation")
    if user.is_authenticated and user.is_staff:
        return queryset
    return queryset.filter(organisation__in=organisations_for(user))


def screening_match_visible(user, screening: Screening, match: dict) -> bool:
    """Whether `user` may see the evidence of one match of `screening`: all of them when the screening is
    visible to them, else only those of a flag they may see."""
    if screenings_visible_to(user).filter(pk=screening.pk).exists():
        return True
    return any(
        shown.get("key") == match.get("key")
        for flag in flags_visible_to(user).filter(screening=screening)
        for shown in (flag.evidence or {}).get("matches", [])
    )
