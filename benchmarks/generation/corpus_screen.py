"""Screening generated pieces against the training chorales as the platform does, for the generation benchmarks.

The screening steps `bench_memorisation.py` and `bench_vae.py` share: render with FluidSynth, `features.extract` with the score's notes and
beat times (`fingerprint.services.features_of`), the three Flat FAISS indexes, `Screener` with default thresholds.
Corpus features are cached under `work/features`.
"""

from __future__ import annotations

from pathlib import Path

from common import SOUNDFONT

from fingerprint.engine import features as F
from fingerprint.engine import screen as S
from ledgerline.music.events import Score
from ledgerline.music.render import render_midi

KEYS = ("C", "G", "D", "F", "Am", "Em")


def features_of(score: Score, *, query: bool) -> F.Features:
    """The platform's features of a score rendered with FluidSynth (`features.score_features`: its track names
    name the tune's part, as in `fingerprint.indexing.features_of`)."""
    return F.score_features(render_midi(score.to_midi_bytes(), soundfont=SOUNDFONT), score, query=query)


def corpus_features(split_train: list[tuple[str, Score]], work: Path) -> dict[int, F.Features]:
    """Features of every training chorale, cached under work/features."""
    folder = work / "features"
    folder.mkdir(parents=True, exist_ok=True)
    feats = {}
    for key, (name, score) in enumerate(split_train):
        cache = folder / (name.replace("/", "__") + ".npz")
        if not cache.exists():
            cache.write_bytes(features_of(score, query=False).to_npz_bytes())
        feats[key] = F.Features.from_npz_bytes(cache.read_bytes())
    return feats


def build_screener(feats: dict[int, F.Features], root: Path) -> S.Screener:
    return S.screener_of(feats, root)


if __name__ == "__main__":  # cache the corpus features once: python benchmarks/generation/corpus_screen.py
    from common import DEFAULT_WORK, load_split

    print(len(corpus_features(load_split(DEFAULT_WORK).train, DEFAULT_WORK)), "chorales' features cached")
