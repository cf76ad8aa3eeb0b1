"""Whole-screening latency of a real 3-minute query against indexes of 1,000,000 entries per level.

    .venv/bin/python benchmarks/nearcopy/bench_screen_scale.py [--entries 1000000] [--corpus 30] [--runs 10]
        [--nprobe 32] [--positives 6 --negatives 20]

`bench_index.py` times the chroma index's search alone on synthetic vectors. This times what a screening
request spends once the query's features exist (`Screener.screen`: the three levels' index searches, the
vote grouping and the verification of candidates against stored features) and, separately, extracting those
features from the query's audio. The indexes hold the real windows of --corpus chorales, topped up to
--entries with filler (random unit chroma windows, random melody windows, random 32-bit Chromaprint codes)
whose items have no stored features, as unrelated music in a large catalogue would rarely reach
verification. The query is unseen chorales played one after another to 3 minutes, with an 8-bar transposed
quote of a corpus chorale inside, so one verification really runs; the benchmark checks it is flagged.
With --positives/--negatives it also screens bench_nearcopy's disguised copies and negatives against the
large indexes: recall and false flags where the approximate indexes really are in use.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench_nearcopy import chorales, disguises, features, random_piece  # noqa: E402

from fingerprint.engine import chroma as C  # noqa: E402
from fingerprint.engine import melody as M  # noqa: E402
from fingerprint.engine import screen as S  # noqa: E402
from fingerprint.engine import transforms as T  # noqa: E402
from fingerprint.engine.index import VersionedIndex, gpu_count  # noqa: E402

FILLER_KEY = 1_000_001  # filler items: odd keys with no stored features


def three_minute_query(hosts, quoted, seconds: float = 180.0):
    """Unseen chorales one after another, cut to the bar where `seconds` is reached, with an 8-bar transposed
    quote of `quoted` at bar 6."""
    score = hosts[0]
    for host in hosts[1:]:
        if score.beats_to_seconds(np.array([score.duration_beats]))[0] >= seconds:
            break
        score = T.embed_quote(score, host, at_bar=int(np.ceil(score.duration_beats / score.bar_beats)))
    score = T.embed_quote(score, T.transpose(T.bars(quoted, 1, 8), 3), at_bar=6)
    bar_starts = score.beats_to_seconds(np.arange(0, score.duration_beats + score.bar_beats, score.bar_beats))
    return T.bars(score, 0, int(np.searchsorted(bar_starts, seconds)))


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
    parser.add_argument("--nprobe", type=int, default=S.level_spec("chroma").nprobe)
    parser.add_argument("--positives", type=int, default=0, help="disguised copies per disguise for recall at scale")
    parser.add_argument("--negatives", type=int, default=0, help="unseen chorales (+ as many random pieces)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    pool = chorales(args.corpus + 12 + args.negatives)
    corpus, unseen, negatives = pool[: args.corpus], pool[args.corpus : args.corpus + 12], pool[args.corpus + 12 :]
    feats = {2 * key: features(score, query=False)[0] for key, score in enumerate(corpus)}
    quoted_key = 2 * 7
    root = Path(tempfile.mkdtemp())
    specs = {level: dataclasses.replace(S.level_spec(level), nprobe=args.nprobe) for level in S.LEVELS}
    indexes, report = (
        {},
        {
            "entries_per_level": args.entries,
            "corpus_items": len(corpus),
            "gpus": gpu_count(),
            "faiss": faiss.__version__,
            "threads": faiss.omp_get_max_threads(),
        },
    )
    for level, spec in specs.items():
        vectors, keys = S.level_vectors(feats, level)
        real = len(vectors)
        extra = max(0, args.entries - real)
        vectors = np.concatenate([vectors, filler(level, extra, rng)])
        keys = np.concatenate([keys, np.stack([FILLER_KEY + 2 * (np.arange(extra) // 500), np.arange(extra) % 500], 1)])
        indexes[level] = VersionedIndex(root, spec)
        started = time.perf_counter()
        indexes[level].rebuild(vectors, keys)
        loaded = indexes[level].reader()[1]
        report[f"{level}_index"] = {
            "real": real,
            "total": int(loaded.ntotal),
            "faiss": type(loaded).__name__,
            "build_s": round(time.perf_counter() - started, 1),
        }
        print(level, report[f"{level}_index"], file=sys.stderr)

    query_score = three_minute_query(unseen, corpus[quoted_key // 2])
    features(query_score, query=True)  # a worker is long-lived: its first query pays for imports and JIT
    started = time.perf_counter()
    query, extract_cpu = features(query_score, query=True)
    report["query_s"] = round(query.duration_s, 1)
    report["query_features_cpu_s"] = round(extract_cpu, 2)
    report["query_render_and_features_wall_s"] = round(time.perf_counter() - started, 2)

    def timed(levels) -> tuple[list[float], S.Verdict]:
        screener = S.Screener(
            audio=indexes["audio"],
            chroma=indexes["chroma"],
            symbolic=indexes["symbolic"],
            load=feats.get,
            thresholds=S.Thresholds(),
            levels=levels,
        )
        verdict = screener.screen(query)  # warm: indexes loaded, caches filled
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            verdict = screener.screen(query)
            times.append(time.perf_counter() - started)
        return times, verdict

    for name, levels in {
        "audio": ("audio",),
        "chroma": ("chroma",),
        "symbolic": ("symbolic",),
        "fused": S.LEVELS,
    }.items():
        times, verdict = timed(levels)
        report[f"{name}_ms_p50"] = round(1000 * float(np.percentile(times, 50)), 1)
        report[f"{name}_ms_p95"] = round(1000 * float(np.percentile(times, 95)), 1)
        if name == "fused":
            report["fused_verdict"] = verdict.verdict
            report["fused_flags_quoted_item"] = any(m.key == quoted_key for m in verdict.matches)
        print(name, report[f"{name}_ms_p50"], report[f"{name}_ms_p95"], file=sys.stderr)
    if args.positives or args.negatives:
        report["at_scale"] = recall_at_scale(
            args,
            corpus,
            unseen + negatives,
            S.Screener(
                audio=indexes["audio"],
                chroma=indexes["chroma"],
                symbolic=indexes["symbolic"],
                load=feats.get,
                thresholds=S.Thresholds(),
            ),
        )
    print(json.dumps(report))


def recall_at_scale(args, corpus, negatives, screener: S.Screener) -> dict:
    """bench_nearcopy's disguises and negatives, screened (fused) against the large indexes."""
    out = {}
    for name, make in disguises(corpus, negatives).items():
        found = 0
        for index in range(args.positives):
            source = (index * 7) % len(corpus)
            score, audio_fn = make(corpus[source])
            query, _ = features(score, query=True, audio_fn=audio_fn)
            found += any(m.key == 2 * source for m in screener.screen(query).matches)
        out[name] = round(found / max(args.positives, 1), 3)
        print(name, out[name], file=sys.stderr)
    pieces = negatives[12:] + [random_piece(seed) for seed in range(len(negatives[12:]))]
    flagged = sum(screener.screen(features(score, query=True)[0]).verdict == "flag" for score in pieces)
    out["false_flags"] = f"{flagged}/{len(pieces)}"
    return out


if __name__ == "__main__":
    main()
