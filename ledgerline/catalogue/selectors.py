from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from ledgerline.accounts.models import Role
from ledgerline.accounts.permissions import organisations_for

from .models import CorpusItem, Dataset, Track


def datasets_visible_to(user) -> QuerySet[Dataset]:
    """Public datasets, plus the private ones of the caller's organisations (staff: all)."""
    if user.is_staff:
        return Dataset.objects.all()
    return Dataset.objects.filter(Q(is_public=True) | Q(organisation__in=organisations_for(user)))


def datasets_with_item_counts(datasets: QuerySet[Dataset]) -> QuerySet[Dataset]:
    """`datasets` with `item_count` (their corpus items), counted in the same query: a list asked each row's
    `items.count()`, one query per row. A correlated subquery, not a join: a join's GROUP BY would have to
    cover every selected column, the ingest job's JSON included."""
    items = CorpusItem.objects.filter(dataset=OuterRef("pk")).order_by().values("dataset").annotate(n=Count("pk"))
    return datasets.annotate(item_count=Coalesce(Subquery(items.values("n")), 0))


def corpus_items_visible_to(user) -> QuerySet[CorpusItem]:
    return CorpusItem.objects.filter(dataset__in=datasets_visible_to(user))


def tracks_visible_to(user) -> QuerySet[Track]:
    """Published tracks, plus every track of the caller's organisations (staff: all)."""
    if user.is_staff:
        return Track.objects.all()
    return Track.objects.filter(Q(status="published") | Q(organisation__in=organisations_for(user)))


def datasets_managed_by(user) -> QuerySet[Dataset]:
    """Datasets whose usage and terms the caller may see and change: its label organisations' (staff: all)."""
    if user.is_staff:
        return Dataset.objects.all()
    return Dataset.objects.filter(organisation__in=organisations_for(user, Role.LABEL))


def corpus_items_search(dataset: Dataset, query: str = "") -> QuerySet[CorpusItem]:
    """The dataset's items, those whose title or composer contains `query` when one is given."""
    items = dataset.items.order_by("title", "pk")
    if query.strip():
        items = items.filter(Q(title__icontains=query.strip()) | Q(composer__icontains=query.strip()))
    return items
