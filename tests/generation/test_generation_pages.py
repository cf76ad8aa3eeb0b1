"""The creator's generation page: train a model, follow its job, generate a track."""

import pytest

from generation.models import TrainedModel
from ledgerline.catalogue.models import Track
from ledgerline.jobs.models import Job
from ledgerline.ledger.models import LedgerEntry
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def dataset(tmp_path):
    """A public dataset of two ingested chorales."""
    return factories.ingested_chorales(
        tmp_path,
        organisation=factories.OrganisationFactory(slug="label"),
        count=2,
        name="Chorales",
        is_public=True,
        licence_name="CC-BY",
    )


@pytest.fixture
def creator(db):
    return factories.user_with_role("creator", factories.OrganisationFactory(slug="studio"))


def train(client, dataset, **fields) -> object:
    data = {
        "organisation": "studio",
        "name": "harmony",
        "arch": "markov",
        "datasets": [dataset.pk],
        "epochs": 1,
        "size": "debug",
    } | fields
    return client.post("/generation/train/", data)


def test_creator_sees_the_train_form_with_ready_datasets(client, creator):
    ready = factories.DatasetFactory(name="Ready tunes", is_public=True, status="ready")
    factories.DatasetFactory(name="Still empty", is_public=True)
    client.force_login(creator)
    body = client.get("/generation/").content.decode()
    assert 'action="/generation/train/"' in body and 'name="arch"' in body and 'value="markov"' in body
    assert f'value="{ready.pk}"' in body and "Ready tunes" in body and "Still empty" not in body


def test_a_buyer_may_neither_open_the_page_nor_train(client):
    client.force_login(factories.user_with_role("buyer"))
    assert client.get("/generation/").status_code == 403
    assert train(client, factories.DatasetFactory(is_public=True, status="ready")).status_code == 403
    assert not TrainedModel.objects.exists()


def test_training_a_markov_model_through_the_page_shows_it_ready_with_a_generate_form(client, creator, dataset):
    client.force_login(creator)
    response = train(client, dataset)
    assert response.status_code == 302 and response["Location"] == "/generation/"
    model = TrainedModel.objects.get(name="harmony")
    assert model.status == "ready" and model.job.status == "succeeded" and model.metrics["train_pieces"] >= 1
    assert LedgerEntry.objects.filter(event="model.trained", subject_id=str(model.pk)).exists()
    body = client.get("/generation/").content.decode()
    assert "harmony" in body and f'data-job="{model.job_id}"' in body and "train_pieces" in body
    assert f'action="/generation/models/{model.pk}/generate/"' in body


def test_training_on_a_dataset_whose_licence_forbids_it_shows_the_reason(client, creator, dataset):
    dataset.training_allowed = False
    dataset.save()
    client.force_login(creator)
    response = train(client, dataset)
    assert response.status_code == 200
    assert "does not allow training" in response.content.decode() and "Chorales" in response.content.decode()
    assert not TrainedModel.objects.exists()


def test_impossible_generation_parameters_show_the_services_message(client, creator, dataset):
    client.force_login(creator)
    train(client, dataset)
    model = TrainedModel.objects.get(name="harmony")
    response = client.post(
        f"/generation/models/{model.pk}/generate/",
        {"bars": 0, "tempo": 100, "key": "C", "seed": 1, "temperature": 1, "top_k": 0, "top_p": 0.9},
    )
    assert response.status_code == 200 and "bars must be an integer in 1.." in response.content.decode()
    response = client.post(
        f"/generation/models/{model.pk}/generate/",
        {
            "bars": 2,
            "tempo": 100,
            "key": "C",
            "seed": 1,
            "temperature": 1,
            "top_k": 0,
            "top_p": 0.9,
            "programs": "lead=40",
        },
    )
    assert "unknown part(s) [&#x27;lead&#x27;]" in response.content.decode()
    assert not Track.objects.exists()


def test_generating_redirects_to_the_track_and_the_page_shows_its_job(client, creator, dataset):
    client.force_login(creator)
    train(client, dataset)
    model = TrainedModel.objects.get(name="harmony")
    response = client.post(
        f"/generation/models/{model.pk}/generate/",
        {
            "title": "Page piece",
            "bars": 2,
            "tempo": 110,
            "key": "G",
            "seed": 3,
            "temperature": 1,
            "top_k": 0,
            "top_p": 0.9,
            "anti_copy": "on",
            "programs": "melody=40",
        },
    )
    track = Track.objects.get(title="Page piece")
    assert response.status_code == 302 and response["Location"] == f"/tracks/{track.pk}/"
    assert track.generation_params["programs"] == {"melody": 40} and track.status in {"clear", "flagged"}
    job = Job.objects.get(pk=track.provenance["job"])
    body = client.get("/generation/").content.decode()
    assert f'href="/tracks/{track.pk}/"' in body and f'data-job="{job.pk}"' in body
    assert f'href="/rights/tracks/{track.pk}/provenance/"' in body
