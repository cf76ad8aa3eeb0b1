"""The chroma level alone on recordings: the hardest audio-only disguises, more of them than bench_nearcopy screens.

    .venv/bin/python benchmarks/nearcopy/bench_audio_chroma.py [--corpus 20] [--copies 20] [--negatives 40]

Corpus: the first --corpus chorales rendered to audio (piano, scores dropped: beats tracked). Queries: --copies
corpus chorales transposed, tempo-changed and played by viola, contrabass, oboe and bassoon; --copies 4-8-bar
quotes of corpus chorales inside unseen ones; --negatives unseen chorales that set no corpus tune
(`bench_nearcopy.corpus_and_unseen`) and a quarter as many random tonal pieces. No transcription (the chroma level
does not use it), so it runs in a few minutes. Reports recall, false flags and the chroma level's latency.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
warnings.filterwarnings("ignore")

from bench_nearcopy import SOUNDFONT, corpus_and_unseen, random_piece  # noqa: E402

from fingerprint.engine import features as F  # noqa: E402
from fingerprint.engine import screen as S  # noqa: E402
from fingerprint.engine import transforms as T  # noqa: E402
from ledgerline.music.events import SAMPLE_RATE, Score  # noqa: E402
from ledgerline.music.render import render_midi  # noqa: E402

STRINGS_AND_REEDS = [41, 43, 68, 70]


def recording(score: Score, *, query: bool) -> F.Features:
    return F.extract(render_midi(score.to_midi_bytes(), soundfont=SOUNDFONT), SAMPLE_RATE, query=query)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=int, default=20)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--negatives", type=int, default=40)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    corpus, others = corpus_and_unseen(args.corpus, args.negatives)
    screener = S.screener_of(
        {2 * key: recording(score, query=False) for key, score in enumerate(corpus)},
        Path(tempfile.mkdtemp()),
        levels=("chroma",),
    )
    rng = np.random.default_rng(5)
    queries: list[tuple[str, int, Score]] = []
    for index in range(args.copies):
        source = index % len(corpus)
        moved = T.change_tempo(T.transpose(corpus[source], int(rng.integers(-6, 7))), float(rng.uniform(0.8, 1.2)))
        queries.append(("transpose + tempo + re-instrumented", source, T.reinstrument(moved, STRINGS_AND_REEDS)))
    for index in range(args.copies):
        source = index % len(corpus)
        quote = T.bars(corpus[source], 1, int(rng.integers(4, 9)))
        queries.append(("4-8-bar quote", source, T.embed_quote(others[index % len(others)], quote, at_bar=2)))
    queries += [("unseen chorale", -1, score) for score in others]
    queries += [("random piece", -1, random_piece(seed)) for seed in range(max(1, args.negatives // 4))]

    counts: dict[str, list[int]] = {}
    latencies = []
    for kind, source, score in queries:
        query = recording(score, query=True)
        started = time.perf_counter()
        verdict = screener.screen(query)
        latencies.append(time.perf_counter() - started)
        hit = any(m.key == 2 * source for m in verdict.matches) if source >= 0 else verdict.verdict == "flag"
        counts.setdefault(kind, [0, 0])
        counts[kind][0] += int(hit)
        counts[kind][1] += 1
    report = {
        "corpus": len(corpus),
        "found_or_flagged": {kind: f"{hit}/{total}" for kind, (hit, total) in counts.items()},
        "chroma_latency_ms_p50": round(1000 * float(np.percentile(latencies, 50)), 1),
        "chroma_latency_ms_p95": round(1000 * float(np.percentile(latencies, 95)), 1),
    }
    print(json.dumps(report, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
