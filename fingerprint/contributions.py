"""What fingerprint adds to pages of the base layer (`ledgerline.contributions`)."""

from __future__ import annotations

from ledgerline.contributions import contributes_to

from .models import SimilarityFlag


@contributes_to("dataset_usage")
def dataset_usage_flags(*, dataset) -> dict:
    """The similarity flags that matched the dataset's items (the newest 200)."""
    flags = (
        SimilarityFlag.objects.filter(corpus_item__dataset=dataset)
        .select_related("track", "corpus_item")
        .order_by("-created_at")[:200]
    )
    return {"flags": flags}
