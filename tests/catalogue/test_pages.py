import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ledgerline.catalogue.models import Dataset, DatasetUpload
from tests import factories

pytestmark = pytest.mark.django_db


def test_pages_require_login(client):
    response = client.get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.get("/accounts/login/").status_code == 200


def test_dashboard_shows_a_panel_per_role(client):
    org = factories.OrganisationFactory()
    user = factories.user_with_role("label", org)
    factories.MembershipFactory(user=user, organisation=org, role="buyer")
    client.force_login(user)
    body = client.get("/").content.decode()
    assert 'id="label-panel"' in body and 'id="buyer-panel"' in body
    assert 'id="creator-panel"' not in body and 'id="reviewer-panel"' not in body


def test_label_creates_a_dataset_through_the_form(client):
    org = factories.OrganisationFactory()
    client.force_login(factories.user_with_role("label", org))
    response = client.post(
        "/datasets/new/",
        {
            "organisation": org.slug,
            "name": "Folk tunes",
            "training_allowed": "on",
            "generation_allowed": "on",
            "revenue_share_percent": "7.5",
            "territory": "EU",
        },
    )
    dataset = Dataset.objects.get(name="Folk tunes")
    assert response.status_code == 302 and response["Location"] == f"/datasets/{dataset.pk}/"
    assert str(dataset.revenue_share_percent) == "7.50" and dataset.territory == "EU"


def test_buyer_cannot_open_the_dataset_form_or_post_an_upload(client):
    org = factories.OrganisationFactory()
    dataset = factories.DatasetFactory(organisation=org, is_public=True)
    client.force_login(factories.user_with_role("buyer", org))
    assert client.get("/datasets/new/").status_code == 403
    upload = SimpleUploadedFile("a.mid", b"MThd")
    assert client.post(f"/datasets/{dataset.pk}/", {"files": upload}).status_code == 403
    assert not DatasetUpload.objects.exists()


def test_private_dataset_page_is_hidden_from_other_organisations(client):
    dataset = factories.DatasetFactory(is_public=False)
    client.force_login(factories.user_with_role("label"))
    assert client.get(f"/datasets/{dataset.pk}/").status_code == 404
