"""A small real market: two labels' datasets, a model trained on them (its row), a rendered four-bar track by
a creator, screened clear, and two buyers. Shared by the market tests and the market benchmarks: the people are
made here with the tests' factories (their password, factory defaults); the model, the tracks and the music come
from benchmarks/_data.py, which the benchmarks use too."""

from __future__ import annotations

from benchmarks._data import Market, four_part_score, market_model, screened_track
from tests import factories

__all__ = ["Market", "four_part_score", "market_people", "screened_track"]


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
    model = market_model(studio=studio, dataset_a=dataset_a, dataset_b=dataset_b, prefix=prefix)
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
