"""The benchmarks' market: two labels' datasets, a model trained on them (its row), a creator's rendered
four-part tracks, screened clear, and buyers.

Built through the platform's own services (accounts, generation), not the tests' factories: benchmarks never
import `tests` (the import-linter contract in pyproject.toml). The tests build the same market with factory_boy
in tests/rights/market.py, from the same `four_part_score`. Needs Django set up (`django.setup()`) and a database the benchmark may fill.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from ledgerline.music.events import Score, TrackInfo, make_notes, with_seconds

PASSWORD = "bench-market-password"
_usernames = itertools.count(1)


def four_part_score(bars: int = 4, tempo: float = 120.0, seed: int = 0) -> Score:
    """A melody, chords, bass and drums over `bars` bars of 4/4, different for each seed."""
    rng = np.random.default_rng(seed)
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    melody = make_notes(
        [(int(rng.choice(scale)) + 12, b * 4 + q, 1.0) for b in range(bars) for q in range(4)], track=0, program=73
    )
    roots = [48, 53, 55, 48]
    chords = make_notes(
        [(roots[b % 4] + 12 + step, b * 4, 4.0) for b in range(bars) for step in (0, 4, 7)],
        track=1,
        program=0,
        velocity=70,
    )
    bass = make_notes(
        [(roots[b % 4] - 12, b * 4 + half, 2.0) for b in range(bars) for half in (0, 2)], track=2, program=33
    )
    drums = make_notes(
        [(36 if q % 2 == 0 else 38, b * 4 + q, 0.5) for b in range(bars) for q in range(4)],
        track=3,
        program=0,
        is_drum=True,
    )
    return with_seconds(
        Score(
            notes=np.concatenate([melody, chords, bass, drums]),
            tracks=[
                TrackInfo("melody", 73),
                TrackInfo("harmony", 0),
                TrackInfo("bass", 33),
                TrackInfo("drums", 0, is_drum=True),
            ],
            tempo_bpm=tempo,
            time_signature=(4, 4),
            key="C major",
            title=f"Market piece {seed}",
        )
    )


def user_with_role(role: str, organisation: Any = None, *, prefix: str = "") -> Any:
    """A new user holding `role` in `organisation` (a new organisation of its own when none is given)."""
    from ledgerline.accounts.services import membership_grant, organisation_create, user_create

    username = f"{prefix}{role}-{next(_usernames)}"
    if organisation is None:
        organisation = organisation_create(slug=f"{username}-org", name=f"{username} organisation")
    user = user_create(username=username, password=PASSWORD, email=f"{username}@example.org")
    membership_grant(user=user, organisation=organisation, role=role)
    return user


@dataclass
class Market:
    label_a: Any
    label_b: Any
    dataset_a: Any
    dataset_b: Any
    creator: Any
    studio: Any
    model: Any
    buyer: Any
    other_buyer: Any
    reviewer: Any


def market_people(prefix: str = "") -> Market:
    """The people, datasets and model of a market; `prefix` keeps the organisations of several markets apart."""
    from generation.models import ModelStatus, TrainedModel
    from generation.services import model_terms_snapshot
    from ledgerline.accounts.services import organisation_create
    from ledgerline.catalogue.models import Dataset

    label_a_org = organisation_create(slug=f"{prefix}label-a", name="Label A")
    label_b_org = organisation_create(slug=f"{prefix}label-b", name="Label B")
    dataset_a = Dataset.objects.create(
        organisation=label_a_org,
        name="Chorales",
        training_allowed=True,
        generation_allowed=True,
        revenue_share_percent="10.00",
        attribution="J. S. Bach chorales, Label A",
    )
    dataset_b = Dataset.objects.create(
        organisation=label_b_org,
        name="Folk",
        training_allowed=True,
        generation_allowed=True,
        revenue_share_percent="20.00",
    )
    studio = organisation_create(slug=f"{prefix}studio", name="Studio")
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
        label_a=user_with_role("label", label_a_org, prefix=prefix),
        label_b=user_with_role("label", label_b_org, prefix=prefix),
        dataset_a=dataset_a,
        dataset_b=dataset_b,
        creator=user_with_role("creator", studio, prefix=prefix),
        studio=studio,
        model=model,
        buyer=user_with_role("buyer", prefix=prefix),
        other_buyer=user_with_role("buyer", prefix=prefix),
        reviewer=user_with_role("reviewer", prefix=prefix),
    )


def screened_track(market: Market, *, bars: int = 4, tempo: float = 120.0, seed: int = 0) -> Any:
    """A rendered track (MIDI, four FLAC stems, mix) as generation leaves it, screened clear."""
    from ledgerline.catalogue.models import Track, TrackStatus
    from ledgerline.rendering import render_track_score

    score = four_part_score(bars=bars, tempo=tempo, seed=seed)
    blobs = render_track_score(score)
    return Track.objects.create(
        organisation=market.studio,
        created_by=market.creator,
        title=score.title,
        model=market.model,
        status=TrackStatus.CLEAR,
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
