"""Ledger figures: appends/s (1 and 4 writers) on the configured database, proofs at 10^6 entries, verify time.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ll_bench .venv/bin/python benchmarks/ledger/bench_ledger.py
    .venv/bin/python benchmarks/ledger/bench_ledger.py            # SQLite under a temporary data folder

Appends go through `ledgerline.ledger.services.ledger_append` (one transaction each, serialised by the append
lock). Each writer process times only its appends: Django's start-up (about 0.5 s a process) is outside the
interval.
The proof figures use the Merkle code alone on 10^6 synthetic leaves.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ledgerline.settings")
os.environ.setdefault("LEDGERLINE_DATA_DIR", tempfile.mkdtemp(prefix="ledger-bench-"))


def _setup() -> None:
    import django

    django.setup()


def _writer(count: int, batch: int, ready, results) -> None:
    """Append `count` entries (one transaction each, or `batch` per `ledger_append_many`) and report the
    interval spent appending. Django's start-up happens before the barrier, so it is not timed."""
    _setup()
    from django.db import connection, transaction

    from ledgerline.ledger.services import NewEntry, ledger_append, ledger_append_many

    connection.ensure_connection()
    ready.wait()
    started = time.perf_counter()
    if batch == 1:
        for i in range(count):
            with transaction.atomic():
                ledger_append(event="bench.append", subject_type="bench", subject_id=i, payload={"i": i})
    else:
        for start in range(0, count, batch):
            ledger_append_many(
                [NewEntry("bench.batch", "bench", i, {"i": i}) for i in range(start, min(count, start + batch))]
            )
    results.put((started, time.perf_counter()))


def appends(writers: int, per_writer: int, batch: int = 1) -> float:
    """Entries per second over the interval from the first writer's start to the last writer's end."""
    ready, results = multiprocessing.Barrier(writers), multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_writer, args=(per_writer, batch, ready, results)) for _ in range(writers)
    ]
    for p in processes:
        p.start()
    spans = [results.get(timeout=600) for _ in processes]
    for p in processes:
        p.join()
    return writers * per_writer / (max(end for _, end in spans) - min(start for start, _ in spans))


def proofs(size: int) -> dict:
    import hashlib

    from ledgerline.ledger.engine.merkle import MerkleTree, leaf_hash, verify_inclusion

    leaves = [leaf_hash(hashlib.sha256(i.to_bytes(8, "big")).digest()) for i in range(size)]
    started = time.perf_counter()
    tree = MerkleTree(leaves)
    root = tree.root()
    build = time.perf_counter() - started
    times, sizes = [], []
    for index in range(0, size, size // 200):
        t0 = time.perf_counter()
        proof = tree.inclusion_proof(index)
        times.append(time.perf_counter() - t0)
        sizes.append(len(proof))
        assert verify_inclusion(leaves[index], index, size, proof, root)
    times.sort()
    return {
        "entries": size,
        "tree_build_s": round(build, 2),
        "proof_ms_p50": round(1000 * times[len(times) // 2], 3),
        "proof_ms_max": round(1000 * times[-1], 3),
        "proof_hashes_max": max(sizes),
        "proof_bytes_max": 32 * max(sizes),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--proof-size", type=int, default=1_000_000)
    args = parser.parse_args()
    _setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from ledgerline.ledger.models import LedgerEntry
    from ledgerline.ledger.services import ledger_verify

    connection.close()
    report = {"database": connection.vendor}
    report["appends_per_s_1_writer"] = round(appends(1, args.appends), 1)
    report["appends_per_s_4_writers"] = round(appends(4, args.appends // 4), 1)
    report["appends_per_s_1_writer_batches_of_100"] = round(appends(1, args.appends * 5, batch=100), 1)
    from ledgerline.ledger.services import reset_tree_cache

    reset_tree_cache()
    started = time.perf_counter()
    result = ledger_verify(check_chain=False)
    entries = LedgerEntry.objects.count()
    report["verify_s_per_100k"] = round((time.perf_counter() - started) / entries * 100_000, 2)
    report["verify_ok"] = bool(getattr(result, "ok", True))
    report["proofs"] = proofs(args.proof_size)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
