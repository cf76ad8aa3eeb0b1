"""A small real market: two labels' datasets, a model trained on them (its row), a rendered four-bar track by
a creator, screened clear, and two buyers. Shared by the market tests and the market benchmarks."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks._data import four_part_score
from generation.models import ModelStatus, TrainedModel
from generation.services import model_terms_snapshot
from ledgerline.catalogue.models import Track, TrackStatus
from ledgerline.rendering import render_track_score
from tests import factories


@dataclass
class Market:
    label_a: object
    label_b: object
    dataset_a: object
    dataset_b: object
    creator: object
    studio: object
    model: TrainedModel
    buyer: object
    other_buyer: object
    reviewer: object


def market_people(prefix: str = "") -> Market:
    label_a_org = factories.OrganisationFactory(slug=f"{prefix}label-a")
    label_b_org = factories.OrganisationFactory(slug=f"{prefix}label-b")
    dataset_a = factories.DatasetFactory(
        organisation=label_a_org,
        name="Chorales",
        revenue_share_percent="10.00",
        attribution="J. S. Bach chorales, Label A",
    )
    dataset_b = factories.DatasetFactory(organisation=label_b_org, name="Folk", revenue_share_percent="20.00")
    studio = factories.OrganisationFactory(slug=f"{prefix}studio")
    creator = factories.user_with_role("creator", studio)
    model = TrainedModel.objects.create(
        name=f"{prefix}market-model",
        arch="markov",
        organisation=studio,
        status=ModelStatus.READY,
        training_items=[{"corpus_item": i, "dataset": dataset_a.pk, "sha256": f"{i:064x}"} for i in range(3)]
        + [{"corpus_item": 9, "dataset": dataset_b.pk, "sha256": f"{9:064x}"}],
    )
    model.datasets.set([dataset_a, dataset_b])
    model_terms_snapshot(model=model, datasets=[dataset_a, dataset_b])  # as `model_train_start` does
    return Market(
        label_a=factories.user_with_role("label", label_a_org),
        label_b=factories.user_with_role("label", label_b_org),
        dataset_a=dataset_a,
        dataset_b=dataset_b,
        creator=creator,
        studio=studio,
        model=model,
        buyer=factories.user_with_role("buyer"),
        other_buyer=factories.user_with_role("buyer"),
        reviewer=factories.user_with_role("reviewer"),
    )


def screened_track(
    market: Market, *, bars: int = 4, tempo: float = 120.0, seed: int = 0, status: str = TrackStatus.CLEAR
) -> Track:
    """A rendered track (MIDI, four FLAC stems, mix) as generation leaves it, with a screening status."""
    score = four_part_score(bars=bars, tempo=tempo, seed=seed)
    blobs = render_track_score(score)
    return Track.objects.create(
        organisation=market.studio,
        created_by=market.creator,
        title=score.title,
        model=market.model,
        status=status,
        midi_path=blobs["midi"].relpath,
        events_path=blobs["events"].relpath,
        audio_path=blobs["mix"].relpath,
        preview_path=blobs["preview"].relpath,
        stems=blobs["stems"],
        tempo_bpm=tempo,
        key="C major",
        time_signature="4/4",
        bars=bars,
        duration_s=round(score.duration_s, 3),
        content_sha256=blobs["midi"].sha256,
        provenance={"mix_sha256": blobs["mix"].sha256},
    )
