"""Reads of the screening app shared by the API and the pages."""

from __future__ import annotations

from django.db.models import QuerySet

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import organisations_for, roles_of

from .models import SimilarityFlag


def is_reviewer(user) -> bool:
    return user.is_staff or Role.REVIEWER in roles_of(user)


def flags_visible_to(user) -> QuerySet[SimilarityFlag]:
    """Rights reviewers and staff see every flag; everyone else their organisations' flags."""
    queryset = SimilarityFlag.objects.select_related(
        "screening__organisation", "track", "corpus_item__dataset__organisation", "matched_track", "decided_by")
    if is_reviewer(user):
        return queryset
    return queryset.filter(screening__organisation__in=organisations_for(user))
