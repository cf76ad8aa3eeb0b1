"""Which ledger entries make up a track's chain of custody (its sales, publication, screening, review decisions,
generation, model and datasets), as a viewer may read them (`ledgerline.ledger.selectors` redacts); and whether a
fingerprint match may be named to a viewer."""

from __future__ import annotations

from django.db.models import Q

from ledgerline.catalogue.models import CorpusItem, Track, TrackStatus
from ledgerline.catalogue.selectors import corpus_items_visible_to, tracks_visible_to
from ledgerline.ledger.models import LedgerEntry
from ledgerline.ledger.selectors import entries_visible_q


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


def match_visible_to(user, match: dict) -> bool:
    """Whether a fingerprint match (`track` or `corpus_item` id) may be named to `user`: published tracks and the
    items of public datasets to anyone, private works only to those who may see them."""
    if match["track"]:
        return Track.objects.filter(pk=match["track"], status=TrackStatus.PUBLISHED).exists() or (
            user.is_authenticated and tracks_visible_to(user).filter(pk=match["track"]).exists()
        )
    return CorpusItem.objects.filter(pk=match["corpus_item"], dataset__is_public=True).exists() or (
        user.is_authenticated and corpus_items_visible_to(user).filter(pk=match["corpus_item"]).exists()
    )
