"""The catalogue search's cache (LEDGERLINE_CATALOGUE_CACHE_S) and its fast asset representation: a cached page
is served without queries, and never outlives a change to the catalogue (prices, exclusive sales)."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework import serializers

from rights.market.api import AssetSerializer
from rights.market.models import Asset, AssetStatus, LicenceType
from rights.market.services.offers import offer_set
from rights.market.services.purchases import licence_purchase
from tests import factories
from tests.rights.test_query_counts import assets_for_sale

pytestmark = pytest.mark.django_db


@pytest.fixture
def cached(settings):
    settings.LEDGERLINE_CATALOGUE_CACHE_S = 60
    cache.clear()
    yield
    cache.clear()


def _search(client, **params) -> dict:
    response = client.get("/api/market/assets/", params)
    assert response.status_code == 200, response.content
    return response.json()


def test_a_repeated_search_is_served_from_the_cache_without_queries(cached, api_client, django_assert_num_queries):
    assets_for_sale(3)
    api_client.force_authenticate(factories.user_with_role("buyer"))
    first = _search(api_client, instrument="bass", sort="price")
    with django_assert_num_queries(0):
        again = _search(api_client, instrument="bass", sort="price")
    assert again == first and len(first["results"]) == 3


def test_a_price_change_shows_in_the_next_search(cached, api_client, django_capture_on_commit_callbacks):
    asset = assets_for_sale(2)[0]
    creator = factories.user_with_role("creator", asset.organisation)
    api_client.force_authenticate(factories.user_with_role("buyer"))
    before = {a["id"]: a["offers"][0]["price"] for a in _search(api_client, sort="price")["results"]}
    assert before[asset.pk] == "4.99"
    with django_capture_on_commit_callbacks(execute=True):  # the test's transaction never commits
        offer_set(user=creator, asset=asset, licence_type=LicenceType.NON_EXCLUSIVE, price="3.50")
    after = {a["id"]: a["offers"][0]["price"] for a in _search(api_client, sort="price")["results"]}
    assert after[asset.pk] == "3.50"


def test_an_asset_sold_exclusively_leaves_the_cached_search_at_once(
    cached, api_client, django_capture_on_commit_callbacks
):
    asset = assets_for_sale(2)[0]
    buyer = factories.user_with_role("buyer")
    api_client.force_authenticate(buyer)
    assert asset.pk in {a["id"] for a in _search(api_client, instrument="bass")["results"]}
    with django_capture_on_commit_callbacks(execute=True):
        licence_purchase(user=buyer, offer=asset.offers.get(licence_type=LicenceType.EXCLUSIVE), idempotency_key="k1")
    assert Asset.objects.get(pk=asset.pk).status == AssetStatus.WITHDRAWN
    assert asset.pk not in {a["id"] for a in _search(api_client, instrument="bass")["results"]}


def test_a_change_invalidates_only_when_its_transaction_commits(cached, api_client):
    """Until the write commits, a search may still read the old rows: it must not cache them as the new ones."""
    asset = assets_for_sale(1)[0]
    creator = factories.user_with_role("creator", asset.organisation)
    api_client.force_authenticate(factories.user_with_role("buyer"))
    _search(api_client)
    version = cache.get("market:catalogue-version")
    offer_set(user=creator, asset=asset, licence_type=LicenceType.NON_EXCLUSIVE, price="3.50")  # not committed
    assert cache.get("market:catalogue-version") == version


def test_without_the_setting_every_search_queries_the_database(settings, api_client, django_assert_num_queries):
    settings.LEDGERLINE_CATALOGUE_CACHE_S = 0
    assets_for_sale(1)
    api_client.force_authenticate(factories.user_with_role("buyer"))
    _search(api_client)
    with django_assert_num_queries(3):
        _search(api_client)


def test_asset_representation_is_drfs():
    """The hand-built dict of `AssetSerializer` is what DRF's field-by-field representation gives."""
    asset = assets_for_sale(1)[0]
    asset = Asset.objects.select_related("track", "organisation").get(pk=asset.pk)
    fast = AssetSerializer(asset).data
    slow = serializers.ModelSerializer.to_representation(AssetSerializer(asset), asset)
    assert dict(fast) == dict(slow)
    assert set(fast) == set(AssetSerializer.Meta.fields)
