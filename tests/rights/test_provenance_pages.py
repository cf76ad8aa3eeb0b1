"""Provenance pages: a track's chain of custody (redacted for outsiders) and the ledger overview."""

import re

import pytest

from fingerprint.models import Screening, SimilarityFlag
from generation.models import TrainedModel
from ledgerline.ledger.models import LedgerEntry, TreeHead
from ledgerline.ledger.services import ledger_anchor, ledger_append
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def custody():
    """The ledger of a published track, from its dataset to a sale, plus an entry about another track."""
    label_org = factories.OrganisationFactory(slug="label")
    studio = factories.OrganisationFactory(slug="studio")
    buyers = factories.OrganisationFactory(slug="buyers")
    dataset = factories.DatasetFactory(organisation=label_org, name="Private chorales", licence_name="LL-Train-1")
    model = TrainedModel.objects.create(name="harmony", arch="markov", organisation=studio, status="ready")
    model.datasets.set([dataset])
    track = factories.TrackFactory(organisation=studio, title="Chain piece", model=model, status="published")
    other = factories.TrackFactory(organisation=studio, title="Other piece", status="published")
    screening = Screening.objects.create(organisation=studio, track=track, verdict="flag")
    flag = SimilarityFlag.objects.create(
        screening=screening, track=track, level="symbolic", score=0.9, status="cleared", reason="common cadence"
    )
    append = ledger_append
    entries = [
        append(
            event="dataset.created",
            subject_type="dataset",
            subject_id=dataset.pk,
            organisation=label_org,
            private=True,
            payload={"name": dataset.name, "terms": dataset.terms(), "public": False},
        ),
        append(
            event="model.trained",
            subject_type="model",
            subject_id=model.pk,
            organisation=studio,
            private=True,
            payload={"name": "harmony", "datasets": [dataset.pk]},
        ),
        append(
            event="track.generated",
            subject_type="track",
            subject_id=track.pk,
            organisation=studio,
            private=True,
            payload={"model": "harmony", "seed": 3},
        ),
        append(
            event="screening.completed",
            subject_type="track",
            subject_id=track.pk,
            organisation=studio,
            private=True,
            payload={"screening": screening.pk, "verdict": "flag"},
        ),
        append(
            event="flag.decided",
            subject_type="similarity_flag",
            subject_id=flag.pk,
            organisation=studio,
            private=True,
            payload={"decision": "clear", "reason": "common cadence", "track": track.pk},
        ),
        append(
            event="track.published",
            subject_type="track",
            subject_id=track.pk,
            organisation=studio,
            payload={"title": track.title},
        ),
        append(
            event="licence.purchased",
            subject_type="licence",
            subject_id=41,
            organisation=buyers,
            private=True,
            payload={"track": track.pk, "price": "30.00", "currency": "EUR"},
        ),
        append(
            event="revenue.split",
            subject_type="licence",
            subject_id=41,
            organisation=buyers,
            private=True,
            payload={"amount": "30.00"},
        ),
    ]
    unrelated = append(
        event="track.published",
        subject_type="track",
        subject_id=other.pk,
        organisation=studio,
        payload={"title": other.title},
    )
    return {"track": track, "entries": entries, "unrelated": unrelated, "studio": studio, "buyers": buyers}


def shown_indexes(body: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-index="(\d+)"', body)]


def test_the_owner_sees_every_entry_of_the_track_newest_first_with_proof_links(client, custody):
    client.force_login(factories.user_with_role("creator", custody["studio"]))
    response = client.get(f"/rights/tracks/{custody['track'].pk}/provenance/")
    body = response.content.decode()
    assert response.status_code == 200
    # The dataset and the sale belong to other organisations and are private: they are left out.
    mine = [e for e in custody["entries"] if e.organisation == custody["studio"]]
    assert shown_indexes(body) == [e.index for e in reversed(mine)]
    assert custody["unrelated"].index not in shown_indexes(body)
    for entry in custody["entries"]:
        assert (entry.leaf_hash in body) == (entry in mine)
    for event in ("model.trained", "track.generated", "screening.completed", "flag.decided", "track.published"):
        assert event in body
    assert "common cadence" in body and "Review decision" in body
    assert f'href="/api/ledger/entries/{custody["entries"][1].index}/proof/"' in body
    assert "LL-Train-1" not in body and "30.00" not in body and "Private entry" not in body
    assert f'href="/api/ledger/entries/{custody["entries"][0].index}/proof/"' not in body


def test_an_outsider_sees_only_the_public_entries(client, custody):
    """Redacted rows would still say how many private entries (sales, decisions) concern the track."""
    client.force_login(factories.user_with_role("buyer"))
    body = client.get(f"/rights/tracks/{custody['track'].pk}/provenance/").content.decode()
    published = custody["entries"][5]
    assert shown_indexes(body) == [published.index]
    assert "Private entry" not in body and "track.published" in body
    for hidden in ("model.trained", "common cadence", "harmony", "screening.completed", "licence.purchased"):
        assert hidden not in body
    assert f'href="/api/ledger/entries/{published.index}/proof/"' in body
    assert [e for e in custody["entries"] if e.leaf_hash in body] == [published]


def test_the_buyer_of_the_sale_sees_it_and_public_datasets_show_their_terms(client, custody):
    dataset_entry = custody["entries"][0]
    LedgerEntry.objects.filter(pk=dataset_entry.pk).update(private=False)
    client.force_login(factories.user_with_role("buyer", custody["buyers"]))
    body = client.get(f"/rights/tracks/{custody['track'].pk}/provenance/").content.decode()
    assert "licence.purchased" in body and "30.00" in body and "Sale and licence" in body
    assert "LL-Train-1" in body and "10.00 %" in body and "Dataset and licence terms" in body


def test_an_unpublished_track_of_another_organisation_is_not_found(client, custody):
    custody["track"].status = "clear"
    custody["track"].save()
    client.force_login(factories.user_with_role("buyer"))
    assert client.get(f"/rights/tracks/{custody['track'].pk}/provenance/").status_code == 404


def test_ledger_overview_shows_the_signed_head_anchors_and_the_verify_command(client, custody):
    client.force_login(factories.user_with_role("buyer"))
    heads = TreeHead.objects.count()  # every append signed its own
    body = client.get("/rights/").content.decode()
    assert TreeHead.objects.latest("tree_size").root_hash in body and "python manage.py ledger verify" in body
    assert TreeHead.objects.count() == heads and "not yet in a signed head" not in body  # reading signs nothing
    anchor = ledger_anchor()
    assert anchor.status == "anchored"
    ledger_append(event="later", subject_type="thing", subject_id=1, payload={})
    body = client.get("/rights/").content.decode()
    assert TreeHead.objects.latest("tree_size").root_hash in body
    assert anchor.tree_head.root_hash in body and anchor.tx_hash in body and str(anchor.block_number) in body
    assert "Anchored" in body and "not yet in a signed head" not in body
