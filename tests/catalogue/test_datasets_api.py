import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from ledgerline.catalogue.models import Dataset, DatasetUpload
from ledgerline.ledger.models import LedgerEntry
from tests import factories
from tests.helpers import media_files

pytestmark = pytest.mark.django_db


def _create(api_client, user, org, **extra):
    api_client.force_authenticate(user)
    return api_client.post("/api/datasets/", {"organisation": org.slug, "name": "Chorales", **extra}, format="json")


def test_label_creates_dataset_with_terms_and_ledger_records_it(api_client):
    org = factories.OrganisationFactory()
    label = factories.user_with_role("label", org)
    response = _create(api_client, label, org, terms={"revenue_share_percent": "12.5", "training_allowed": True})
    assert response.status_code == 201, response.content
    assert response.json()["terms"]["revenue_share_percent"] == "12.50"
    entry = LedgerEntry.objects.get(event="dataset.created")
    assert entry.subject_id == str(response.json()["id"]) and entry.private


@pytest.mark.parametrize("share", ["100.01", "-1", "abc", "12.345"])
def test_terms_with_impossible_share_are_refused_and_nothing_is_written(api_client, share):
    org = factories.OrganisationFactory()
    label = factories.user_with_role("label", org)
    response = _create(api_client, label, org, terms={"revenue_share_percent": share})
    assert response.status_code == 400
    assert "revenue_share_percent" in str(response.json())
    assert not Dataset.objects.exists() and not LedgerEntry.objects.exists()


def test_unknown_term_is_refused(api_client):
    org = factories.OrganisationFactory()
    response = _create(api_client, factories.user_with_role("label", org), org, terms={"royalty": 3})
    assert response.status_code == 400 and "royalty" in str(response.json())


def test_buyer_cannot_create_a_dataset(api_client):
    org = factories.OrganisationFactory()
    response = _create(api_client, factories.user_with_role("buyer", org), org)
    assert response.status_code == 403
    assert not Dataset.objects.exists()


def test_label_of_another_organisation_cannot_create_or_upload(api_client):
    org = factories.OrganisationFactory()
    outsider = factories.user_with_role("label")
    assert _create(api_client, outsider, org).status_code == 403
    dataset = factories.DatasetFactory(organisation=org, is_public=True)
    api_client.force_authenticate(outsider)
    upload = SimpleUploadedFile("a.mid", b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60")
    response = api_client.post(f"/api/datasets/{dataset.pk}/upload/", {"files": [upload]}, format="multipart")
    assert response.status_code == 403
    assert not DatasetUpload.objects.exists()


def test_private_datasets_are_invisible_to_other_organisations(api_client):
    dataset = factories.DatasetFactory(is_public=False)
    api_client.force_authenticate(factories.user_with_role("label"))
    assert api_client.get(f"/api/datasets/{dataset.pk}/").status_code == 404
    assert api_client.get("/api/datasets/").json()["count"] == 0


def test_upload_over_the_size_limit_is_refused_and_nothing_is_kept(api_client, settings):
    settings.LEDGERLINE_MAX_UPLOAD_BYTES = 1000
    org = factories.OrganisationFactory()
    label = factories.user_with_role("label", org)
    dataset = factories.DatasetFactory(organisation=org)
    api_client.force_authenticate(label)
    big = SimpleUploadedFile("big.wav", b"RIFF" + b"\x00" * 2000)
    response = api_client.post(f"/api/datasets/{dataset.pk}/upload/", {"files": [big]}, format="multipart")
    assert response.status_code == 400
    assert "upload limit" in str(response.json())
    assert not DatasetUpload.objects.exists()
    blobs = settings.MEDIA_ROOT / "blobs"
    assert not blobs.exists() or not any(p.is_file() and p.stat().st_size > 1000 for p in blobs.rglob("*"))


def test_empty_upload_is_refused(api_client):
    org = factories.OrganisationFactory()
    dataset = factories.DatasetFactory(organisation=org)
    api_client.force_authenticate(factories.user_with_role("label", org))
    response = api_client.post(
        f"/api/datasets/{dataset.pk}/upload/", {"files": [SimpleUploadedFile("e.mid", b"")]}, format="multipart"
    )
    assert response.status_code == 400 and "empty" in str(response.json())
    assert not DatasetUpload.objects.exists()


def test_openapi_schema_is_served(api_client):
    api_client.force_authenticate(factories.user_with_role("label"))
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/datasets/" in response.content


def _midi(pitch: int) -> bytes:
    from ledgerline.music.events import Score, TrackInfo, make_notes, with_seconds

    score = Score(notes=make_notes([(pitch, 0, 1), (pitch + 2, 1, 1)]), tracks=[TrackInfo("Piano", 0)])
    return with_seconds(score).to_midi_bytes()


def test_a_file_name_whose_suffix_is_not_plain_ascii_is_kept_and_read_by_its_content(api_client, settings):
    org = factories.OrganisationFactory()
    dataset = factories.DatasetFactory(organisation=org)
    api_client.force_authenticate(factories.user_with_role("label", org))
    files = [SimpleUploadedFile("piece.mïd", _midi(60)), SimpleUploadedFile("piece.mi d", _midi(67))]
    response = api_client.post(f"/api/datasets/{dataset.pk}/upload/", {"files": files}, format="multipart")
    assert response.status_code == 202, response.content
    assert sorted(DatasetUpload.objects.values_list("original_name", flat=True)) == ["piece.mi d", "piece.mïd"]
    assert all("." not in path.rsplit("/", 1)[-1] for path in DatasetUpload.objects.values_list("blob_path", flat=True))
    assert dataset.items.filter(format="midi").count() == 2
    assert not [f for f in media_files(settings) if ".incoming-" in f]


def test_a_refused_file_keeps_none_of_the_files_sent_with_it(api_client, settings):
    org = factories.OrganisationFactory()
    dataset = factories.DatasetFactory(organisation=org)
    api_client.force_authenticate(factories.user_with_role("label", org))
    files = [SimpleUploadedFile("good.mid", _midi(60)), SimpleUploadedFile("empty.mid", b"")]
    response = api_client.post(f"/api/datasets/{dataset.pk}/upload/", {"files": files}, format="multipart")
    assert response.status_code == 400 and "empty.mid: the file is empty" in str(response.json())
    assert not DatasetUpload.objects.exists() and media_files(settings) == []
