"""What the market adds to pages of the base layer (`ledgerline.contributions`)."""

from __future__ import annotations

from django.db.models import Sum

from ledgerline.contributions import contributes_to

from .models import PayeeKind, RevenueShare


@contributes_to("dataset_usage")
def dataset_usage_sales(*, dataset) -> dict:
    """The sales that paid the dataset's label: its shares (the newest 200) and their totals per currency."""
    shares = (
        RevenueShare.objects.filter(dataset=dataset, payee_kind=PayeeKind.LABEL, organisation=dataset.organisation)
        .select_related("order__asset__track")
        .order_by("-created_at")
    )
    totals = shares.order_by().values("currency").annotate(total=Sum("amount")).order_by("currency")
    return {"shares": shares[:200], "totals": totals}
