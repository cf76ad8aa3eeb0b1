"""A dataset that finished ingesting is swept for items that are not indexed yet (its own and earlier ones); a
track that was rendered is screened."""

from .services import track_screen_start
from .sweep import index_sweep


def fingerprint_ingested_items(sender, *, dataset, item_ids, job=None, **kwargs) -> None:
    index_sweep(dataset_ids=[dataset.pk], organisation=dataset.organisation, cause=job)


def screen_rendered_track(sender, *, track, user=None, job=None, **kwargs):
    return track_screen_start(track=track, user=user, cause=job)
