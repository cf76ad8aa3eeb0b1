"""Signals other apps listen to (the fingerprint app indexes newly ingested items)."""

from django.dispatch import Signal

#: Sent after an ingest job commits. kwargs: `dataset` (Dataset), `item_ids` (list[int] of new CorpusItems).
dataset_ingested = Signal()
