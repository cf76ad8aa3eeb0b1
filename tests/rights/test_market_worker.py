"""The market through a real Celery worker on Redis and PostgreSQL: publish -> split job -> catalogue -> sale."""

import pytest

from rights.market.models import Asset, RevenueShare
from tests.helpers import wait_until_finished
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.worker


def test_a_published_track_is_split_by_a_real_worker_and_sold(celery_worker_process, api_client):
    market = market_people()
    track = screened_track(market, bars=2)
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 202, response.content
    job_id = response.json()["split_job"]["id"]
    job = wait_until_finished(job_id, seconds=120)
    assert job.status == "succeeded", job.error
    assert Asset.objects.filter(track=track).count() == 5 * 3  # 2 bars: loops of 1 (x2) and 2 bars, 4 stems + mix
    api_client.force_authenticate(market.buyer)
    listed = api_client.get("/api/market/assets/", {"instrument": "drums"}).json()
    assert listed["count"] == 3
    offer = next(o for o in listed["results"][0]["offers"] if o["licence_type"] == "exclusive")
    bought = api_client.post("/api/market/purchases/", {"offer": offer["id"], "idempotency_key": "w"}, format="json")
    assert bought.status_code == 201, bought.content
    assert sum(RevenueShare.objects.values_list("amount", flat=True)) == RevenueShare.objects.first().order.amount
