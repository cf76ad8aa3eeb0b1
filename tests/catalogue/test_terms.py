"""Licence terms a label sets: every share that can apply to a sale must fit in it, text fits its column."""

from decimal import Decimal

import pytest

from ledgerline.catalogue.models import Dataset
from ledgerline.ledger.models import LedgerEntry
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def label(api_client):
    org = factories.OrganisationFactory(slug="terms-label")
    user = factories.user_with_role("label", org)
    api_client.force_authenticate(user)
    return org


def _create(api_client, org, terms: dict):
    return api_client.post("/api/datasets/", {"organisation": org.slug, "name": "Tunes", "terms": terms}, format="json")


@pytest.mark.parametrize("share", ["75.01", "85.01", "90", "100"])
def test_a_share_the_sale_cannot_pay_is_refused_with_the_reason_and_nothing_is_written(api_client, label, share):
    response = _create(api_client, label, {"revenue_share_percent": share})
    assert response.status_code == 400
    detail = str(response.json())
    assert "revenue_share_percent" in detail and "platform fee (15 %)" in detail and "at most 75 %" in detail
    assert not Dataset.objects.exists() and not LedgerEntry.objects.exists()


def test_the_largest_share_a_sale_can_pay_is_accepted(api_client, label):
    response = _create(api_client, label, {"revenue_share_percent": "75"})
    assert response.status_code == 201, response.content
    assert response.json()["terms"]["revenue_share_percent"] == "75.00"


def test_the_share_ceiling_follows_the_platform_fee_and_the_matched_work_share(api_client, label, settings):
    settings.LEDGERLINE_PLATFORM_FEE_PERCENT = Decimal("5")
    settings.LEDGERLINE_MATCHED_WORK_SHARE_PERCENT = Decimal("5")
    assert _create(api_client, label, {"revenue_share_percent": "90.01"}).status_code == 400
    assert _create(api_client, label, {"revenue_share_percent": "90"}).status_code == 201


def test_raising_a_share_past_what_a_sale_can_pay_is_refused_and_the_terms_stay(api_client, label):
    dataset = Dataset.objects.get(pk=_create(api_client, label, {"revenue_share_percent": "20"}).json()["id"])
    response = api_client.patch(
        f"/api/datasets/{dataset.pk}/", {"terms": {"revenue_share_percent": "86"}}, format="json"
    )
    assert response.status_code == 400 and "at most 75 %" in str(response.json())
    dataset.refresh_from_db()
    assert dataset.revenue_share_percent == Decimal("20.00")
    assert not LedgerEntry.objects.filter(event="dataset.terms_set").exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("licence_name", "L" * 201, "licence_name is at most 200 characters"),
        ("attribution", "A" * 501, "attribution is at most 500 characters"),
        ("territory", "T" * 101, "territory is at most 100 characters"),
        ("licence_name", "CC\x00BY", "licence_name must not contain NUL characters"),
        ("attribution", "Bach\x00", "attribution must not contain NUL characters"),
        ("territory", "\x00", "territory must not contain NUL characters"),
    ],
)
def test_overlong_or_nul_terms_are_refused_on_create_and_update(api_client, label, field, value, message):
    response = _create(api_client, label, {field: value})
    assert response.status_code == 400 and message in str(response.json())
    assert not Dataset.objects.exists() and not LedgerEntry.objects.exists()

    dataset = factories.DatasetFactory(organisation=label, name="Existing")
    response = api_client.patch(f"/api/datasets/{dataset.pk}/", {"terms": {field: value}}, format="json")
    assert response.status_code == 400 and message in str(response.json())
    dataset.refresh_from_db()
    assert getattr(dataset, field) != value and not LedgerEntry.objects.exists()


def test_the_longest_terms_that_fit_are_kept(api_client, label):
    terms = {"licence_name": "L" * 200, "attribution": "A" * 500, "territory": "T" * 100}
    response = _create(api_client, label, terms)
    assert response.status_code == 201, response.content
    assert {k: response.json()["terms"][k] for k in terms} == terms


def test_a_change_of_terms_is_recorded_with_what_changed(api_client, label):
    dataset = Dataset.objects.get(pk=_create(api_client, label, {"revenue_share_percent": "10"}).json()["id"])
    response = api_client.patch(
        f"/api/datasets/{dataset.pk}/",
        {"terms": {"revenue_share_percent": "30", "attribution": "Label"}},
        format="json",
    )
    assert response.status_code == 200, response.content
    payload = LedgerEntry.objects.get(event="dataset.terms_set", subject_id=str(dataset.pk)).payload
    assert payload["changed"] == {
        "revenue_share_percent": {"from": "10.00", "to": "30.00"},
        "attribution": {"from": "", "to": "Label"},
    }
    assert payload["terms"]["revenue_share_percent"] == "30.00"
    assert payload["applies_to"] == "models trained after this entry"


def test_the_dataset_form_shows_why_a_share_is_too_large_and_creates_nothing(client):
    org = factories.OrganisationFactory()
    client.force_login(factories.user_with_role("label", org))
    response = client.post(
        "/datasets/new/",
        {
            "organisation": org.slug,
            "name": "Greedy",
            "training_allowed": "on",
            "revenue_share_percent": "90",
            "territory": "EU",
        },
    )
    assert response.status_code == 200
    assert "at most 75 %" in response.content.decode()
    assert not Dataset.objects.exists() and not LedgerEntry.objects.exists()
