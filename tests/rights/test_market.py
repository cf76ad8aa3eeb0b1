"""Publishing, splitting, the catalogue, offers, purchases, certificates, downloads and statements."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from unittest import mock

import pytest
import soundfile as sf
from cryptography.hazmat.primitives import serialization

from fingerprint.models import Screening, SimilarityFlag
from ledgerline.catalogue.models import CorpusItem, TrackStatus
from ledgerline.jobs.models import Job
from ledgerline.ledger.engine.canonical import canonical_json
from ledgerline.ledger.engine.merkle import leaf_hash, verify_inclusion
from ledgerline.ledger.models import LedgerEntry
from rights.market.models import Asset, AssetStatus, Licence, LicenceOffer, Order, RevenueShare
from rights.market.services.splitting import split_start
from tests.rights.market import market_people, screened_track

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def market():
    return market_people()


@pytest.fixture
def published(market, api_client):
    track = screened_track(market)
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 202, response.content
    assert response.json()["split_job"]["status"] == "succeeded", response.json()["split_job"]
    api_client.force_authenticate(None)
    track.refresh_from_db()
    return track


def _asset(track, stem: str, start_bar: int, bars: int) -> Asset:
    return Asset.objects.get(track=track, stem=stem, start_bar=start_bar, bars=bars)


def _buy(client, user, offer: LicenceOffer, key: str, method: str = "test-card"):
    client.force_authenticate(user)
    return client.post(
        "/api/market/purchases/", {"offer": offer.pk, "idempotency_key": key, "payment_method": method}, format="json"
    )


def _offer(asset: Asset, licence_type: str) -> LicenceOffer:
    return asset.offers.get(licence_type=licence_type)


# --- publishing and splitting -------------------------------------------------------------------------
def test_publishing_cuts_bar_aligned_loops_per_stem_and_for_the_mix(published):
    assets = Asset.objects.filter(track=published)
    # 4 bars -> loops of 1, 2 and 4 bars (4 + 2 + 1) for each of four stems and the mix.
    assert assets.count() == 5 * 7
    assert set(assets.values_list("stem", flat=True)) == {"melody", "harmony", "bass", "drums", "mix"}
    one_bar = _asset(published, "bass", 2, 1)
    samples, rate = sf.read(io.BytesIO(open(_blob(one_bar.path), "rb").read()))
    assert rate == 44100 and samples.shape == (44100 * 2, 2)  # one bar of 4/4 at 120 bpm is exactly 2 s, stereo
    assert hashlib.sha256(open(_blob(one_bar.path), "rb").read()).hexdigest() == one_bar.sha256
    four = _asset(published, "mix", 0, 4)
    assert four.duration_s == pytest.approx(8.0) and four.key == "C major" and four.tempo_bpm == pytest.approx(120)
    assert len(four.chromaprint.split(",")) > 16 and four.method == "score-grid+rendered-stems"
    assert open(_blob(four.waveform_path), "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert open(_blob(four.preview_path), "rb").read(4) == b"OggS"
    assert set(four.offers.values_list("licence_type", flat=True)) == {"non_exclusive", "extended", "exclusive"}
    assert published.status == TrackStatus.PUBLISHED and published.published_at is not None
    events = list(
        LedgerEntry.objects.filter(subject_type="track", subject_id=str(published.pk)).values_list("event", flat=True)
    )
    assert "track.published" in events and "track.split" in events
    split = LedgerEntry.objects.get(event="track.split", subject_id=str(published.pk))
    assert {row[4] for row in split.payload["assets"]} == set(assets.values_list("sha256", flat=True))
    assert hasattr(published, "fingerprint") and published.fingerprint.indexed


def _blob(relpath):
    from ledgerline.storage import blob_path

    return blob_path(relpath)


def test_a_redelivered_split_job_adds_no_duplicates(published):
    before = Asset.objects.filter(track=published).count()
    job = split_start(track=published)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["created"] == 0
    assert Asset.objects.filter(track=published).count() == before


@pytest.mark.parametrize(
    "status, reason",
    [
        (TrackStatus.FLAGGED, "a rights reviewer has to decide first"),
        (TrackStatus.BLOCKED, "a rights reviewer blocked the track"),
        (TrackStatus.SCREENING, "screening has not finished"),
    ],
)
def test_a_track_that_is_not_cleared_cannot_be_published(market, api_client, status, reason):
    track = screened_track(market, status=status)
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 400 and reason in str(response.json())
    track.refresh_from_db()
    assert track.status == status and not Asset.objects.exists()
    assert not LedgerEntry.objects.filter(event="track.published").exists()


def test_only_the_tracks_creators_may_publish(market, api_client):
    track = screened_track(market)
    api_client.force_authenticate(market.buyer)
    assert api_client.post(f"/api/tracks/{track.pk}/publish/").status_code == 403
    from tests import factories

    api_client.force_authenticate(factories.user_with_role("creator"))
    assert api_client.post(f"/api/tracks/{track.pk}/publish/").status_code == 404
    track.refresh_from_db()
    assert track.status == TrackStatus.CLEAR


def test_a_track_shorter_than_one_bar_is_not_published_or_split(market, api_client):
    track = screened_track(market, bars=1)
    track.duration_s = 1.2  # under one 2-second bar
    track.save()
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 400 and "shorter than one bar" in str(response.json())
    track.status = TrackStatus.PUBLISHED
    track.save()
    job = split_start(track=track)
    job.refresh_from_db()
    assert job.status == "failed" and "shorter than one bar" in job.error
    assert not Asset.objects.filter(track=track).exists()


# --- catalogue ----------------------------------------------------------------------------------------
def test_catalogue_filters_and_sorts(published, market, api_client):
    def ids(**params):
        response = api_client.get("/api/market/assets/", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert api_client.get("/api/market/assets/").json()["count"] == 35
    bass = ids(instrument="bass")
    assert bass and all(Asset.objects.get(pk=i).stem == "bass" for i in bass)
    assert set(ids(instrument="33")) == set(bass)  # GM program 33, electric bass
    four_bar_mix = ids(bars="4", kind="mix")
    assert four_bar_mix == [_asset(published, "mix", 0, 4).pk]
    assert ids(tempo_min=121) == [] and len(ids(tempo_min=110, tempo_max=130, bars="1,2")) == 30
    assert ids(key="D minor") == [] and ids(creator="nobody") == []
    assert ids(licence="exclusive", price_max="100") == []  # exclusives start at 199.00
    assert len(ids(licence="non_exclusive", price_max="5", bars="4")) == 5
    assert ids(q="bass", sort="relevance")[0] in bass
    assert set(ids(q="bas")) == set(bass)  # a term matches the start of a word
    assert set(ids(q="piece 0 drums")) == set(ids(instrument="drums")) and ids(q="piece 7") == []
    response = api_client.get("/api/market/assets/", {"tempo_min": 130, "tempo_max": 100})
    assert response.status_code == 400 and "tempo" in str(response.json())
    assert api_client.get("/api/market/assets/", {"bars": "four"}).status_code == 400
    assert api_client.get("/api/market/assets/", {"sort": "loudest"}).status_code == 400


def test_previews_stream_without_purchase_but_the_full_file_is_never_exposed(published, api_client):
    asset = _asset(published, "melody", 0, 2)
    detail = api_client.get(f"/api/market/assets/{asset.pk}/").json()
    assert "path" not in detail and asset.path not in str(detail)
    preview = api_client.get(detail["preview_url"])
    assert preview.status_code == 200 and preview["Content-Type"] == "audio/ogg"
    assert b"".join(preview.streaming_content)[:4] == b"OggS"
    assert api_client.get(detail["waveform_url"]).status_code == 200


# --- offers -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "price, message",
    [
        ("0", "positive"),
        ("-3.00", "positive"),
        ("4.999", "2 decimals"),
        ("abc", "price"),
        ("0.50", "between"),
        ("100.00", "between"),
        ("NaN", "positive"),
    ],
)
def test_bad_prices_are_refused_and_nothing_changes(published, market, api_client, price, message):
    asset = _asset(published, "melody", 0, 1)
    api_client.force_authenticate(market.creator)
    response = api_client.post(
        f"/api/market/assets/{asset.pk}/offers/", {"licence_type": "non_exclusive", "price": price}, format="json"
    )
    assert response.status_code == 400 and message in str(response.json())
    assert _offer(asset, "non_exclusive").price == Decimal("4.99")


def test_only_the_seller_sets_prices(published, market, api_client):
    asset = _asset(published, "melody", 0, 1)
    api_client.force_authenticate(market.buyer)
    assert (
        api_client.post(
            f"/api/market/assets/{asset.pk}/offers/", {"licence_type": "extended", "price": "10.00"}, format="json"
        ).status_code
        == 403
    )
    api_client.force_authenticate(market.creator)
    response = api_client.post(
        f"/api/market/assets/{asset.pk}/offers/", {"licence_type": "extended", "price": "49.50"}, format="json"
    )
    assert response.status_code == 200 and response.json()["price"] == "49.50"


# --- purchases ----------------------------------------------------------------------------------------
def test_a_purchase_is_idempotent_and_split_exactly(published, market, api_client):
    offer = _offer(_asset(published, "harmony", 0, 4), "non_exclusive")
    first = _buy(api_client, market.buyer, offer, "order-1")
    assert first.status_code == 201, first.content
    again = _buy(api_client, market.buyer, offer, "order-1")
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    assert Order.objects.count() == 1 and Licence.objects.count() == 1
    shares = {
        (s.payee_kind, s.organisation.slug if s.organisation else None): s.amount for s in RevenueShare.objects.all()
    }
    assert sum(shares.values()) == Decimal("4.99")
    # platform 15 %; label A 10 % x 3/4 of the training data; label B 20 % x 1/4; the creator the rest.
    assert shares[("platform", None)] == Decimal("0.75") and shares[("label", "label-a")] == Decimal("0.37")
    assert shares[("label", "label-b")] == Decimal("0.25") and shares[("creator", "studio")] == Decimal("3.62")
    entries = LedgerEntry.objects.filter(subject_type="licence", subject_id=first.json()["id"])
    assert set(entries.values_list("event", flat=True)) == {"licence.purchased", "revenue.split"}
    assert (
        _buy(api_client, market.buyer, _offer(_asset(published, "bass", 0, 4), "non_exclusive"), "order-1").status_code
        == 409
    )  # the key names another purchase


def test_an_exclusive_withdraws_every_loop_of_the_same_stem_over_its_bars(published, market, api_client):
    sold = _asset(published, "melody", 0, 2)
    response = _buy(api_client, market.buyer, _offer(sold, "exclusive"), "excl-1")
    assert response.status_code == 201, response.content
    withdrawn = set(Asset.objects.filter(status=AssetStatus.WITHDRAWN).values_list("stem", "start_bar", "bars"))
    assert withdrawn == {("melody", 0, 1), ("melody", 1, 1), ("melody", 0, 2), ("melody", 0, 4)}
    refused = _buy(api_client, market.other_buyer, _offer(_asset(published, "melody", 0, 4), "non_exclusive"), "late")
    assert refused.status_code == 409 and "no longer for sale" in refused.json()["detail"]
    again = _buy(api_client, market.other_buyer, _offer(sold, "exclusive"), "late-2")
    assert again.status_code == 409 and Licence.objects.count() == 1
    assert RevenueShare.objects.values("order").distinct().count() == 1
    listed = {row["id"] for row in api_client.get("/api/market/assets/", {"instrument": "melody"}).json()["results"]}
    assert sold.pk not in listed and _asset(published, "melody", 2, 2).pk in listed


def test_a_payment_error_grants_nothing_and_the_order_can_be_retried(published, market, api_client):
    offer = _offer(_asset(published, "drums", 0, 1), "extended")
    failed = _buy(api_client, market.buyer, offer, "retry-me", method="test-unavailable")
    assert failed.status_code == 402 and failed.json()["retriable"] and "unavailable" in failed.json()["detail"]
    assert not Licence.objects.exists() and not RevenueShare.objects.exists()
    assert not LedgerEntry.objects.filter(event__in=["licence.purchased", "revenue.split"]).exists()
    assert Order.objects.get().status == "failed"
    retried = _buy(api_client, market.buyer, offer, "retry-me")
    assert retried.status_code == 201 and Order.objects.get().status == "paid"
    assert sum(RevenueShare.objects.values_list("amount", flat=True)) == Decimal("29.00")


def test_only_buyers_buy(published, market, api_client):
    offer = _offer(_asset(published, "drums", 0, 1), "non_exclusive")
    assert _buy(api_client, market.creator, offer, "k").status_code == 403
    api_client.force_authenticate(market.buyer)
    response = api_client.post("/api/market/purchases/", {"offer": offer.pk}, format="json")
    assert response.status_code == 400 and "idempotency" in str(response.json())
    assert not Order.objects.exists()


def test_a_licence_cleared_flag_pays_the_matched_works_rights_holder(market, api_client):
    track = screened_track(market, status=TrackStatus.LICENSED)
    item = CorpusItem.objects.create(
        dataset=market.dataset_b,
        sha256="f" * 64,
        original_name="folk.mid",
        format="midi",
        kind="symbolic",
        source_path="x",
    )
    screening = Screening.objects.create(organisation=market.studio, track=track, verdict="flag")
    SimilarityFlag.objects.create(
        screening=screening,
        track=track,
        corpus_item=item,
        level="symbolic",
        score=0.9,
        status="licence_required",
        reason="quotes the folk tune",
    )
    api_client.force_authenticate(market.creator)
    assert api_client.post(f"/api/tracks/{track.pk}/publish/").status_code == 202
    response = _buy(api_client, market.buyer, _offer(_asset(track, "mix", 0, 4), "non_exclusive"), "holder")
    assert response.status_code == 201
    holder = RevenueShare.objects.get(payee_kind="rights_holder")
    assert holder.organisation.slug == "label-b" and holder.amount == Decimal("0.50")  # 10 % of 4.99, rounded
    assert sum(RevenueShare.objects.values_list("amount", flat=True)) == Decimal("4.99")


# --- licences: certificate, download ------------------------------------------------------------------
@pytest.fixture
def licence(published, market, api_client):
    response = _buy(api_client, market.buyer, _offer(_asset(published, "bass", 0, 2), "exclusive"), "cert")
    assert response.status_code == 201
    return Licence.objects.get(pk=response.json()["id"])


def test_the_certificate_carries_a_proof_that_verifies_with_hashlib(licence, market, api_client, tmp_path):
    api_client.force_authenticate(market.buyer)
    urls = api_client.get(f"/api/market/licences/{licence.pk}/").json()
    certificate = api_client.get(urls["certificate_url"]).json()
    assert certificate["asset"]["sha256"] == licence.asset.sha256 and certificate["licence_type"] == "exclusive"
    ledger = certificate["ledger"]
    leaf = leaf_hash(ledger["entry"]["canonical"].encode())
    assert leaf.hex() == ledger["entry"]["leaf_hash"]
    head = ledger["tree_head"]
    assert verify_inclusion(
        leaf,
        ledger["entry"]["index"],
        head["tree_size"],
        [bytes.fromhex(n) for n in ledger["inclusion_proof"]],
        bytes.fromhex(head["root_hash"]),
    )
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(certificate))
    checked = subprocess.run(
        [sys.executable, str(REPO / "tools" / "verify_proof.py"), str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0 and "OK" in checked.stdout, checked
    signature = certificate.pop("signature")
    public = serialization.load_pem_public_key(signature["public_key"].encode())
    public.verify(base64.b64decode(signature["value"]), canonical_json(certificate).encode())
    pdf = api_client.get(urls["certificate_pdf_url"])
    assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
    api_client.force_authenticate(market.other_buyer)
    assert api_client.get(urls["certificate_url"]).status_code == 404


def test_only_the_holder_downloads_and_only_before_expiry(licence, market, api_client, settings):
    api_client.force_authenticate(market.buyer)
    url = api_client.post(f"/api/market/licences/{licence.pk}/download-url/").json()["url"]
    response = api_client.get(url)
    assert response.status_code == 200
    # The file carries its Content Credentials (tests/rights/test_credentials.py): same audio, not the same bytes.
    assert (sf.read(io.BytesIO(response.content))[0] == sf.read(_blob(licence.asset.path))[0]).all()
    api_client.force_authenticate(market.other_buyer)
    assert api_client.get(url).status_code == 403
    assert api_client.post(f"/api/market/licences/{licence.pk}/download-url/").status_code == 404
    api_client.force_authenticate(market.buyer)
    tampered = url.rstrip("/")[:-3] + ("AAA" if not url.rstrip("/").endswith("AAA") else "BBB") + "/"
    response = api_client.get(tampered)
    assert response.status_code == 403 and "not valid" in response.json()["detail"]
    past = time.time() - settings.LEDGERLINE_DOWNLOAD_TTL_S - 60
    with mock.patch("django.core.signing.time.time", return_value=past):
        old = api_client.post(f"/api/market/licences/{licence.pk}/download-url/").json()["url"]
    response = api_client.get(old)
    assert response.status_code == 410 and "expired" in response.json()["detail"]


# --- statements ---------------------------------------------------------------------------------------
def test_statements_show_each_payees_shares_and_nobody_elses(licence, market, api_client):
    api_client.force_authenticate(market.label_a)
    statement = api_client.get("/api/market/statements/").json()
    assert statement["organisation"] == "label-a"
    assert statement["totals"] == [{"payee_kind": "label", "currency": "EUR", "total": "14.92"}]  # 7.5 % of 199.00
    rows = list(
        csv.DictReader(io.StringIO(api_client.get("/api/market/statements/", {"output": "csv"}).content.decode()))
    )
    assert len(rows) == 1 and rows[0]["share"] == "14.92" and rows[0]["dataset"] == "Chorales"
    assert api_client.get("/api/market/statements/", {"organisation": "label-b"}).status_code == 403
    assert api_client.get("/api/market/statements/", {"organisation": "platform"}).status_code == 403
    assert api_client.get("/api/market/statements/", {"period": "2026-13"}).status_code == 400
    assert api_client.get("/api/market/statements/", {"period": "1999-01"}).json()["shares"] == []
    api_client.force_authenticate(market.creator)
    creator = api_client.get("/api/market/statements/").json()
    assert creator["organisation"] == "studio" and creator["shares"][0]["payee_kind"] == "creator"
    api_client.force_authenticate(market.buyer)
    assert api_client.get("/api/market/statements/").status_code == 403


def test_the_split_job_reports_progress(published):
    job = Job.objects.filter(kind="split").latest("created_at")
    assert job.progress == 1.0 and job.result["assets"] == 35 and job.result["by_stem"]["mix"] == 7


def test_the_tracks_provenance_walks_from_the_sale_back_to_publication(licence, market, api_client):
    track_id = licence.asset.track_id
    api_client.force_authenticate(market.creator)
    entries = api_client.get(f"/api/provenance/tracks/{track_id}/").json()["entries"]
    events = [e.get("event") for e in entries]
    # Newest first; the buyer's purchase entry is private to the buyer: the seller's chain leaves it out.
    assert events[:3] == ["revenue.split", "track.split", "track.published"]
    assert licence.ledger_entry.index not in [e["index"] for e in entries]


def test_a_large_result_reports_a_capped_count(published, api_client, monkeypatch):
    from ledgerline.api import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "cap", 10)
    body = api_client.get("/api/market/assets/", {"page_size": 4}).json()
    assert body["count"] == 10 and body["count_is_exact"] is False and len(body["results"]) == 4
    exact = api_client.get("/api/market/assets/", {"bars": "4", "kind": "mix"}).json()
    assert exact["count"] == 1 and exact["count_is_exact"] is True


def test_withdrawn_and_repriced_offers_update_the_catalogue_prices(published, market, api_client):
    asset = _asset(published, "bass", 0, 1)
    api_client.force_authenticate(market.creator)
    api_client.post(
        f"/api/market/assets/{asset.pk}/offers/", {"licence_type": "non_exclusive", "active": False}, format="json"
    )
    asset.refresh_from_db()
    assert asset.price_non_exclusive is None and asset.from_price == Decimal("29.00")
    listed = api_client.get(
        "/api/market/assets/", {"licence": "non_exclusive", "instrument": "bass", "bars": "1"}
    ).json()
    assert asset.pk not in {row["id"] for row in listed["results"]}
