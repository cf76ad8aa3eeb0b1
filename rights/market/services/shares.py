"""Who gets what of a sale: the platform fee, the training datasets' labels, matched works' rights holders where a
reviewer required a licence, and the creator the rest."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings

from ledgerline.accounts.models import Organisation
from ledgerline.catalogue.models import Track

from ..models import Order, PayeeKind, RevenueShare
from ..split import LabelTerm, revenue_split


@dataclass(frozen=True)
class Payee:
    kind: str
    organisation: Organisation | None
    dataset_id: int | None = None


def shares_compute(*, amount: Decimal, track: Track) -> list[tuple[Payee, Decimal]]:
    """Who gets what of a sale of `track`'s loops: platform fee, labels pro rata (by the terms snapshotted when
    the model was trained), matched works, creator. ValueError with the reason when they exceed the sale."""
    payees: dict[str, Payee] = {
        "creator": Payee(PayeeKind.CREATOR, track.organisation),
        "platform": Payee(PayeeKind.PLATFORM, None),
    }
    labels: list[LabelTerm] = []
    model = track.model
    if model is not None:
        counts = Counter(item["dataset"] for item in model.training_items or [])
        # The shares the licences asked when the model was trained: a later change of terms is not retroactive.
        terms = model.licence_terms()
        for dataset in model.datasets.select_related("organisation").order_by("pk"):
            if dataset.pk not in terms:
                raise ValueError(
                    f"the licence terms of {dataset.name!r} were not recorded when model {model.name!r} was trained"
                )
            payee = f"label:{dataset.pk}"
            payees[payee] = Payee(PayeeKind.LABEL, dataset.organisation, dataset.pk)
            labels.append(
                LabelTerm(
                    payee, Decimal(terms[dataset.pk]["revenue_share_percent"]), Decimal(max(counts[dataset.pk], 1))
                )
            )
    holders: dict[str, Decimal] = {}
    for flag in track.flags.filter(status="licence_required").select_related(
        "corpus_item__dataset__organisation", "matched_track__organisation"
    ):
        if flag.corpus_item is not None:
            organisation, dataset_id = flag.corpus_item.dataset.organisation, flag.corpus_item.dataset_id
        elif flag.matched_track is not None:
            organisation, dataset_id = flag.matched_track.organisation, None
        else:
            continue
        payee = f"holder:{flag.pk}"
        payees[payee] = Payee(PayeeKind.RIGHTS_HOLDER, organisation, dataset_id)
        holders[payee] = Decimal(settings.LEDGERLINE_MATCHED_WORK_SHARE_PERCENT)
    split = revenue_split(
        amount,
        creator="creator",
        platform="platform",
        platform_percent=Decimal(settings.LEDGERLINE_PLATFORM_FEE_PERCENT),
        labels=labels,
        rights_holders=holders,
    )
    return [(payees[name], share) for name, share in split.items()]


def shares_record(order: Order, shares: list[tuple[Payee, Decimal]], when) -> list[RevenueShare]:
    return RevenueShare.objects.bulk_create(
        [
            RevenueShare(
                order=order,
                payee_kind=payee.kind,
                organisation=payee.organisation,
                dataset_id=payee.dataset_id,
                amount=share,
                currency=order.currency,
                created_at=when,
            )
            for payee, share in shares
        ]
    )
