"""Licence offers: the platform's default prices for new loops, creators' prices, and the prices copied onto
assets for the catalogue search."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from ..models import Asset, LicenceOffer, LicenceType
from ..selectors import catalogue_changed
from ..split import money
from .roles import require_creator


def _price_bounds(licence_type: str) -> dict[str, Decimal]:
    bounds = settings.LEDGERLINE_OFFER_PRICES[licence_type]
    return {name: money(bounds[name]) for name in ("default", "min", "max")}


def offers_create(*, assets: list[Asset]) -> None:
    """Every new asset (one without offers) starts with the platform's default offers."""
    defaults = {licence_type: _price_bounds(licence_type)["default"] for licence_type in LicenceType.values}
    LicenceOffer.objects.bulk_create(
        [
            LicenceOffer(asset=asset, licence_type=licence_type, price=price, currency=settings.LEDGERLINE_CURRENCY)
            for asset in assets
            for licence_type, price in defaults.items()
        ],
        ignore_conflicts=True,
    )
    # The assets had no offer, so their prices are now the defaults: one UPDATE, not `asset_prices_refresh`'s
    # CASE per row and column (a tenth of a long track's split).
    Asset.objects.filter(pk__in=[asset.pk for asset in assets]).update(
        price_non_exclusive=defaults[LicenceType.NON_EXCLUSIVE],
        price_extended=defaults[LicenceType.EXTENDED],
        price_exclusive=defaults[LicenceType.EXCLUSIVE],
        from_price=min(defaults.values()),
    )


def asset_prices_refresh(*, asset_ids: list[int]) -> None:
    """Copy each asset's active offer prices (and the cheapest) onto the asset row, for the catalogue search."""
    prices: dict[int, dict[str, Decimal]] = {pk: {} for pk in asset_ids}
    for asset_id, licence_type, price in LicenceOffer.objects.filter(asset_id__in=asset_ids, active=True).values_list(
        "asset_id", "licence_type", "price"
    ):
        prices[asset_id][licence_type] = price
    rows = [
        Asset(
            pk=pk,
            price_non_exclusive=p.get(LicenceType.NON_EXCLUSIVE),
            price_extended=p.get(LicenceType.EXTENDED),
            price_exclusive=p.get(LicenceType.EXCLUSIVE),
            from_price=min(p.values()) if p else None,
        )
        for pk, p in prices.items()
    ]
    Asset.objects.bulk_update(
        rows, ["price_non_exclusive", "price_extended", "price_exclusive", "from_price"], batch_size=1000
    )
    catalogue_changed()  # new loops, prices and exclusive sales all come through here


def price_parse(value) -> Decimal:
    try:
        return money(value)
    except (ValueError, ArithmeticError) as exc:
        raise ValidationError(
            {"price": str(exc) if isinstance(exc, ValueError) else f"not a price: {value!r}"}
        ) from None


@transaction.atomic
def offer_set(*, user, asset: Asset, licence_type: str, price=None, active: bool | None = None) -> LicenceOffer:
    """A creator prices (or withdraws) one licence type of an asset, within the platform's bounds."""
    require_creator(user, asset.organisation)
    if licence_type not in LicenceType.values:
        raise ValidationError({"licence_type": f"one of {', '.join(LicenceType.values)}"})
    offer, _ = LicenceOffer.objects.select_for_update().get_or_create(
        asset=asset,
        licence_type=licence_type,
        defaults={"price": _price_bounds(licence_type)["default"], "currency": settings.LEDGERLINE_CURRENCY},
    )
    if price is not None:
        amount = price_parse(price)
        bounds = _price_bounds(licence_type)
        if not bounds["min"] <= amount <= bounds["max"]:
            raise ValidationError(
                {
                    "price": f"a {LicenceType(licence_type).label.lower()} licence costs between "
                    f"{bounds['min']} and {bounds['max']} {offer.currency}"
                }
            )
        offer.price = amount
    if active is not None:
        offer.active = active
    offer.save()
    asset_prices_refresh(asset_ids=[asset.pk])
    return offer
