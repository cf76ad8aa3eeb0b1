"""Money that must come out right: the split checked before the charge, a refund when a purchase fails after
it, shares fixed when the model was trained, and statement periods that cannot overflow."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from generation.models import TrainedModel
from generation.services import model_terms_snapshot, model_train_start
from ledgerline.ledger.models import LedgerEntry
from rights.market.models import Asset, Licence, Order, RevenueShare
from rights.market.payments import PaymentError, TestProvider
from rights.market.services.publishing import track_publish
from rights.market.split import LabelTerm, revenue_split
from tests import factories
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.django_db
PROVIDERS = "tests.rights.test_market_money"


class OverlongReferenceProvider(TestProvider):
    """The test provider, but its charge reference is too long for the order row: the money is taken and then
    the licence cannot be recorded (PostgreSQL refuses the row), as any failure after a charge."""

    refunds_down = False

    def charge(self, **kwargs):
        charge = super().charge(**kwargs)
        if len(charge.reference) <= 200:
            charge = replace(charge, reference=charge.reference + "-" + "x" * 300)
            with self._lock:
                self._charges[kwargs["idempotency_key"]] = charge
        return charge

    def refund(self, **kwargs):
        if OverlongReferenceProvider.refunds_down:
            raise PaymentError("the payment provider is unavailable; try again")
        return super().refund(**kwargs)


@pytest.fixture
def market():
    return market_people()


@pytest.fixture
def track(market):
    return track_publish(user=market.creator, track=screened_track(market))


@pytest.fixture
def offer(track):
    return Asset.objects.get(track=track, stem="mix", start_bar=0, bars=4).offers.get(licence_type="extended")


def _buy(client, user, offer, key: str):
    client.force_authenticate(user)
    return client.post(
        "/api/market/purchases/",
        {"offer": offer.pk, "idempotency_key": key, "payment_method": "test-card"},
        format="json",
    )


def _nothing_sold():
    return (
        not Licence.objects.exists()
        and not RevenueShare.objects.exists()
        and not LedgerEntry.objects.filter(event__in=["licence.purchased", "revenue.split"]).exists()
    )


# --- the split is checked before the charge -------------------------------------------------------------
def test_a_sale_whose_shares_exceed_it_is_refused_before_any_charge(market, offer, api_client, settings):
    settings.LEDGERLINE_PLATFORM_FEE_PERCENT = Decimal("95")  # raised after the labels set their terms
    response = _buy(api_client, market.buyer, offer, "too-much")
    assert response.status_code == 409
    assert "cannot be split" in response.json()["detail"] and "exceed the sale" in response.json()["detail"]
    order = Order.objects.get()
    assert order.status == "refused" and TestProvider.charge_for(str(order.pk)) is None
    assert _nothing_sold()


def test_a_track_whose_sales_could_not_be_split_is_not_published(market, api_client, settings):
    track = screened_track(market)
    settings.LEDGERLINE_PLATFORM_FEE_PERCENT = Decimal("95")
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 400 and "cannot be split" in str(response.json())
    track.refresh_from_db()
    assert track.status == "clear" and not Asset.objects.exists()
    assert not LedgerEntry.objects.filter(event="track.published").exists()


# --- a failure after the charge refunds it --------------------------------------------------------------
def test_a_purchase_that_fails_after_the_charge_is_refunded_and_licenses_nothing(market, offer, api_client, settings):
    settings.LEDGERLINE_PAYMENT_PROVIDER = f"{PROVIDERS}.OverlongReferenceProvider"
    response = _buy(api_client, market.buyer, offer, "refund-me")
    assert response.status_code == 409, response.content
    body = response.json()
    assert body["refunded"] and not body["retriable"] and "29.00 EUR charged were refunded" in body["detail"]
    order = Order.objects.get()
    charge = TestProvider.charge_for(str(order.pk))
    refund = TestProvider.refund_of(charge.reference)
    assert refund is not None and (refund.amount, refund.currency) == (Decimal("29.00"), "EUR")
    assert order.status == "refunded" and order.refund_reference == refund.reference and order.refunded_at
    assert _nothing_sold()
    entry = LedgerEntry.objects.get(event="order.refunded", subject_id=str(order.pk))
    assert entry.private and entry.payload["payment"]["refund"] == refund.reference

    again = _buy(api_client, market.buyer, offer, "refund-me")  # the same key: no second charge or refund
    assert again.status_code == 409 and again.json()["refunded"]
    assert TestProvider.charge_for(str(order.pk)) == charge and TestProvider.refund_of(charge.reference) == refund
    assert LedgerEntry.objects.filter(event="order.refunded").count() == 1 and _nothing_sold()

    settings.LEDGERLINE_PAYMENT_PROVIDER = "rights.market.payments.TestProvider"
    assert _buy(api_client, market.buyer, offer, "new-key").status_code == 201


def test_a_refund_that_fails_is_finished_by_a_retry_with_the_same_key(market, offer, api_client, settings):
    settings.LEDGERLINE_PAYMENT_PROVIDER = f"{PROVIDERS}.OverlongReferenceProvider"
    OverlongReferenceProvider.refunds_down = True
    try:
        response = _buy(api_client, market.buyer, offer, "flaky")
    finally:
        OverlongReferenceProvider.refunds_down = False
    assert response.status_code == 402 and response.json()["retriable"]
    assert "refund failed" in response.json()["detail"]
    order = Order.objects.get()
    charge = TestProvider.charge_for(str(order.pk))
    assert order.status == "failed" and TestProvider.refund_of(charge.reference) is None and _nothing_sold()

    retried = _buy(api_client, market.buyer, offer, "flaky")
    assert retried.status_code == 409 and retried.json()["refunded"]
    assert TestProvider.charge_for(str(order.pk)) == charge  # charged once, refunded once
    assert TestProvider.refund_of(charge.reference).amount == Decimal("29.00")
    order.refresh_from_db()
    assert order.status == "refunded" and _nothing_sold()


def test_the_buy_page_says_a_failed_purchase_was_refunded(market, offer, client, settings):
    settings.LEDGERLINE_PAYMENT_PROVIDER = f"{PROVIDERS}.OverlongReferenceProvider"
    client.force_login(market.buyer)
    response = client.post(
        f"/market/assets/{offer.asset_id}/buy/",
        {"offer": offer.pk, "idempotency_key": "page", "payment_method": "test-card"},
        follow=True,
    )
    body = response.content.decode()
    assert response.status_code == 200 and "29.00 EUR charged were refunded" in body and "nothing was licensed" in body
    assert Order.objects.get().status == "refunded" and _nothing_sold()


# --- shares are fixed when the model is trained ---------------------------------------------------------
def test_a_label_raising_its_share_does_not_reach_tracks_of_models_trained_before(market, offer, api_client):
    api_client.force_authenticate(market.label_a)
    response = api_client.patch(
        f"/api/datasets/{market.dataset_a.pk}/",
        {"terms": {"revenue_share_percent": "50", "attribution": "Label A, renamed"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    change = LedgerEntry.objects.get(event="dataset.terms_set", subject_id=str(market.dataset_a.pk))
    assert change.payload["changed"]["revenue_share_percent"] == {"from": "10.00", "to": "50.00"}

    response = _buy(api_client, market.buyer, offer, "after-the-change")
    assert response.status_code == 201, response.content
    a, b = f"label:{market.dataset_a.pk}", f"label:{market.dataset_b.pk}"  # the service's payee names (ties)
    expected = revenue_split(
        Decimal("29.00"),
        creator="creator",
        platform="platform",
        platform_percent=Decimal(15),
        labels=[LabelTerm(a, Decimal(10), Decimal(3)), LabelTerm(b, Decimal(20), Decimal(1))],
    )
    shares = {s.dataset_id: s.amount for s in RevenueShare.objects.filter(payee_kind="label")}
    assert shares == {market.dataset_a.pk: expected[a], market.dataset_b.pk: expected[b]}
    assert sum(RevenueShare.objects.values_list("amount", flat=True)) == Decimal("29.00")
    assert response.json()["terms"]["attribution"] == ["J. S. Bach chorales, Label A"]

    later = TrainedModel.objects.create(name="later", arch="markov", organisation=market.studio, status="ready")
    market.dataset_a.refresh_from_db()
    model_terms_snapshot(model=later, datasets=[market.dataset_a])
    assert later.licence_terms()[market.dataset_a.pk]["revenue_share_percent"] == "50.00"
    assert market.model.licence_terms()[market.dataset_a.pk]["revenue_share_percent"] == "10.00"


def test_training_snapshots_the_datasets_terms_in_the_models_provenance_and_the_ledger(tmp_path, api_client):
    label_org = factories.OrganisationFactory(slug="snap-label")
    dataset = factories.ingested_chorales(
        tmp_path,
        organisation=label_org,
        count=2,
        name="Chorales",
        is_public=True,
        licence_name="CC-BY",
        revenue_share_percent="12.50",
    )
    studio = factories.OrganisationFactory(slug="snap-studio")
    creator = factories.user_with_role("creator", studio)
    model = model_train_start(user=creator, organisation=studio, name="snap", arch="markov", dataset_ids=[dataset.pk])
    model.refresh_from_db()
    snapshot = model.provenance["licence_terms"]
    assert snapshot["datasets"] == [
        {"id": dataset.pk, "name": "Chorales", "organisation": "snap-label", "terms": dataset.terms()}
    ]
    entry = LedgerEntry.objects.get(event="model.terms_snapshot", subject_id=str(model.pk))
    assert entry.index == snapshot["ledger_index"] and entry.payload["datasets"] == snapshot["datasets"]
    assert entry.index < LedgerEntry.objects.get(event="model.trained", subject_id=str(model.pk)).index

    api_client.force_authenticate(factories.user_with_role("label", label_org))
    assert (
        api_client.patch(
            f"/api/datasets/{dataset.pk}/", {"terms": {"revenue_share_percent": "40"}}, format="json"
        ).status_code
        == 200
    )
    model.refresh_from_db()
    assert model.licence_terms()[dataset.pk]["revenue_share_percent"] == "12.50"


def test_a_sale_of_a_model_without_recorded_terms_is_refused_before_the_charge(market, offer, api_client):
    TrainedModel.objects.filter(pk=market.model.pk).update(provenance={})
    response = _buy(api_client, market.buyer, offer, "no-terms")
    assert response.status_code == 409 and "were not recorded" in response.json()["detail"]
    assert TestProvider.charge_for(str(Order.objects.get().pk)) is None and _nothing_sold()


# --- statements -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "period", ["9999-12", "0001-01-01..9999-12-31", "0001-01", "2026-01-01..9999-12-31", "1969-12"]
)
def test_a_statement_period_out_of_range_is_refused_with_the_years_covered(market, api_client, client, period):
    api_client.force_authenticate(market.label_a)
    response = api_client.get("/api/market/statements/", {"period": period})
    assert response.status_code == 400 and "statements cover the years 1970 to 9998" in str(response.json())
    client.force_login(market.label_a)
    page = client.get("/market/statements/", {"period": period})
    assert page.status_code == 200 and "statements cover the years 1970 to 9998" in page.content.decode()


def test_the_widest_statement_period_is_served(market, api_client):
    api_client.force_authenticate(market.label_a)
    response = api_client.get("/api/market/statements/", {"period": "1970-01-01..9998-12-31"})
    assert response.status_code == 200 and response.json()["shares"] == []
