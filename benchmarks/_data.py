"""The benchmarks' market: two labels' datasets, a model trained on them (its row), a creator's rendered
four-part tracks, screened clear, and buyers; and the rows of a synthetic catalogue at scale (loops and offers,
no audio) that the market and load benchmarks fill.

Built through the platform's own services (accounts, generation), not the tests' factories: benchmarks never
import `tests` (the import-linter contract in pyproject.toml). The tests build the same people with factory_boy
in tests/rights/market.py and share the rest from here (`Market`, `market_model`, `screened_track`,
`four_part_score`). Needs Django set up (`django.setup()`) and a database the benchmark may fill.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np

from ledgerline.music.events import Score, TrackInfo, make_notes, with_seconds

PASSWORD = "bench-market-password"
_usernames = itertools.count(1)
#: The keys and the loops (stem, GM program, is drum; "mix" is the whole track) of a synthetic catalogue.
KEYS = [f"{n} {m}" for n in ["C", "G", "D", "A", "E", "F", "Bb", "Eb"] for m in ("major", "minor")]
STEMS = [("melody", 73, False), ("harmony", 0, False), ("bass", 33, False), ("drums", 0, True), ("mix", None, False)]
LICENCE_PRICES = (("non_exclusive", "4.99"), ("extended", "29.00"), ("exclusive", "199.00"))


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
    model = market_model(studio=studio, dataset_a=dataset_a, dataset_b=dataset_b, prefix=prefix)
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


def market_model(*, studio: Any, dataset_a: Any, dataset_b: Any, prefix: str = "") -> Any:
    """The studio's Markov model (its row, ready) trained on three items of dataset A and one of B, with the
    datasets' terms recorded as `model_train_start` records them."""
    from generation.models import ModelStatus, TrainedModel
    from generation.services import model_terms_snapshot

    model = TrainedModel.objects.create(
        name=f"{prefix}market-model",
        arch="markov",
        organisation=studio,
        status=ModelStatus.READY,
        training_items=[{"corpus_item": i, "dataset": dataset_a.pk, "sha256": f"{i:064x}"} for i in range(3)]
        + [{"corpus_item": 9, "dataset": dataset_b.pk, "sha256": f"{9:064x}"}],
    )
    model.datasets.set([dataset_a, dataset_b])
    model_terms_snapshot(model=model, datasets=[dataset_a, dataset_b])
    return model


def screened_track(market: Market, *, bars: int = 4, tempo: float = 120.0, seed: int = 0, status: str = "clear") -> Any:
    """A rendered track (MIDI, four FLAC stems, mix) as generation leaves it, with a screening status (clear)."""
    from ledgerline.catalogue.models import Track
    from ledgerline.rendering import render_track_score

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


def catalogue_asset(rng: random.Random, *, track: Any, start_bar: int, number: int, method: str) -> Any:
    """One loop row of a synthetic catalogue (no audio: its paths are placeholders) of `track`, with a stem,
    a length of 1-8 bars and three prices drawn from `rng`; `number` makes its content hash unique."""
    from rights.market.models import Asset, AssetKind

    stem, program, is_drum = rng.choice(STEMS)
    bars = rng.choice([1, 2, 4, 8])
    prices = {kind: Decimal(price) + Decimal(rng.randint(0, 500)) / 100 for kind, price in LICENCE_PRICES}
    return Asset(
        track=track,
        organisation=track.organisation,
        kind=AssetKind.MIX if stem == "mix" else AssetKind.STEM,
        stem=stem,
        program=program,
        is_drum=is_drum,
        start_bar=start_bar,
        bars=bars,
        key=track.key,
        tempo_bpm=track.tempo_bpm,
        time_signature="4/4",
        duration_s=bars * 2.0,
        sample_rate=22050,
        method=method,
        path="x",
        sha256=f"{number:064x}",
        size=1,
        preview_path="x",
        waveform_path="x",
        price_non_exclusive=prices["non_exclusive"],
        price_extended=prices["extended"],
        price_exclusive=prices["exclusive"],
        from_price=min(prices.values()),
        search_text=Asset.search_text_for(title=track.title, stem=stem, key=track.key),
    )


def catalogue_offers(assets: list[Any]) -> list[Any]:
    """The three licence offers of each asset, at its prices (unsaved)."""
    from rights.market.models import LicenceOffer

    return [
        LicenceOffer(asset=asset, licence_type=kind, price=getattr(asset, f"price_{kind}"), currency="EUR")
        for asset in assets
        for kind, _ in LICENCE_PRICES
    ]
