"""Whole-screening latency of a real 3-minute query against indexes of 1,000,000 entries per level.

    .venv/bin/python benchmarks/nearcopy/bench_screen_scale.py [--entries 1000000] [--corpus 30] [--runs 10]

`bench_index.py` times the chroma index's search alone on synthetic vectors. This times what a screening
request spends once the query's features exist (`Screener.screen`: the three levels' index searches, the
vote grouping and the verification of candidates against stored features) and, separately, extracting those
features from the query's audio. The indexes hold the real windows of --corpus chorales, topped up to
--entries with filler (random unit chroma windows, random melody windows, random 32-bit Chromaprint codes)
whose items have no stored features, as unrelated music in a large catalogue would rarely reach
verification. The query is unseen chorales played one after another to 3 minutes, with an 8-bar transposed
quote of a corpus chorale inside, so one verification really runs; the benchmark checks it is flagged.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_nearcopy import chorales, features  # noqa: E402

from fingerprint.engine import chroma as C  # noqa: E402
from fingerprint.engine import melody as M  # noqa: E402
from fingerprint.engine import screen as S  # noqa: E402
from fingerprint.engine import transforms as T  # noqa: E402
from fingerprint.engine.index import IndexSpec, VersionedIndex, gpu_count  # noqa: E402

FILLER_KEY = 1_000_001  # filler items: odd keys with no stored features


def three_minute_query(hosts, quoted):
    """Unseen chorales one after another until 3 minutes, an 8-bar transposed quote of `quoted` at bar 6."""
    score = hosts[0]
    for host in hosts[1:]:
        if score.beats_to_seconds(np.array([score.duration_beats]))[0] >= 180:
            break
        score = T.embed_quote(score, host, at_bar=int(np.ceil(score.duration_beats / score.bar_beats)))
    return T.embed_quote(score, T.transpose(T.bars(quoted, 1, 8), 3), at_bar=6)


def filler(level: str, count: int, rng: np.random.Generator) -> np.ndarray:
    if level == "audio":
        return rng.integers(0, 256, size=(count, 4), dtype=np.uint8)
    dim = C.DIM if level == "chroma" else M.DIM
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    if level == "chroma":
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries per level's index")
    parser.add_argument("--corpus", type=int, default=30)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pool = chorales(args.corpus + 12)
    corpus, unseen = pool[:args.corpus], pool[args.corpus:]
    feats = {2 * key: features(score, query=False)[0] for key, score in enumerate(corpus)}
    quoted_key = 2 * 7
    root = Path(tempfile.mkdtemp())
    specs = {"audio": IndexSpec("audio", 32, "hamming"), "chroma": IndexSpec("chroma", C.DIM, "ip"),
             "symbolic": IndexSpec("symbolic", M.DIM, "l2")}
    indexes, report = {}, {"entries_per_level": args.entries, "corpus_items": len(corpus), "gpus": gpu_count(),
                           "faiss": faiss.__version__, "threads": faiss.omp_get_max_threads()}
    for level, spec in specs.items():
        vectors, keys = [], []
        for key, f in feats.items():
            v, p = S.index_vectors(f)[level]
            vectors.append(v)
            keys.append(np.stack([np.full(len(p), key), p], 1))
        real = sum(len(v) for v in vectors)
        extra = max(0, args.entries - real)
        vectors.append(filler(level, extra, rng))
        keys.append(np.stack([FILLER_KEY + 2 * (np.arange(extra) // 500), np.arange(extra) % 500], 1))
        indexes[level] = VersionedIndex(root, spec)
        started = time.perf_counter()
        indexes[level].rebuild(np.concatenate(vectors), np.concatenate(keys))
        loaded = indexes[level].reader()[1]
        report[f"{level}_index"] = {"real": real, "total": int(loaded.ntotal), "faiss": type(loaded).__name__,
                                    "build_s": round(time.perf_counter() - started, 1)}
        print(level, report[f"{level}_index"], file=sys.stderr)

    query_score = three_minute_query(unseen, corpus[quoted_key // 2])
    started = time.process_time()
    query, extract_cpu = features(query_score, query=True)
    report["query_s"] = round(query.duration_s, 1)
    report["query_features_cpu_s"] = round(extract_cpu, 2)
    report["query_render_and_features_cpu_s"] = round(time.process_time() - started, 2)

    def timed(levels) -> tuple[list[float], S.Verdict]:
        screener = S.Screener(audio=indexes["audio"], chroma=indexes["chroma"], symbolic=indexes["symbolic"],
                              load=feats.get, thresholds=S.Thresholds(), levels=levels)
        verdict = screener.screen(query)  # warm: indexes loaded, caches filled
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            verdict = screener.screen(query)
            times.append(time.perf_counter() - started)
        return times, verdict

    for name, levels in {"audio": ("audio",), "chroma": ("chroma",), "symbolic": ("symbolic",),
                         "fused": S.LEVELS}.items():
        times, verdict = timed(levels)
        report[f"{name}_ms_p50"] = round(1000 * float(np.percentile(times, 50)), 1)
        report[f"{name}_ms_p95"] = round(1000 * float(np.percentile(times, 95)), 1)
        if name == "fused":
            report["fused_verdict"] = verdict.verdict
            report["fused_flags_quoted_item"] = any(m.key == quoted_key for m in verdict.matches)
        print(name, report[f"{name}_ms_p50"], report[f"{name}_ms_p95"], file=sys.stderr)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
