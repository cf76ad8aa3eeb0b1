"""A label's dataset pages: items paged and searched, each with a player; the usage page (models, tracks, flags,
sales); editing terms and withdrawing a dataset from training, each in the ledger."""

from __future__ import annotations

import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from fingerprint.models import Screening, SimilarityFlag
from generation.models import TrainedModel
from generation.services import model_terms_snapshot
from ledgerline.catalogue.ingest import _score_metadata
from ledgerline.catalogue.models import CorpusItem, Dataset
from ledgerline.ledger.models import LedgerEntry
from ledgerline.music.detect import detect_format
from ledgerline.music.parse import parse_symbolic
from ledgerline.storage import store_bytes
from rights.market.models import Order, OrderStatus, PayeeKind, RevenueShare
from tests import factories
from tests.rights.test_query_counts import assets_for_sale

pytestmark = pytest.mark.django_db


def _items(dataset: Dataset, count: int, **fields) -> list[CorpusItem]:
    return CorpusItem.objects.bulk_create(
        [
            CorpusItem(
                dataset=dataset,
                sha256=f"{dataset.pk:08x}{n:056x}",
                original_name=f"piece{n:03d}.mxl",
                format="mxl",
                kind="symbolic",
                title=f"Chorale {n:03d}",
                composer="J.S. Bach",
                source_path="x",
                **fields,
            )
            for n in range(count)
        ]
    )


@pytest.fixture
def label_world():
    org = factories.OrganisationFactory(slug="chorale-label")
    label = factories.user_with_role("label", org)
    dataset = factories.DatasetFactory(organisation=org, name="Chorales", is_public=False, status="ready")
    return org, label, dataset


def test_dataset_page_shows_50_items_a_page_and_links_the_next_page(client, label_world):
    _, label, dataset = label_world
    _items(dataset, 120)
    client.force_login(label)
    first = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert first.count('<tr class="item">') == 50 and "Corpus items (120)" in first
    assert "Page 1 of 3" in first and "page=2" in first and "Chorale 000" in first
    last = client.get(f"/datasets/{dataset.pk}/", {"page": 3}).content.decode()
    assert last.count('<tr class="item">') == 20 and "Chorale 119" in last and "Chorale 000" not in last


def test_dataset_page_shows_its_ingest_in_the_shared_job_box_that_the_shared_poller_follows(client, label_world):
    from ledgerline.jobs.models import Job

    _, label, dataset = label_world
    dataset.ingest_job = Job.objects.create(kind="ingest", status="running", progress=0.4, message="item 1 of 2")
    dataset.save(update_fields=["ingest_job"])
    client.force_login(label)
    body = client.get(f"/datasets/{dataset.pk}/").content.decode()
    assert f'<div class="job" data-job="{dataset.ingest_job.pk}" data-status="running">' in body
    assert 'id="ingest-bar" style="width:40%"' in body and 'id="ingest-status">running<' in body
    assert 'id="ingest-message">item 1 of 2<' in body
    assert body.count("fetch(`/api/jobs/") == 1  # the shared poller, once


def test_dataset_search_matches_title_or_composer_and_keeps_the_query_in_page_links(client, label_world):
    _, label, dataset = label_world
    _items(dataset, 60)
    CorpusItem.objects.create(
        dataset=dataset,
        sha256="f" * 64,
        original_name="t.mid",
        format="midi",
        kind="symbolic",
        title="Greensleeves",
        composer="Anonymous",
        source_path="x",
    )
    client.force_login(label)
    body = client.get(f"/datasets/{dataset.pk}/", {"q": "anonym"}).content.decode()
    assert body.count('<tr class="item">') == 1 and "Greensleeves" in body and "1 item match" in body
    body = client.get(f"/datasets/{dataset.pk}/", {"q": "chorale"}).content.decode()
    assert body.count('<tr class="item">') == 50 and "q=chorale&amp;page=2" in body and "Greensleeves" not in body
    body = client.get(f"/datasets/{dataset.pk}/", {"q": "nothing like it"}).content.decode()
    assert "No item matches" in body


def test_item_audio_is_served_to_those_who_may_see_the_dataset_only(client, label_world):
    _, label, dataset = label_world
    audio = store_bytes(b"fLaC-not-really", suffix=".flac")
    item = _items(dataset, 1, audio_path=audio.relpath)[0]
    url = f"/datasets/{dataset.pk}/items/{item.pk}/audio/"
    client.force_login(label)
    assert f'<audio controls preload="none" src="{url}">' in client.get(f"/datasets/{dataset.pk}/").content.decode()
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "audio/flac"
    assert b"".join(response.streaming_content) == b"fLaC-not-really"
    client.force_login(factories.user_with_role("creator"))  # another organisation; the dataset is private
    assert client.get(url).status_code == 404
    other = factories.DatasetFactory(organisation=dataset.organisation, name="Other")
    client.force_login(label)
    assert client.get(f"/datasets/{other.pk}/items/{item.pk}/audio/").status_code == 404


def _used(dataset: Dataset, creator_org) -> dict:
    """A model trained on `dataset` (terms snapshotted), a track it made, a flag on an item, a paid sale."""
    item = _items(dataset, 1)[0]
    model = TrainedModel.objects.create(name="bach-gen", arch="markov", organisation=creator_org, status="ready")
    model.datasets.set([dataset])
    model_terms_snapshot(model=model, datasets=[dataset])
    asset = assets_for_sale(1)[0]
    track = asset.track
    track.title, track.model = "Generated hymn", model
    track.save()
    screening = Screening.objects.create(organisation=creator_org, track=track, verdict="flag")
    SimilarityFlag.objects.create(screening=screening, track=track, corpus_item=item, level="symbolic", score=0.91)
    offer = asset.offers.get(licence_type="non_exclusive")
    order = Order.objects.create(
        buyer=factories.user_with_role("buyer"),
        idempotency_key=str(uuid.uuid4()),
        offer=offer,
        asset=asset,
        licence_type=offer.licence_type,
        amount=offer.price,
        currency="EUR",
        status=OrderStatus.PAID,
    )
    RevenueShare.objects.create(
        order=order,
        payee_kind=PayeeKind.LABEL,
        organisation=dataset.organisation,
        dataset=dataset,
        amount=Decimal("0.50"),
        currency="EUR",
        created_at=order.created_at,
    )
    return {"model": model, "track": track}


def test_usage_page_shows_models_with_their_terms_tracks_flags_and_the_labels_shares(client, label_world):
    _, label, dataset = label_world
    dataset.revenue_share_percent, dataset.licence_name = Decimal("12.5"), "Chorale licence v1"
    dataset.save()
    _used(dataset, factories.OrganisationFactory(slug="studio"))
    client.force_login(label)
    body = client.get(f"/datasets/{dataset.pk}/usage/").content.decode()
    assert "bach-gen" in body and "Chorale licence v1 · share 12.50 %" in body
    assert "Generated hymn" in body and "Chorale 000" in body and "0.910" in body
    assert "4.99 EUR" in body and "0.50 EUR" in body


@pytest.mark.parametrize("who", ["creator", "other-label"])
def test_usage_page_is_404_for_a_creator_and_for_another_label(client, label_world, who):
    org, _, dataset = label_world
    dataset.is_public = True
    dataset.save()
    user = factories.user_with_role("creator", org) if who == "creator" else factories.user_with_role("label")
    client.force_login(user)
    assert client.get(f"/datasets/{dataset.pk}/usage/").status_code == 404
    assert client.post(f"/datasets/{dataset.pk}/withdraw/", {"confirm": "on"}).status_code == 404
    dataset.refresh_from_db()
    assert dataset.withdrawn_at is None


TERMS = {
    "licence_name": "v2",
    "training_allowed": "on",
    "generation_allowed": "on",
    "revenue_share_percent": "20",
    "territory": "EU",
}


def test_editing_terms_records_them_in_the_ledger_and_leaves_trained_models_terms(client, label_world):
    _, label, dataset = label_world
    model = _used(dataset, factories.OrganisationFactory(slug="studio"))["model"]
    client.force_login(label)
    response = client.post(f"/datasets/{dataset.pk}/terms/", TERMS)
    assert response.status_code == 302 and response["Location"] == f"/datasets/{dataset.pk}/usage/"
    dataset.refresh_from_db()
    assert dataset.revenue_share_percent == Decimal("20.00") and dataset.territory == "EU"
    entry = LedgerEntry.objects.get(event="dataset.terms_set", subject_id=str(dataset.pk))
    assert entry.payload["changed"]["revenue_share_percent"] == {"from": "10.00", "to": "20.00"}
    model.refresh_from_db()
    assert model.licence_terms()[dataset.pk]["revenue_share_percent"] == "10.00"


def test_a_share_too_large_is_refused_with_the_reason_and_nothing_is_written(client, label_world):
    _, label, dataset = label_world
    client.force_login(label)
    response = client.post(f"/datasets/{dataset.pk}/terms/", {**TERMS, "revenue_share_percent": "90"})
    assert response.status_code == 400 and "at most 75" in response.content.decode()
    dataset.refresh_from_db()
    assert (
        dataset.revenue_share_percent == Decimal("10")
        and not LedgerEntry.objects.filter(event="dataset.terms_set").exists()
    )


def test_withdrawn_dataset_is_in_the_ledger_and_refused_for_training_with_a_clear_400(client, api_client, label_world):
    org, label, dataset = label_world
    dataset.is_public = True
    dataset.save()
    _items(dataset, 1)
    client.force_login(label)
    response = client.post(f"/datasets/{dataset.pk}/withdraw/", {"confirm": "on", "reason": "Catalogue sold"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(event="dataset.withdrawn", subject_id=str(dataset.pk))
    assert entry.payload["reason"] == "Catalogue sold"
    assert "Withdrawn from training on" in client.get(f"/datasets/{dataset.pk}/").content.decode()
    again = client.post(f"/datasets/{dataset.pk}/withdraw/", {"confirm": "on"})
    assert again.status_code == 400 and "already withdrawn" in again.content.decode()
    assert LedgerEntry.objects.filter(event="dataset.withdrawn").count() == 1

    creator = factories.user_with_role("creator")
    api_client.force_authenticate(creator)
    response = api_client.post(
        "/api/models/",
        {"name": "late-model", "arch": "markov", "datasets": [dataset.pk], "size": "debug"},
        format="json",
    )
    assert response.status_code == 400 and "was withdrawn from training" in str(response.json())
    assert not TrainedModel.objects.filter(name="late-model").exists()
    client.force_login(creator)
    assert f'value="{dataset.pk}"' not in client.get("/generation/").content.decode()


def test_withdraw_needs_the_confirmation_and_writes_nothing_without_it(client, label_world):
    _, label, dataset = label_world
    client.force_login(label)
    response = client.post(f"/datasets/{dataset.pk}/withdraw/", {"reason": "oops"})
    assert response.status_code == 400 and "This field is required" in response.content.decode()
    dataset.refresh_from_db()
    assert dataset.withdrawn_at is None and not LedgerEntry.objects.filter(event="dataset.withdrawn").exists()


def test_models_trained_before_the_withdrawal_keep_their_datasets(label_world):
    org, label, dataset = label_world
    model = _used(dataset, factories.OrganisationFactory(slug="studio"))["model"]
    from ledgerline.catalogue.services import dataset_withdraw

    dataset_withdraw(dataset=dataset, user=label)
    model.refresh_from_db()
    assert model.status == "ready" and list(model.datasets.all()) == [dataset]


def _musicxml(tmp_path: Path, *, title: str, bpm: int | None) -> bytes:
    import music21

    score, part, measure = music21.stream.Score(), music21.stream.Part(), music21.stream.Measure()
    if bpm:
        measure.append(music21.tempo.MetronomeMark(number=bpm))
    measure.append(music21.note.Note("C4"))
    part.append(measure)
    score.append(part)
    score.metadata = music21.metadata.Metadata(title=title, composer="Anon.")
    return Path(score.write("musicxml", fp=tmp_path / "piece.musicxml")).read_bytes()


def test_item_metadata_takes_the_files_title_and_tempo(tmp_path):
    data = _musicxml(tmp_path, title="Morning Hymn", bpm=90)
    meta = _score_metadata(parse_symbolic(data, detect_format(data), name="upload/x17.musicxml"), "upload/x17.musicxml")
    assert meta["title"] == "Morning Hymn" and meta["composer"] == "Anon." and meta["tempo_bpm"] == pytest.approx(90)


def test_a_chorale_without_a_tempo_mark_has_no_tempo_and_no_file_suffix_in_its_title():
    from music21 import corpus

    data = Path(str(corpus.getWork("bach/bwv269"))).read_bytes()  # music21 names its movement "bwv269.mxl"
    meta = _score_metadata(parse_symbolic(data, detect_format(data), name="bwv269.mxl"), "bwv269.mxl")
    assert meta["tempo_bpm"] is None and meta["title"] == "bwv269" and meta["composer"] == "J.S. Bach"
