"""Who may read which ledger entries.

Shared by the ledger API and the provenance pages (`rights`) so that both redact alike: an entry about a private
dataset is readable only by its organisation and staff; everyone may see its index and leaf hash in the whole
log. A filtered view (by event, by subject, a track's provenance) holds only entries the viewer may read: a
redacted row among the matches would tell what redaction hides (how many sales a track had, whether a private
dataset's id exists).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from ledgerline.accounts.permissions import organisations_for

from .models import LedgerEntry


def entries_visible_q(user) -> Q:
    """The ledger entries `user` may read in full."""
    if user.is_authenticated and user.is_staff:
        return Q()
    if not user.is_authenticated:
        return Q(private=False)
    return Q(private=False) | Q(organisation__in=organisations_for(user))


def visible_entry_ids(user, entries: Iterable[LedgerEntry]) -> set[int]:
    """Of `entries`, the primary keys of those `user` may read in full (one query)."""
    return set(
        LedgerEntry.objects.filter(entries_visible_q(user), pk__in=[e.pk for e in entries]).values_list("pk", flat=True)
    )


def entries_matching(user, entries: QuerySet[LedgerEntry], **filters: str) -> QuerySet[LedgerEntry]:
    """`entries` narrowed by `filters` (field lookups; empty values are ignored) as `user` sees them: private
    entries match only for viewers who may read them. No filter: every entry, to be redacted row by row."""
    given = {name: value for name, value in filters.items() if value not in (None, "")}
    return entries.filter(entries_visible_q(user), **given) if given else entries
