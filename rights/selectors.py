"""Who may read which ledger entries, and which entries make up a track's chain of custody.

Shared by the ledger API and the provenance pages so that both redact alike: an entry about a private
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


def provenance_entries(track, *, user) -> list[LedgerEntry]:
    """The chain of custody of a track that `user` may read, newest first: its licences' sales and revenue
    splits, its own entries (publication, split, screening, generation), the review decisions on its flags, its
    model's training, and the model's datasets' terms."""
    subjects = [("track", str(track.pk))]
    if track.model_id:
        subjects.append(("model", str(track.model_id)))
        datasets = getattr(track.model, "datasets", None)
        if datasets is not None:
            subjects += [("dataset", str(pk)) for pk in datasets.values_list("pk", flat=True)]
        for dataset_id in (track.model.config or {}).get("datasets", []):
            subjects.append(("dataset", str(dataset_id)))
    # Sales are found through the log itself: each purchase entry names the track it licenses.
    sales = LedgerEntry.objects.filter(event="licence.purchased", subject_type="licence", payload__track=track.pk)
    subjects += [("licence", pk) for pk in sales.values_list("subject_id", flat=True)]
    subjects += [("similarity_flag", str(pk)) for pk in track.flags.values_list("pk", flat=True)]
    query = Q()
    for subject_type, subject_id in dict.fromkeys(subjects):
        query |= Q(subject_type=subject_type, subject_id=subject_id)
    return list(
        LedgerEntry.objects.filter(query, entries_visible_q(user)).select_related("organisation").order_by("-index")
    )
