"""The market's pages: catalogue, asset (buy or price), licences with downloads, statements."""

from __future__ import annotations

import io
import re

import pytest
import soundfile as sf

from ledgerline.storage import blob_path
from rights.market.models import Asset, Licence, LicenceOffer, Order, RevenueShare
from rights.market.services.publishing import track_publish
from rights.market.services.purchases import licence_purchase
from tests import factories
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.django_db


@pytest.fixture
def market():
    return market_people()


@pytest.fixture
def published(market):
    track = screened_track(market)
    return track_publish(user=market.creator, track=track)


@pytest.fixture
def asset(published) -> Asset:
    return Asset.objects.get(track=published, stem="mix", start_bar=0, bars=4)


def _body(response) -> str:
    return response.content.decode()


def _buy_form(client, asset: Asset, licence_type: str = "non_exclusive") -> dict:
    """The Buy form's fields for one offer, as the asset page rendered them."""
    offer = asset.offers.get(licence_type=licence_type)
    body = _body(client.get(f"/market/assets/{asset.pk}/"))
    key = re.search(
        rf'name="offer" value="{offer.pk}">\s*<input type="hidden" name="idempotency_key" value="([^"]+)"', body
    )
    assert key, "no Buy form for the offer"
    return {"offer": offer.pk, "idempotency_key": key.group(1), "payment_method": "test-card"}


def test_catalogue_lists_assets_and_filters_them(client, market, published):
    client.force_login(market.buyer)
    body = _body(client.get("/market/"))
    assert "35 assets for sale" in body
    mix = Asset.objects.get(track=published, stem="mix", start_bar=0, bars=4)
    assert f'src="/api/market/assets/{mix.pk}/waveform.png/"' in body
    assert f'<button type="button" class="play" data-src="/api/market/assets/{mix.pk}/preview.ogg/"' in body
    assert "from 4.99 EUR" in body

    body = _body(client.get("/market/", {"instrument": "bass"}))
    assert "7 assets for sale" in body and "· bass</a>" in body and "· melody</a>" not in body
    body = _body(client.get("/market/", {"bars": "4", "kind": "mix", "sort": "price"}))
    assert "1 asset for sale" in body and f'href="/market/assets/{mix.pk}/"' in body
    assert "0 assets for sale" in _body(client.get("/market/", {"track": published.pk + 1}))


@pytest.mark.parametrize(
    "params, message",
    [
        ({"tempo_min": "150", "tempo_max": "90"}, "min above max"),
        ({"bars": "four"}, "bars are integers"),
        ({"sort": "loudest"}, "is not a valid choice"),
        ({"track": "x"}, "a track id is a whole number"),
    ],
)
def test_a_bad_catalogue_filter_shows_its_message(client, market, params, message):
    client.force_login(market.buyer)
    response = client.get("/market/", params)
    assert response.status_code == 200
    body = _body(response)
    assert "The filter was not applied" in body and message in body.replace("&quot;", '"')


def test_a_double_submitted_buy_form_licenses_once(client, market, asset):
    client.force_login(market.buyer)
    form = _buy_form(client, asset)
    first = client.post(f"/market/assets/{asset.pk}/buy/", form)
    second = client.post(f"/market/assets/{asset.pk}/buy/", form, follow=True)
    licence = Licence.objects.get(buyer=market.buyer)
    assert first.status_code == 302 and first["Location"] == f"/market/licences/{licence.pk}/receipt/"
    assert "already made" in _body(second)
    assert Licence.objects.filter(buyer=market.buyer).count() == 1
    assert Order.objects.filter(buyer=market.buyer).count() == 1


def test_a_declined_card_shows_the_error_and_licenses_nothing(client, market, asset):
    client.force_login(market.buyer)
    form = {**_buy_form(client, asset), "payment_method": "test-declined"}
    response = client.post(f"/market/assets/{asset.pk}/buy/", form, follow=True)
    assert response.redirect_chain[-1][0] == f"/market/assets/{asset.pk}/"
    assert "the card was declined" in _body(response)
    assert not Licence.objects.exists()
    assert Order.objects.get(buyer=market.buyer).status == "failed"


def test_only_buyers_buy_and_only_the_sellers_creators_set_prices(client, market, asset):
    offer = asset.offers.get(licence_type="non_exclusive")
    client.force_login(market.creator)
    body = _body(client.get(f"/market/assets/{asset.pk}/"))
    assert 'id="pricing"' in body and "/buy/" not in body
    buy = {"offer": offer.pk, "idempotency_key": "k1", "payment_method": "test-card"}
    assert client.post(f"/market/assets/{asset.pk}/buy/", buy).status_code == 403
    assert not Order.objects.exists()

    for user in (market.buyer, market.label_a, factories.user_with_role("creator")):
        client.force_login(user)
        assert 'id="pricing"' not in _body(client.get(f"/market/assets/{asset.pk}/"))
        response = client.post(f"/market/assets/{asset.pk}/offers/", {"licence_type": "non_exclusive", "price": "1.00"})
        assert response.status_code == 403
    offer.refresh_from_db()
    assert str(offer.price) == "4.99"

    client.force_login(market.creator)
    body = _body(
        client.post(
            f"/market/assets/{asset.pk}/offers/",
            {"licence_type": "non_exclusive", "price": "500", "active": "on"},
            follow=True,
        )
    )
    assert "costs between 0.99 and 99.00 EUR" in body
    offer.refresh_from_db()
    assert str(offer.price) == "4.99"
    client.post(
        f"/market/assets/{asset.pk}/offers/", {"licence_type": "non_exclusive", "price": "7.50", "active": "on"}
    )
    client.post(f"/market/assets/{asset.pk}/offers/", {"licence_type": "exclusive", "price": "199.00"})  # off sale
    assert {(o.licence_type, str(o.price), o.active) for o in LicenceOffer.objects.filter(asset=asset)} == {
        ("non_exclusive", "7.50", True),
        ("extended", "29.00", True),
        ("exclusive", "199.00", False),
    }


def test_a_sold_exclusive_asset_says_so_to_its_licence_holders_and_offers_no_buy(client, market, asset):
    client.force_login(market.buyer)
    client.post(f"/market/assets/{asset.pk}/buy/", _buy_form(client, asset))  # an earlier non-exclusive licence
    exclusive = licence_purchase(
        user=market.other_buyer, offer=asset.offers.get(licence_type="exclusive"), idempotency_key="exclusive"
    ).licence
    body = _body(client.get(f"/market/assets/{asset.pk}/"))
    assert "no longer for sale" in body and "sold exclusively" in body and "/buy/" not in body
    assert str(exclusive.pk) not in body  # another buyer's licence
    offer = asset.offers.get(licence_type="non_exclusive")
    body = _body(
        client.post(
            f"/market/assets/{asset.pk}/buy/",
            {"offer": offer.pk, "idempotency_key": "late", "payment_method": "test-card"},
            follow=True,
        )
    )
    assert "The purchase was refused: this asset is no longer for sale" in body
    assert Licence.objects.count() == 2


def test_a_sold_exclusive_asset_is_gone_for_everyone_but_its_seller_and_buyer(client, market, asset):
    licence_purchase(user=market.buyer, offer=asset.offers.get(licence_type="exclusive"), idempotency_key="excl")
    for user, status in ((market.other_buyer, 404), (market.creator, 200), (market.buyer, 200)):
        client.force_login(user)
        assert client.get(f"/market/assets/{asset.pk}/").status_code == status, user
        assert client.get(f"/api/market/assets/{asset.pk}/").status_code == status, user
        assert client.get(f"/api/market/assets/{asset.pk}/preview.ogg/").status_code == status, user
    client.logout()
    for url in (
        f"/api/market/assets/{asset.pk}/",
        f"/api/market/assets/{asset.pk}/preview.ogg/",
        f"/api/market/assets/{asset.pk}/waveform.png/",
    ):
        assert client.get(url).status_code == 404, url
    assert asset.pk not in {a["id"] for a in client.get("/api/market/assets/", {"kind": "mix"}).json()["results"]}


def test_licences_page_lists_the_licence_and_download_serves_the_file_to_its_holder(client, market, asset):
    client.force_login(market.buyer)
    client.post(f"/market/assets/{asset.pk}/buy/", _buy_form(client, asset))
    licence = Licence.objects.get(buyer=market.buyer)
    body = _body(client.get("/market/licences/"))
    assert f'id="licence-{licence.pk}"' in body and "Non-exclusive" in body and "4.99 EUR" in body
    assert f"#{licence.ledger_entry.index}" in body
    assert f'href="/api/market/licences/{licence.pk}/certificate.json/"' in body
    assert f'href="/api/market/licences/{licence.pk}/certificate.pdf/"' in body
    assert client.get(f"/api/market/licences/{licence.pk}/certificate.pdf/").content[:4] == b"%PDF"

    response = client.post(f"/market/licences/{licence.pk}/download/")
    assert response.status_code == 302 and response["Location"].startswith("/api/market/download/")
    download = client.get(response["Location"])
    assert download.status_code == 200
    # The file carries its Content Credentials: the asset's audio, not its bytes.
    assert (sf.read(io.BytesIO(download.content))[0] == sf.read(blob_path(asset.path))[0]).all()

    client.force_login(market.other_buyer)
    assert f"licence-{licence.pk}" not in _body(client.get("/market/licences/"))
    assert client.post(f"/market/licences/{licence.pk}/download/").status_code == 404
    assert client.get(response["Location"]).status_code == 403


def test_statement_shows_the_labels_share_and_refuses_other_labels(client, market, asset):
    client.force_login(market.buyer)
    client.post(f"/market/assets/{asset.pk}/buy/", _buy_form(client, asset))
    share = RevenueShare.objects.get(organisation=market.dataset_a.organisation)

    client.force_login(market.label_a)
    body = _body(client.get("/market/statements/"))
    assert "Chorales" in body and f"<strong>{share.amount}</strong> EUR" in body and "4.99 EUR" in body
    csv_link = re.search(r'id="csv-link"|href="([^"]+)" id="csv-link"', body)
    assert csv_link and csv_link.group(1).startswith("/api/market/statements/?output=csv")
    csv_text = client.get(csv_link.group(1).replace("&amp;", "&")).content.decode()
    assert "Chorales" in csv_text and str(share.amount) in csv_text
    assert "No sales in this period" in _body(client.get("/market/statements/", {"period": "2001-01"}))
    assert "use YYYY-MM" in _body(client.get("/market/statements/", {"period": "last month"}))

    client.force_login(market.label_b)
    assert client.get("/market/statements/", {"organisation": market.dataset_a.organisation.slug}).status_code == 403
    client.force_login(market.buyer)
    assert client.get("/market/statements/").status_code == 403

    client.force_login(market.creator)
    body = _body(client.get("/market/statements/"))
    assert "Sales and statement" in body and "creator" in body and "Chorales" not in body


def test_staff_see_the_platforms_fee_statement(client, market):
    client.force_login(factories.UserFactory(is_staff=True))
    body = _body(client.get("/market/statements/", {"organisation": "platform"}))
    assert '<option value="platform" selected>Platform fee</option>' in body and 'id="csv-link"' in body
    client.force_login(market.label_a)
    assert client.get("/market/statements/", {"organisation": "platform"}).status_code == 403
