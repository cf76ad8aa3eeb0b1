"""The fingerprint app's services, for the other apps: what they may call lives here by name.

The code is split by concern (docs/ARCHITECTURE.md, "fingerprint"):
* `fingerprint.indexing`: features of corpus items and published tracks, stored fingerprints, the live
  screening indexes (caches, adds, rebuilds) and the `fingerprint` job;
* `fingerprint.screening`: queries, the screener, the typed verdict and the `screening` job that records it.
Review decisions on flags are `rights.review`'s.
"""

from __future__ import annotations

from .indexing import (
    corpus_item_fingerprint,
    features_of,
    index_for,
    index_rebuild,
    items_fingerprint_start,
    load_features,
    subjects_fingerprint_and_index,
)
from .screening import (
    BadQuery,
    ScreeningResult,
    query_from_bytes,
    screen_bytes,
    screen_features,
    screening_start,
    thresholds,
    track_screen_start,
)

__all__ = [
    "BadQuery",
    "ScreeningResult",
    "corpus_item_fingerprint",
    "features_of",
    "index_for",
    "index_rebuild",
    "items_fingerprint_start",
    "load_features",
    "query_from_bytes",
    "screen_bytes",
    "screen_features",
    "screening_start",
    "subjects_fingerprint_and_index",
    "thresholds",
    "track_screen_start",
]
