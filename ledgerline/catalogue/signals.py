"""Signals other apps listen to (the fingerprint app indexes newly ingested items and screens rendered tracks)."""

from django.dispatch import Signal

#: Sent after an ingest job commits. kwargs: `dataset` (Dataset), `item_ids` (list[int] of new CorpusItems),
#: `job` (the ingest Job: follow-up jobs name it as their cause, so the command that started it waits for them).
dataset_ingested = Signal()

#: Sent by the job that rendered a generated track, inside it, once the track's audio and score are stored.
#: kwargs: `track` (Track), `user` (who asked for it), `job` (the generation Job: the screening names it as its
#: cause). The fingerprint app's receiver starts the track's screening and returns the Screening row.
track_rendered = Signal()
