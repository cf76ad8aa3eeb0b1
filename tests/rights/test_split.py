"""Revenue shares sum exactly to the sale, to the cent, for any price and terms (property test)."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rights.market.split import LabelTerm, money, revenue_split

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
percents = st.decimals(min_value=Decimal(0), max_value=Decimal(30), places=2)
weights = st.integers(min_value=1, max_value=500).map(Decimal)


@given(prices, percents, st.lists(st.tuples(percents, weights), max_size=5), st.lists(percents, max_size=2))
def test_shares_sum_exactly_and_are_whole_cents(price, fee, terms, holders):
    labels = [LabelTerm(f"label-{i}", percent, weight) for i, (percent, weight) in enumerate(terms)]
    shares = revenue_split(
        price,
        creator="creator",
        platform="platform",
        platform_percent=fee,
        labels=labels,
        rights_holders={f"holder-{i}": percent / 2 for i, percent in enumerate(holders)},
    )
    assert sum(shares.values()) == price
    assert all(share == share.quantize(Decimal("0.01")) and share >= 0 for share in shares.values())


def test_two_datasets_share_pro_rata_to_their_training_data():
    shares = revenue_split(
        Decimal("10.00"),
        creator="c",
        platform="p",
        platform_percent=Decimal(15),
        labels=[LabelTerm("a", Decimal(10), Decimal(3)), LabelTerm("b", Decimal(10), Decimal(1))],
    )
    assert shares == {"p": Decimal("1.50"), "a": Decimal("0.75"), "b": Decimal("0.25"), "c": Decimal("7.50")}


def test_a_cent_that_cannot_be_split_goes_to_the_largest_remainder():
    shares = revenue_split(Decimal("0.01"), creator="c", platform="p", platform_percent=Decimal(50), labels=[])
    assert sum(shares.values()) == Decimal("0.01") and sorted(shares.values()) == [Decimal(0), Decimal("0.01")]


@pytest.mark.parametrize("price, message", [("0", "positive"), ("-5", "positive"), ("1.005", "2 decimals")])
def test_bad_prices_are_refused(price, message):
    with pytest.raises(ValueError, match=message):
        money(price)


def test_shares_that_exceed_the_sale_are_refused():
    with pytest.raises(ValueError, match="exceed"):
        revenue_split(
            Decimal("1"),
            creator="c",
            platform="p",
            platform_percent=Decimal(60),
            labels=[LabelTerm("a", Decimal(50), Decimal(1))],
        )


def test_a_rights_holder_takes_a_fixed_share_not_pro_rated_with_the_labels():
    shares = revenue_split(
        Decimal("100.00"),
        creator="c",
        platform="p",
        platform_percent=Decimal(15),
        labels=[LabelTerm("a", Decimal(10), Decimal(1))],
        rights_holders={"h": Decimal(10)},
    )
    assert shares == {"p": Decimal("15.00"), "a": Decimal("10.00"), "h": Decimal("10.00"), "c": Decimal("65.00")}
