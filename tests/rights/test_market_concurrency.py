"""Parallel purchases on PostgreSQL: an exclusive is sold exactly once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rights.market.models import Asset, Licence, Order, RevenueShare
from rights.market.services.publishing import track_publish
from tests import factories
from tests.rights.market import market_people, screened_track


@pytest.mark.django_db(transaction=True)
def test_two_buyers_racing_for_one_exclusive_get_one_licence_and_one_refusal():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (DATABASE_URL)")
    from rest_framework.test import APIClient

    market = market_people()
    track = track_publish(user=market.creator, track=screened_track(market, bars=2))
    asset = Asset.objects.get(track=track, stem="melody", start_bar=0, bars=2)
    offer = asset.offers.get(licence_type="exclusive")
    buyers = [market.buyer, market.other_buyer, *(factories.user_with_role("buyer") for _ in range(4))]
    start = threading.Barrier(len(buyers))
    results: dict[str, object] = {}

    def buy(user) -> None:
        client = APIClient()
        client.force_authenticate(user)
        start.wait()
        try:
            response = client.post(
                "/api/market/purchases/", {"offer": offer.pk, "idempotency_key": "race"}, format="json"
            )
            results[user.username] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(user,)) for user in buyers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    codes = sorted(code for code, _ in results.values())
    assert codes == [201] + [409] * (len(buyers) - 1), results
    assert all("no longer for sale" in body["detail"] for code, body in results.values() if code == 409)
    assert Licence.objects.count() == 1 and Order.objects.filter(status="paid").count() == 1
    assert Order.objects.filter(status="refused").count() == len(buyers) - 1
    assert RevenueShare.objects.values("order").distinct().count() == 1
    asset.refresh_from_db()
    assert asset.status == "withdrawn"
