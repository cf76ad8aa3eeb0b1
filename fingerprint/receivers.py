"""A dataset that finished ingesting is swept for items that are not indexed yet (its own and earlier ones)."""


def fingerprint_ingested_items(sender, *, dataset, item_ids, job=None, **kwargs) -> None:
    from .sweep import index_sweep

    index_sweep(dataset_ids=[dataset.pk], organisation=dataset.organisation, cause=job)
