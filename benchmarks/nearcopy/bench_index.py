"""Screening latency against a synthetic chroma index: Flat vs IVF-PQ, and recall@10 of IVF-PQ vs Flat.

    .venv/bin/python benchmarks/nearcopy/bench_index.py [--windows 1000000] [--queries 20] [--nprobe 32] [--codes PQ24x8]

A 3-minute query at ~100 bpm has ~150 chroma windows; each is searched in 12 rotations on 3 beat grids
(~5,400 vectors of 96 dimensions), as `Screener._chroma` does; timed here with k=10. Vectors are random unit vectors with
the index's dimension; the query batch is drawn near stored vectors so recall is measurable.
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from fingerprint.engine import chroma as C  # noqa: E402
from fingerprint.engine.index import IndexSpec, VersionedIndex, gpu_count  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--windows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=20, help="3-minute queries to time against IVF-PQ")
    parser.add_argument("--flat-queries", type=int, default=3, help="... and against Flat (~10 s each on 2 cores)")
    parser.add_argument("--codes", default="", help='IVF list codes, e.g. "PQ24x8" (default: the platform\'s)')
    parser.add_argument("--nprobe", type=int, default=IndexSpec("x", C.DIM, "ip").nprobe)
    parser.add_argument("--batch", type=int, default=150 * 12 * 3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    data = rng.normal(size=(args.windows, C.DIM)).astype(np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    keys = np.stack([np.arange(args.windows) // 100 * 2, np.arange(args.windows) % 100], 1)
    root = Path(tempfile.mkdtemp())
    report: dict = {
        "windows": args.windows,
        "dim": C.DIM,
        "batch": args.batch,
        "gpus": gpu_count(),
        "faiss": faiss.__version__,
        "threads": faiss.omp_get_max_threads(),
    }
    results = {}
    batches = []
    for _ in range(args.queries):  # the same query batches for both indexes, so recall is comparable
        picks = rng.integers(0, args.windows, size=args.batch)
        batch = data[picks] + rng.normal(scale=0.05, size=(args.batch, C.DIM)).astype(np.float32)
        batches.append((picks, batch / np.linalg.norm(batch, axis=1, keepdims=True)))
    for kind, threshold in (("flat", args.windows + 1), ("ivfpq", 1000)):
        spec = IndexSpec(
            kind, C.DIM, "ip", ivf_threshold=threshold, nprobe=args.nprobe, gpu_flat_limit=0, codes=args.codes
        )
        index = VersionedIndex(root, spec)
        started = time.perf_counter()
        index.rebuild(data, keys)
        report[f"{kind}_build_s"] = round(time.perf_counter() - started, 1)
        report[f"{kind}_faiss"] = type(index.reader()[1]).__name__ + (
            "" if kind == "flat" else f" {spec.pq_codes()} nprobe {args.nprobe}"
        )
        times = []
        for q, (picks, batch) in enumerate(batches[: args.flat_queries] if kind == "flat" else batches):
            started = time.perf_counter()
            hits = index.search(batch, k=10)
            times.append(time.perf_counter() - started)
            if q == 0:
                results[kind] = (picks, hits)
        report[f"{kind}_ms_p50"] = round(1000 * float(np.percentile(times, 50)), 1)
        report[f"{kind}_ms_p95"] = round(1000 * float(np.percentile(times, 95)), 1)
        print(kind, report, file=sys.stderr)
    flat_hits, ivf_hits = results["flat"][1], results["ivfpq"][1]
    overlap = [
        len(
            set(zip(flat_hits.keys[i], flat_hits.positions[i], strict=True))
            & set(zip(ivf_hits.keys[i], ivf_hits.positions[i], strict=True))
        )
        / 10
        for i in range(args.batch)
    ]
    report["ivfpq_recall_at_10_vs_flat"] = round(float(np.mean(overlap)), 3)
    picks = results["ivfpq"][0]
    report["ivfpq_finds_true_window_at_10"] = round(
        float(
            np.mean(
                [
                    (ivf_hits.keys[i] == keys[p, 0]).any() and (ivf_hits.positions[i] == keys[p, 1]).any()
                    for i, p in enumerate(picks)
                ]
            )
        ),
        3,
    )
    print(json.dumps(report))


if __name__ == "__main__":
    main()
