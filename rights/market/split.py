"""Exact revenue shares of one sale (no Django): largest-remainder rounding to the cent.

Who gets what of a sale of `amount`:
  platform      `platform_percent` of the amount
  each label    its dataset's requested `percent`, pro rata to that dataset's share of the training data
                (`weight`, e.g. the number of training items it contributed) when several datasets trained it
  each rights holder  a fixed `percent` of the amount (a matched work a reviewer cleared by requiring a licence)
  creator       the rest
Exact shares are Decimal fractions; each is floored to the cent and the cents left over go to the largest
remainders (ties: payee name), so the shares always sum to the amount exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

CENT = Decimal("0.01")


@dataclass(frozen=True)
class LabelTerm:
    payee: str
    percent: Decimal  # the share of sales the dataset's licence asks, 0..100
    weight: Decimal  # this dataset's share of the training data (any positive unit)


def money(value: Decimal | str | int) -> Decimal:
    """A price: positive, at most 2 decimals. Raises ValueError with the reason."""
    amount = Decimal(str(value))
    if not amount.is_finite() or amount <= 0:
        raise ValueError(f"a price must be positive, not {value}")
    if amount != amount.quantize(CENT):
        raise ValueError(f"a price has at most 2 decimals, not {value}")
    return amount


def revenue_split(
    amount: Decimal,
    *,
    creator: str,
    platform: str,
    platform_percent: Decimal,
    labels: list[LabelTerm],
    rights_holders: dict[str, Decimal] | None = None,
) -> dict[str, Decimal]:
    amount = money(amount)
    if not Decimal(0) <= platform_percent <= 100:
        raise ValueError("the platform fee must be between 0 and 100 percent")
    total_weight = sum((term.weight for term in labels), Decimal(0))
    exact: dict[str, Decimal] = {platform: amount * platform_percent / 100}
    for term in labels:
        if term.weight <= 0 or not Decimal(0) <= term.percent <= 100:
            raise ValueError(f"bad licence terms for {term.payee}: percent {term.percent}, weight {term.weight}")
        exact[term.payee] = exact.get(term.payee, Decimal(0)) + amount * term.percent / 100 * term.weight / total_weight
    for payee, percent in (rights_holders or {}).items():
        if not Decimal(0) <= percent <= 100:
            raise ValueError(f"bad share for {payee}: percent {percent}")
        exact[payee] = exact.get(payee, Decimal(0)) + amount * percent / 100
    taken = sum(exact.values(), Decimal(0))
    if taken > amount:
        raise ValueError("the platform fee and the labels' and rights holders' shares exceed the sale")
    exact[creator] = exact.get(creator, Decimal(0)) + amount - taken
    floored = {payee: share.quantize(CENT, rounding=ROUND_FLOOR) for payee, share in exact.items()}
    leftover = int((amount - sum(floored.values(), Decimal(0))) / CENT)
    for payee in sorted(exact, key=lambda p: (-(exact[p] - floored[p]), p))[:leftover]:
        floored[payee] += CENT
    return floored
