"""Filters on the ledger API apply after redaction: a viewer who may not read a private entry cannot find it by
its event or subject (no sales counted, no private ids probed), in lists, single entries or provenance."""

import pytest

from ledgerline.ledger.services import ledger_append
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    """Two sales by a buyer organisation, a private dataset of a label, and one public publication."""
    buyers, label = factories.OrganisationFactory(slug="buyers"), factories.OrganisationFactory(slug="label")
    track = factories.TrackFactory(title="Public piece", status="published")
    dataset = factories.DatasetFactory(organisation=label, is_public=False)
    sales = [
        ledger_append(
            event="licence.purchased",
            subject_type="licence",
            subject_id=900 + i,
            organisation=buyers,
            private=True,
            payload={"track": track.pk, "price": "30.00"},
        )
        for i in range(2)
    ]
    private_dataset = ledger_append(
        event="dataset.created",
        subject_type="dataset",
        subject_id=dataset.pk,
        organisation=label,
        private=True,
        payload={"name": "secret"},
    )
    published = ledger_append(
        event="track.published",
        subject_type="track",
        subject_id=track.pk,
        organisation=track.organisation,
        payload={"title": track.title},
    )
    return {
        "buyers": buyers,
        "label": label,
        "track": track,
        "dataset": dataset,
        "sales": sales,
        "private_dataset": private_dataset,
        "published": published,
    }


def indexes(response) -> list[int]:
    assert response.status_code == 200
    return [row["index"] for row in response.json()["results"]]


@pytest.mark.parametrize("viewer", ["anonymous", "outsider"])
def test_an_event_filter_does_not_count_sales_the_viewer_may_not_read(api_client, ledger, viewer):
    if viewer == "outsider":
        api_client.force_authenticate(factories.user_with_role("buyer"))
    assert indexes(api_client.get("/api/ledger/entries/?event=licence.purchased")) == []
    assert indexes(api_client.get("/api/ledger/entries/?subject_type=licence")) == []
    assert indexes(api_client.get("/api/ledger/entries/?subject_type=licence&subject_id=900")) == []
    # Unfiltered, every entry is still listed (redacted): the whole log stays verifiable by anyone.
    assert len(indexes(api_client.get("/api/ledger/entries/"))) == 4


def test_a_private_datasets_id_cannot_be_probed(api_client, ledger):
    api_client.force_authenticate(factories.user_with_role("label"))
    probe = f"/api/ledger/entries/?subject_type=dataset&subject_id={ledger['dataset'].pk}"
    assert indexes(api_client.get(probe)) == []
    assert (
        indexes(api_client.get(f"/api/ledger/entries/?subject_type=dataset&subject_id={ledger['dataset'].pk + 1}"))
        == []
    )


def test_a_single_entry_with_a_filter_answers_alike_whatever_its_hidden_event(api_client, ledger):
    index = ledger["sales"][0].index
    right = api_client.get(f"/api/ledger/entries/{index}/?event=licence.purchased")
    wrong = api_client.get(f"/api/ledger/entries/{index}/?event=dataset.created")
    assert right.status_code == wrong.status_code == 404
    assert api_client.get(f"/api/ledger/entries/{index}/").json() == {
        "index": index,
        "private": True,
        "leaf_hash": ledger["sales"][0].leaf_hash,
    }


def test_public_entries_match_filters_for_everyone(api_client, ledger):
    assert indexes(api_client.get("/api/ledger/entries/?event=track.published")) == [ledger["published"].index]
    assert indexes(api_client.get(f"/api/ledger/entries/?subject_type=track&subject_id={ledger['track'].pk}")) == [
        ledger["published"].index
    ]


def test_the_owning_organisation_and_staff_filter_their_private_entries(api_client, ledger):
    sales = [e.index for e in ledger["sales"]]
    api_client.force_authenticate(factories.user_with_role("buyer", ledger["buyers"]))
    response = api_client.get("/api/ledger/entries/?event=licence.purchased")
    assert indexes(response) == sales and response.json()["results"][0]["payload"]["price"] == "30.00"
    assert indexes(api_client.get("/api/ledger/entries/?subject_type=dataset")) == []
    api_client.force_authenticate(factories.user_with_role("label", ledger["label"]))
    assert indexes(api_client.get(f"/api/ledger/entries/?subject_type=dataset&subject_id={ledger['dataset'].pk}")) == [
        ledger["private_dataset"].index
    ]
    api_client.force_authenticate(factories.UserFactory(is_staff=True))
    assert indexes(api_client.get("/api/ledger/entries/?event=licence.purchased")) == sales


def test_a_tracks_provenance_does_not_count_its_sales_for_outsiders(api_client, ledger):
    api_client.force_authenticate(factories.user_with_role("buyer"))
    entries = api_client.get(f"/api/provenance/tracks/{ledger['track'].pk}/").json()["entries"]
    assert [e["index"] for e in entries] == [ledger["published"].index]
    api_client.force_authenticate(factories.user_with_role("buyer", ledger["buyers"]))
    entries = api_client.get(f"/api/provenance/tracks/{ledger['track'].pk}/").json()["entries"]
    assert [e["event"] for e in entries] == ["track.published", "licence.purchased", "licence.purchased"]
