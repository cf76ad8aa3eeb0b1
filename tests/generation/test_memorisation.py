"""The memorisation check of token models (issue 16 §5): like the VAE's, a trained LSTM or Transformer has its
samples screened against its own training corpus, and a model whose pieces copy it may not publish."""

from __future__ import annotations

import pytest
import torch

from generation import services
from generation.engine import tokens as tok
from generation.engine.anticopy import NgramGuard
from generation.engine.baseline import readiness
from generation.engine.markov import MarkovHarmony
from generation.engine.models import get_model
from generation.memorisation import memorisation_check, memorisation_readiness, memorisation_samples
from generation.models import TrainedModel
from generation.request import training_scores
from ledgerline.jobs.models import Job
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(tmp_path):
    label_org = factories.OrganisationFactory(slug="label")
    dataset = factories.ingested_chorales(tmp_path, organisation=label_org, count=3, name="Chorales", is_public=True)
    studio = factories.OrganisationFactory(slug="studio")
    model = TrainedModel.objects.create(
        name="tiny", arch="lstm", organisation=studio, config={"size": "debug", "memorisation_samples": 1}
    )
    model.datasets.set([dataset])
    pairs = training_scores(model)
    model.training_items = [{"corpus_item": item.pk, "dataset": dataset.pk, "sha256": item.sha256} for item, _ in pairs]
    model.save()
    job = Job.objects.create(kind="train", organisation=studio, params={"model": model.pk})
    return {"model": model, "pairs": pairs, "job": job}


def test_a_token_model_is_screened_with_and_without_the_guard_and_a_copying_model_is_refused(corpus):
    """One ingest for both halves (it costs seconds): the platform's check on a debug LSTM, then the same check
    on pieces that are the training chorales themselves, which it must flag."""
    torch.manual_seed(0)
    net = get_model("lstm", {"size": "debug"}, tok.VOCAB.size).eval()
    scores = [score for _, score in corpus["pairs"]]
    guard = NgramGuard.from_melodies(tok.melody_pitches(tok.encode_melody(s)) for s in scores)
    result = services._token_memorisation(
        net, model=corpus["model"], markov=MarkovHarmony().fit(scores), guard=guard, job=corpus["job"]
    )
    check = result["memorisation"]
    assert check["samples"] == 1 and check["unmeasured"] == 0  # the corpus is indexed: every sample measured
    assert result["ready"] is (check["flagged_guarded"] == 0)

    def copy(seed: int, key: str, guarded: bool):
        return scores[seed % len(scores)], 0

    copied = memorisation_check(copy, model=corpus["model"], samples=1, job=None)
    assert copied["flagged_guarded"] == 1 and copied["flagged_unguarded"] == 1
    metrics = {"ready": True, **memorisation_readiness(copied)}
    assert metrics["ready"] is False and "1 of 1 samples were flagged" in readiness("lstm", metrics)


def test_debug_token_models_are_not_checked_unless_asked_and_others_screen_200():
    model = TrainedModel(name="m", arch="lstm", config={"size": "debug", "memorisation_samples": 1})
    assert memorisation_samples(model) == 1
    model.config = {"size": "debug"}
    assert memorisation_samples(model, default=0) == 0
    model.config = {}
    assert memorisation_samples(model) == 200
