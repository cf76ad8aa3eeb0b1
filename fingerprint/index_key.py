"""The key an item carries in the screening indexes (no Django: the engine and the platform share it)."""

from __future__ import annotations


class IndexKey(int):
    """Twice a corpus item's id (even) or twice a published track's id plus one (odd).

    An `int`, so FAISS's id arrays, the engine's `Match.key` and the verdict JSON carry it unchanged; the parity
    is decoded here and nowhere else.
    """

    @classmethod
    def of(cls, *, corpus_item_id: int | None = None, track_id: int | None = None) -> IndexKey:
        if corpus_item_id is not None:
            return cls(int(corpus_item_id) * 2)
        if track_id is None:
            raise ValueError("an index key needs a corpus item id or a track id")
        return cls(int(track_id) * 2 + 1)

    @property
    def is_track(self) -> bool:
        return self % 2 == 1

    @property
    def is_corpus_item(self) -> bool:
        return self % 2 == 0

    @property
    def subject_id(self) -> int:
        """The corpus item's or the track's primary key."""
        return int(self) // 2

    def subject_filter(self) -> dict[str, int]:
        """The `Fingerprint` lookup of this key's subject: `{"track_id": n}` or `{"corpus_item_id": n}`."""
        return {"track_id" if self.is_track else "corpus_item_id": self.subject_id}
