"""Signals other apps listen to (the fingerprint app indexes newly ingested items)."""

from django.dispatch import Signal

#: Sent after an ingest job commits. kwargs: `dataset` (Dataset), `item_ids` (list[int] of new CorpusItems),
#: `job` (the ingest Job: follow-up jobs name it as their cause, so the command that started it waits for them).
dataset_ingested = Signal()
