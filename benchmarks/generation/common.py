"""The chorale corpus and its fixed split, shared by the generation benchmarks.

Split: music21's bundled chorales (`corpus.chorales.Iterator`, 371 names), de-duplicated by file path, sorted
by path, shuffled with numpy `default_rng(SPLIT_SEED)`, then cut 80 / 10 / 10 into train / valid / test.
Chorales that music21 cannot parse are dropped after the split (the split does not depend on parsing).
Parsed scores are cached as `Score` npz files under the work folder, so later runs skip music21's parser.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
warnings.filterwarnings("ignore")

from ledgerline.music.events import Score  # noqa: E402

SPLIT_SEED = 0
DEFAULT_WORK = Path(os.environ.get("LEDGERLINE_BENCH_WORK", "/tmp/ledgerline-bench-generation"))
SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
# One intra-op thread: on the shared 2-core machine, with other jobs running, two OpenMP threads made LSTM
# training 25x slower (805 vs 19,795 tokens/s, measured 2026-11-25 at load average 4.8) from spin-waiting.
TORCH_THREADS = int(os.environ.get("LEDGERLINE_BENCH_THREADS", "1"))


@dataclass
class Split:
    train: list[tuple[str, Score]]
    valid: list[tuple[str, Score]]
    test: list[tuple[str, Score]]


def chorale_names() -> list[str]:
    """Corpus file names relative to music21's corpus folder (e.g. 'bach/bwv10.7.mxl'), sorted, one per file
    (the iterator names a few files twice; where a chorale exists as MusicXML and Humdrum, the MusicXML)."""
    return sorted(_chorale_paths())


@functools.cache
def _chorale_paths() -> dict[str, Path]:
    from music21 import corpus

    paths: dict[str, Path] = {}
    for name in corpus.chorales.Iterator(returnType="filename"):
        found = corpus.getWork(name)
        candidates = [Path(str(p)) for p in (found if isinstance(found, list) else [found])]
        path = next((p for p in candidates if p.suffix == ".mxl"), candidates[0])
        paths[f"{path.parent.name}/{path.name}"] = path
    return paths


def split_names(names: list[str]) -> tuple[list[str], list[str], list[str]]:
    order = np.random.default_rng(SPLIT_SEED).permutation(len(names))
    shuffled = [names[i] for i in order]
    n_train, n_valid = int(round(0.8 * len(names))), int(round(0.1 * len(names)))
    return shuffled[:n_train], shuffled[n_train : n_train + n_valid], shuffled[n_train + n_valid :]


def load_score(name: str, work: Path = DEFAULT_WORK) -> Score | None:
    cache = work / "chorales" / (name.replace("/", "__") + ".npz")
    if cache.exists():
        return Score.from_npz_bytes(cache.read_bytes())
    from music21 import converter

    from ledgerline.music.parse import score_from_music21

    try:
        score = score_from_music21(converter.parse(str(_chorale_paths()[name])))
    except Exception:  # a chorale music21 cannot read is skipped, and counted by the caller
        return None
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(score.to_npz_bytes())
    return score


def cached_chorale_names(work: Path = DEFAULT_WORK) -> list[str]:
    """`chorale_names()`, kept in the work folder: with the scores' cache beside it, a machine without music21
    (the GPU machine) loads the split."""
    listing = work / "chorale-names.json"
    if listing.exists():
        return list(json.loads(listing.read_text()))
    names = chorale_names()
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text(json.dumps(names))
    return names


def load_split(work: Path = DEFAULT_WORK) -> Split:
    import torch

    torch.set_num_threads(TORCH_THREADS)
    parts = []
    for names in split_names(cached_chorale_names(work)):
        pairs = [(name, load_score(name, work)) for name in names]
        parts.append([(name, score) for name, score in pairs if score is not None and len(score.notes)])
    return Split(*parts)
