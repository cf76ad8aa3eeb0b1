"""The market's lists (catalogue search API and page, an asset, the buyer's licences) run a fixed number of
queries, however many rows they show (no N+1)."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest

from rights.market.models import Asset, AssetKind, Licence, LicenceOffer, LicenceType, Order, OrderStatus
from tests import factories

pytestmark = pytest.mark.django_db
PRICES = {
    LicenceType.NON_EXCLUSIVE: Decimal("4.99"),
    LicenceType.EXTENDED: Decimal("29.00"),
    LicenceType.EXCLUSIVE: Decimal("199.00"),
}


def assets_for_sale(count: int) -> list[Asset]:
    """`count` loops of distinct tracks and sellers, each with three offers (rows only: no audio)."""
    assets = []
    for n in range(count):
        track = factories.TrackFactory(title=f"Piece {n}", status="published")
        assets.append(
            Asset(
                track=track,
                organisation=track.organisation,
                kind=AssetKind.STEM,
                stem="bass",
                program=33,
                start_bar=0,
                bars=4,
                key="C major",
                tempo_bpm=100.0,
                time_signature="4/4",
                duration_s=8.0,
                sample_rate=22050,
                method="test",
                path="x",
                sha256=f"{n:064x}",
                size=1,
                preview_path="x",
                waveform_path="x",
                price_non_exclusive=PRICES["non_exclusive"],
                price_extended=PRICES["extended"],
                price_exclusive=PRICES["exclusive"],
                from_price=PRICES["non_exclusive"],
                search_text=Asset.search_text_for(title=track.title, stem="bass", key="C major"),
            )
        )
    assets = Asset.objects.bulk_create(assets)
    LicenceOffer.objects.bulk_create(
        [LicenceOffer(asset=a, licence_type=t, price=p, currency="EUR") for a in assets for t, p in PRICES.items()]
    )
    return assets


@pytest.mark.parametrize("rows", [3, 30])
def test_catalogue_search_api_runs_the_same_queries_for_3_and_30_assets(
    rows, api_client, django_assert_max_num_queries
):
    assets_for_sale(rows)
    api_client.force_authenticate(factories.user_with_role("buyer"))
    with django_assert_max_num_queries(3):  # capped count, page with track and seller, the page's offers
        response = api_client.get("/api/market/assets/", {"q": "piece bass", "sort": "relevance"})
    assert response.status_code == 200
    results = response.json()["results"]
    assert len(results) == rows
    assert all(len(a["offers"]) == 3 and a["track_title"].startswith("Piece") for a in results)


def test_asset_detail_api_runs_a_fixed_number_of_queries(api_client, django_assert_max_num_queries):
    asset = assets_for_sale(1)[0]
    api_client.force_authenticate(factories.user_with_role("buyer"))
    with django_assert_max_num_queries(2):  # the asset with track and seller, its offers
        response = api_client.get(f"/api/market/assets/{asset.pk}/")
    assert response.status_code == 200
    assert len(response.json()["offers"]) == 3


@pytest.mark.parametrize("rows", [3, 30])
def test_catalogue_page_runs_the_same_queries_for_3_and_30_assets(rows, client, django_assert_max_num_queries):
    assets_for_sale(rows)
    client.force_login(factories.user_with_role("buyer"))
    # session, user, roles of the menu, capped count, page with track and seller, the page's offers
    with django_assert_max_num_queries(6):
        response = client.get("/market/", {"instrument": "bass"})
    assert response.status_code == 200
    assert response.content.decode().count("from 4.99 EUR") == rows


def _licences(buyer, count: int) -> None:
    for asset in assets_for_sale(count):
        offer = asset.offers.get(licence_type=LicenceType.NON_EXCLUSIVE)
        order = Order.objects.create(
            buyer=buyer,
            idempotency_key=str(uuid.uuid4()),
            offer=offer,
            asset=asset,
            licence_type=offer.licence_type,
            amount=offer.price,
            currency="EUR",
            status=OrderStatus.PAID,
        )
        Licence.objects.create(order=order, asset=asset, buyer=buyer, licence_type=offer.licence_type, terms={})


@pytest.mark.parametrize("rows", [3, 30])
def test_licence_list_api_runs_the_same_queries_for_3_and_30_licences(rows, api_client, django_assert_max_num_queries):
    buyer = factories.user_with_role("buyer")
    _licences(buyer, rows)
    api_client.force_authenticate(buyer)
    with django_assert_max_num_queries(3):  # count, page with asset, order and entry, the assets' offers
        response = api_client.get("/api/market/licences/")
    assert response.status_code == 200
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_licence_list_page_runs_the_same_queries_for_3_and_30_licences(rows, client, django_assert_max_num_queries):
    buyer = factories.user_with_role("buyer")
    _licences(buyer, rows)
    client.force_login(buyer)
    with django_assert_max_num_queries(5):  # session, user, roles of the menu, count, page
        response = client.get("/market/licences/")
    assert response.status_code == 200
