"""Newly ingested corpus items are fingerprinted and indexed by a job of their own."""


def fingerprint_ingested_items(sender, *, dataset, item_ids, **kwargs) -> None:
    if item_ids:
        from .services import items_fingerprint_start

        items_fingerprint_start(item_ids=item_ids, organisation=dataset.organisation)
