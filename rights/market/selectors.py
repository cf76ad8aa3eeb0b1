"""The market's reads: the buyers' catalogue search and the payees' statements."""

from __future__ import annotations

import csv
import hashlib
import io
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.postgres.search import SearchQuery
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Case, Exists, IntegerField, OuterRef, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from ledgerline.accounts.models import Organisation, Role
from ledgerline.accounts.permissions import organisations_for

from .models import Asset, AssetStatus, Licence, RevenueShare
from .split import CENT
from .vocabulary import instrument_of, key_spellings

SORTS = ("newest", "relevance", "price", "tempo")


@dataclass
class AssetSearch:
    """Catalogue filters; every field is optional."""

    q: str = ""
    key: str = ""
    tempo_min: float | None = None
    tempo_max: float | None = None
    bars: list[int] | None = None
    instrument: str = ""
    kind: str = ""
    creator: str = ""
    licence: str = ""
    price_min: Decimal | None = None
    price_max: Decimal | None = None
    sort: str = "newest"


def assets_search(search: AssetSearch) -> QuerySet[Asset]:
    """Assets for sale matching `search`: filters on the asset row only (prices and text are denormalised onto
    it), so each search is one indexed scan of one table."""
    assets = Asset.objects.filter(status=AssetStatus.AVAILABLE).select_related("track", "organisation")
    if search.key:  # every stored spelling of the key ("G", "G major", "Gmaj"): an indexed IN, not a case-blind match
        assets = assets.filter(key__in=key_spellings(search.key)[1])
    if search.tempo_min is not None:
        assets = assets.filter(tempo_bpm__gte=search.tempo_min)
    if search.tempo_max is not None:
        assets = assets.filter(tempo_bpm__lte=search.tempo_max)
    if search.bars:
        assets = assets.filter(bars__in=search.bars)
    if search.instrument:  # a GM program's number or name, a GM family, drums, or a stem's own name
        instrument = instrument_of(search.instrument)
        matches = Q(stem=instrument.stem)
        if instrument.programs:
            matches |= Q(program__in=instrument.programs, is_drum=False)
        if instrument.drums:
            matches |= Q(is_drum=True)
        assets = assets.filter(matches)
    if search.kind:
        assets = assets.filter(kind=search.kind)
    if search.creator:
        assets = assets.filter(organisation_id=Organisation.objects.filter(slug=search.creator).values("pk")[:1])
    price_range = {}
    if search.price_min is not None:
        price_range["gte"] = search.price_min
    if search.price_max is not None:
        price_range["lte"] = search.price_max
    if search.licence:
        column = f"price_{search.licence}"
        assets = assets.filter(
            **{f"{column}__isnull": False}, **{f"{column}__{op}": v for op, v in price_range.items()}
        )
    elif price_range:
        any_offer = Q()
        for column in ("price_non_exclusive", "price_extended", "price_exclusive"):
            any_offer |= Q(**{f"{column}__{op}": v for op, v in price_range.items()})
        assets = assets.filter(any_offer)
    else:
        assets = assets.filter(from_price__isnull=False)
    terms = [t for t in (re.sub(r"[^\w#]", "", word.lower()) for word in search.q.split()) if t][:8]
    if terms and connection.vendor == "postgresql":
        # Every term must begin a word of the title, stem or key: one GIN index lookup, short terms included.
        query = SearchQuery(" & ".join(f"{t}:*" for t in terms), config="simple", search_type="raw")
        assets = assets.filter(search_vector=query)
    else:
        for term in terms:  # every term must appear in the title, stem or key
            assets = assets.filter(search_text__contains=term)
    if search.sort == "relevance" and terms:
        # An exact stem or key match ranks above a word found only in the title.
        score = sum(
            (
                Case(
                    When(Q(stem=t) | Q(key__istartswith=t), then=Value(1)),
                    default=Value(0),
                    output_field=IntegerField(),
                )
                for t in terms
            ),
            Value(0),
        )
        return assets.annotate(relevance=score).order_by("-relevance", "-created_at", "-id")
    if search.sort == "price":
        return assets.order_by("from_price", "-id")
    if search.sort == "tempo":
        return assets.order_by("tempo_bpm", "-id")
    return assets.order_by("-created_at", "-id")


# --- the catalogue's cache ------------------------------------------------------------------------------
CATALOGUE_VERSION_KEY = "market:catalogue-version"


def catalogue_cache_get(url: str) -> tuple[str, dict | None]:
    """The catalogue's current version and the page cached for `url` (absolute, with its query) in that version,
    if any, in one round trip: the page is stored with the version it was read in, and `catalogue_changed`
    replaces the version, so a page of an older catalogue is never served."""
    page_key = f"market:catalogue:{hashlib.sha256(url.encode()).hexdigest()}"
    found = cache.get_many([CATALOGUE_VERSION_KEY, page_key])
    version = found.get(CATALOGUE_VERSION_KEY)
    if version is None:
        cache.add(CATALOGUE_VERSION_KEY, uuid.uuid4().hex, None)
        return cache.get(CATALOGUE_VERSION_KEY) or "", None
    stored_version, data = found.get(page_key) or ("", None)
    return version, data if stored_version == version else None


def catalogue_cache_set(url: str, *, version: str, data: dict, seconds: int) -> None:
    """Keep a page read after `catalogue_cache_get` gave `version` (read before the rows: a change committed in
    between stores the page under a version that is already gone)."""
    cache.set(f"market:catalogue:{hashlib.sha256(url.encode()).hexdigest()}", (version, data), seconds)


def catalogue_changed() -> None:
    """Every cached catalogue page is out of date once the current transaction commits. Not before: a search in
    between would read the old rows and cache them under the new version."""
    transaction.on_commit(lambda: cache.set(CATALOGUE_VERSION_KEY, uuid.uuid4().hex, None))


def assets_visible_to(user) -> QuerySet[Asset]:
    """Assets `user` may open one by one (page, preview, waveform): every asset for sale; a withdrawn one (sold
    exclusively) only to its seller's members, to those holding a licence on it, and to staff."""
    if user.is_authenticated and user.is_staff:
        return Asset.objects.all()
    visible = Q(status=AssetStatus.AVAILABLE)
    if user.is_authenticated:
        visible |= Q(organisation__in=organisations_for(user)) | Exists(
            Licence.objects.filter(asset=OuterRef("pk"), buyer=user)
        )
    return Asset.objects.filter(visible)


# --- statements ---------------------------------------------------------------------------------------
PERIOD_YEARS = (1970, 9998)  # no share predates the platform; 9998 leaves room for the end bound in any zone


def period_bounds(period: str | None) -> tuple[datetime, datetime]:
    """`YYYY-MM` (a calendar month) or `YYYY-MM-DD..YYYY-MM-DD` (inclusive days); default: this month.
    ValueError with the accepted forms for anything else."""
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    try:
        if not period:
            start, last = today.replace(day=1), None
        elif ".." in period:
            first, last_text = period.split("..", 1)
            start, last = date.fromisoformat(first), date.fromisoformat(last_text)
        else:
            start, last = datetime.strptime(period, "%Y-%m").date(), None
    except ValueError:
        raise ValueError(f"period {period!r}: use YYYY-MM or YYYY-MM-DD..YYYY-MM-DD") from None
    # The bounds are instants one day (or month) on, in the local time zone: the calendar's ends would overflow.
    if not (PERIOD_YEARS[0] <= start.year and (last or start).year <= PERIOD_YEARS[1]):
        raise ValueError(f"period {period!r}: statements cover the years {PERIOD_YEARS[0]} to {PERIOD_YEARS[1]}")
    end = last + timedelta(days=1) if last else (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    if end <= start:
        raise ValueError(f"period {period!r} ends before it starts")
    return (
        timezone.make_aware(datetime.combine(start, time.min), tz),
        timezone.make_aware(datetime.combine(end, time.min), tz),
    )


def statement_choices(user) -> list[tuple[str, str]]:
    """(slug, name) of the organisations whose statement `user` may read; staff also get the platform's."""
    if user.is_staff:
        return [("platform", "Platform fee"), *((o.slug, o.name) for o in Organisation.objects.order_by("name"))]
    memberships = (organisations_for(user, Role.LABEL) | organisations_for(user, Role.CREATOR)).distinct()
    return [(o.slug, o.name) for o in memberships.order_by("name")]


def statement_scope(*, user, slug: str = "") -> tuple[str, dict]:
    """The statement `user` asks for, as (slug, keyword arguments of `statement_shares`). Without a slug: their
    label organisation, else their creator organisation (staff: the platform). PermissionDenied otherwise."""
    if not slug:
        default = organisations_for(user, Role.LABEL).first() or organisations_for(user, Role.CREATOR).first()
        slug = default.slug if default else ("platform" if user.is_staff else "")
    if not slug or slug not in dict(statement_choices(user)):
        raise PermissionDenied("Only an organisation's labels and creators (or staff) see its statement.")
    return slug, ({"platform": True} if slug == "platform" else {"organisation": Organisation.objects.get(slug=slug)})


def statement_shares(
    *, organisation=None, platform: bool = False, start: datetime, end: datetime
) -> QuerySet[RevenueShare]:
    """An organisation's shares (or the platform fee's when `platform`) in [start, end)."""
    shares = RevenueShare.objects.filter(created_at__gte=start, created_at__lt=end)
    shares = shares.filter(payee_kind="platform") if platform else shares.filter(organisation=organisation)
    return shares.select_related("order", "order__asset", "order__asset__track", "dataset").order_by("created_at", "id")


def statement_totals(shares: QuerySet[RevenueShare]) -> list[dict]:
    rows = (
        shares.order_by()
        .values("payee_kind", "currency")
        .annotate(total=Sum("amount"))
        .order_by("payee_kind", "currency")
    )
    return [
        {"payee_kind": r["payee_kind"], "currency": r["currency"], "total": str(Decimal(r["total"]).quantize(CENT))}
        for r in rows
    ]


STATEMENT_COLUMNS = [
    "date",
    "order",
    "licence_type",
    "asset",
    "track",
    "stem",
    "bars",
    "payee_kind",
    "dataset",
    "sale_amount",
    "share",
    "currency",
]


def statement_rows(shares: QuerySet[RevenueShare]) -> list[dict]:
    return [
        {
            "date": share.created_at.isoformat(),
            "order": str(share.order_id),
            "licence_type": share.order.licence_type,
            "asset": share.order.asset_id,
            "track": share.order.asset.track.title,
            "stem": share.order.asset.stem,
            "bars": f"{share.order.asset.start_bar + 1}-{share.order.asset.end_bar}",
            "payee_kind": share.payee_kind,
            "dataset": share.dataset.name if share.dataset_id else "",
            "sale_amount": str(share.order.amount),
            "share": str(share.amount),
            "currency": share.currency,
        }
        for share in shares
    ]


def statement_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=STATEMENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
