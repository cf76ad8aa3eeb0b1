"""No undertrained model in front of a user (issue 17 §1): a neural model whose held-out NLL does not beat the
Markov baseline over the same tokens is `not ready`, and the tracks it generates cannot be published."""

from __future__ import annotations

import math

import pytest
from django.core.management import call_command

from generation.engine.baseline import markov_baseline_nll, readiness, readiness_metrics
from generation.models import TrainedModel
from ledgerline.catalogue.models import TrackStatus
from ledgerline.ledger.models import LedgerEntry
from rights.market.models import Asset
from tests import factories
from tests.rights.market import market_people, screened_track

WORSE = {"held_out_nll_per_token": 3.2, "baseline_nll_per_token": 2.5, **readiness_metrics(3.2, 2.5)}


# --- the baseline, pure -----------------------------------------------------------------------------------
def test_the_first_order_baseline_is_add_one_smoothed_counts_over_the_same_targets():
    # training bigrams (targets are every token but the first): 1->2, 2->1, 1->2; unigrams 2, 1, 2.
    nll = markov_baseline_nll([[1, 2, 1, 2]], [[1, 2, 3]], vocab_size=4, order=1, k=1.0)
    p0_2, p0_3 = (2 + 1) / (3 + 4), (0 + 1) / (3 + 4)
    p_2_after_1 = (2 + 4 * p0_2) / (2 + 4)  # context 1 seen twice, both times followed by 2
    p_3_after_2 = (0 + 4 * p0_3) / (1 + 4)
    assert nll == pytest.approx(-(math.log(p_2_after_1) + math.log(p_3_after_2)) / 2)


def test_every_baseline_distribution_sums_to_one_and_unseen_contexts_back_off():
    training = [[1, 2, 3, 2, 1], [1, 3, 3, 2]]
    for order in (0, 1, 2):
        total = sum(
            math.exp(
                -markov_baseline_nll(training, [[1, 3, t]], 5, order=order) * 2
                + markov_baseline_nll(training, [[1, 3]], 5, order=order)
            )
            for t in range(5)
        )
        assert total == pytest.approx(1.0)
    # context (4, 4) never seen: order 2 falls back to order 1's (4,) (also unseen) and then to the unigram.
    assert markov_baseline_nll(training, [[4, 4, 2]], 5, order=2) == pytest.approx(
        markov_baseline_nll(training, [[4, 4, 2]], 5, order=0)
    )


def test_the_baseline_refuses_held_out_melodies_with_nothing_to_score():
    with pytest.raises(ValueError, match="no held-out target tokens"):
        markov_baseline_nll([[1, 2]], [[1]], vocab_size=3)


def test_readiness_needs_a_lower_nll_than_the_baseline_and_markov_models_are_always_ready():
    assert readiness_metrics(2.0, 2.5) == {"ready": True}
    assert readiness("lstm", readiness_metrics(2.5, 2.5)) == (
        "held-out NLL 2.5000 is not better than the Markov baseline's 2.5000 nats/token"
    )
    assert "no held-out pieces" in readiness("transformer", readiness_metrics(None, 2.5))
    assert readiness("markov", {"ready": False}) is None
    assert readiness("lstm", {}) is None  # trained before readiness was measured


# --- training records it ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_training_a_network_stores_the_baseline_nll_and_its_readiness(tmp_path, capsys):
    dataset = factories.ingested_chorales(
        tmp_path,
        organisation=factories.OrganisationFactory(slug="label"),
        count=4,
        name="Chorales",
        is_public=True,
        licence_name="CC-BY",
    )
    factories.user_with_role("creator", factories.OrganisationFactory(slug="studio"))
    call_command(
        "train_model",
        "--name",
        "tiny",
        "--arch",
        "lstm",
        "--datasets",
        str(dataset.pk),
        "--epochs",
        "1",
        "--size",
        "debug",
        "--json",
    )
    metrics = TrainedModel.objects.get(name="tiny").metrics
    assert metrics["baseline_nll_per_token"] > 0 and metrics["held_out_nll_per_token"] > 0
    assert metrics["ready"] is (metrics["held_out_nll_per_token"] < metrics["baseline_nll_per_token"])
    assert ("not_ready_reason" in metrics) is (not metrics["ready"])


# --- publishing and the page ------------------------------------------------------------------------------
@pytest.fixture
def market(db):
    market = market_people()
    market.model.arch = "lstm"
    market.model.save(update_fields=["arch"])
    return market


@pytest.mark.django_db
def test_a_track_of_a_model_worse_than_the_baseline_cannot_be_published_and_says_why(market, api_client):
    market.model.metrics = WORSE
    market.model.save(update_fields=["metrics"])
    track = screened_track(market)
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 400
    assert "is not ready: held-out NLL 3.2000 is not better than the Markov baseline's 2.5000" in str(response.json())
    track.refresh_from_db()
    assert track.status == TrackStatus.CLEAR and not Asset.objects.exists()
    assert not LedgerEntry.objects.filter(event="track.published").exists()


@pytest.mark.django_db
def test_a_track_of_a_ready_model_publishes(market, api_client):
    market.model.metrics = {"held_out_nll_per_token": 2.1, "baseline_nll_per_token": 2.5, **readiness_metrics(2.1, 2.5)}
    market.model.save(update_fields=["metrics"])
    track = screened_track(market)
    api_client.force_authenticate(market.creator)
    response = api_client.post(f"/api/tracks/{track.pk}/publish/")
    assert response.status_code == 202, response.content
    track.refresh_from_db()
    assert track.status == TrackStatus.PUBLISHED


@pytest.mark.django_db
def test_the_generation_page_says_a_model_is_not_ready_and_why(market, client):
    market.model.metrics = WORSE
    market.model.save(update_fields=["metrics"])
    client.force_login(market.creator)
    body = client.get("/generation/").content.decode()
    reason = "not ready: held-out NLL 3.2000 is not better than the Markov baseline&#x27;s 2.5000 nats/token"
    assert f'id="not-ready-{market.model.pk}"' in body and reason in body
    assert "for trying out only, its tracks cannot be published" in body  # it still generates for trying out
    assert _badge(body, market.model) == "Trained · not ready to publish"
    market.model.metrics = {"ready": True}
    market.model.save(update_fields=["metrics"])
    body = client.get("/generation/").content.decode()
    assert "not ready" not in body and _badge(body, market.model) == "Trained · ready to publish"


def _badge(body: str, model: TrainedModel) -> str:
    """The words of a model's status badge on a page."""
    return body.split(f'id="model-status-{model.pk}">', 1)[1].split("</span>", 1)[0]


@pytest.mark.django_db
def test_a_trained_model_that_is_not_ready_says_trained_and_why_not_ready_on_every_page(market, client):
    """Its status value stays "ready" (trained) but no page shows a bare "Ready" beside "Not ready to publish"."""
    market.model.metrics = WORSE
    market.model.save(update_fields=["metrics"])
    assert market.model.status == "ready"
    client.force_login(market.creator)
    page = client.get(f"/generation/models/{market.model.pk}/").content.decode()
    assert _badge(page, market.model) == "Trained · not ready to publish" and ">Ready<" not in page
    assert "Not ready to publish: held-out NLL 3.2000 is not better than the Markov baseline&#x27;s 2.5000" in page
    assert "Its tracks are for trying out only and cannot be published." in page
    client.force_login(market.label_a)
    usage = client.get(f"/datasets/{market.dataset_a.pk}/usage/").content.decode()
    assert f"<td>{market.model.name}</td>" in usage and "<td>Trained · not ready to publish</td>" in usage


@pytest.mark.django_db
def test_the_demo_generates_with_the_markov_model_while_its_converged_lstm_is_not_ready():
    from generation.demo import demo_model

    studio = factories.OrganisationFactory(slug="demo-studio")
    TrainedModel.objects.create(name="demo-markov", arch="markov", organisation=studio, status="ready")
    lstm = TrainedModel.objects.create(
        name="demo-lstm", arch="lstm", organisation=studio, status="ready", metrics={"stopped": "patience", **WORSE}
    )
    assert demo_model().name == "demo-markov"
    TrainedModel.objects.filter(pk=lstm.pk).update(metrics={"stopped": "patience", **readiness_metrics(2.1, 2.5)})
    assert demo_model().name == "demo-lstm"
