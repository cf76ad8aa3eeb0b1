from django.db.models import Q, QuerySet

from ledgerline.accounts.permissions import organisations_for

from .models import CorpusItem, Dataset, Track


def datasets_visible_to(user) -> QuerySet[Dataset]:
    """Public datasets, plus the private ones of the caller's organisations (staff: all)."""
    if user.is_staff:
        return Dataset.objects.all()
    return Dataset.objects.filter(Q(is_public=True) | Q(organisation__in=organisations_for(user)))


def corpus_items_visible_to(user) -> QuerySet[CorpusItem]:
    return CorpusItem.objects.filter(dataset__in=datasets_visible_to(user))


def tracks_visible_to(user) -> QuerySet[Track]:
    """Published tracks, plus every track of the caller's organisations (staff: all)."""
    if user.is_staff:
        return Track.objects.all()
    return Track.objects.filter(Q(status="published") | Q(organisation__in=organisations_for(user)))
