"""Versioned FAISS indexes on disk: one writer, many readers.

Layout under `root/<name>/`:
    CURRENT              the live version's folder name ("v000007"), replaced atomically with os.replace
    v000007/index.faiss  the FAISS index
    v000007/keys.npy     int64 [n, 2]: (item key, window position) of each vector
    v000007/manifest.json  dim, metric, kind, count, SHA-256 of both files
A writer holds `root/<name>/.lock` (flock), writes a new version folder, then swaps CURRENT; readers that
see a new CURRENT reload. A reader verifies the manifest's hashes and raises `IndexCorrupt` instead of
serving results from a damaged or missing file; the service layer then rebuilds from the database.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

KEEP_VERSIONS = 2
log = logging.getLogger(__name__)

#: A float-vector index (Flat, IVF-PQ, maybe on a GPU) or a binary-code one (Flat, multi-hash).
AnyIndex = faiss.Index | faiss.IndexBinary


class IndexCorrupt(RuntimeError):
    """The index on disk is missing or does not match its manifest."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gpu_count() -> int:
    return int(faiss.get_num_gpus()) if hasattr(faiss, "get_num_gpus") else 0


@dataclass
class IndexSpec:
    name: str
    dim: int
    metric: str  # "ip" (unit vectors: inner product = cosine), "l2", or "hamming" (binary codes of dim bits)
    # At or above this many vectors: IVF-PQ, trained on the data; below: Flat (exact). A 3-minute query is
    # ~8,000 chroma windows, so a Flat search costs ~32 ms per 1,000 stored windows on two cores: the switch
    # comes early (benchmarks/README.md).
    ivf_threshold: int = 10_000
    # IVF lists visited per query. 16 of 4,000 finds 89 % of random synthetic windows' true neighbour (32: 96 %),
    # but a verdict needs only a few consistent windows: at 10^6 entries per level the disguised copies' recall
    # was 1.00 with either, and the whole screening 240 ms at p95 with 16 against 304 ms with 32.
    nprobe: int = 16
    codes: str = ""  # the IVF lists' FAISS code ("PQ24x8", ...); empty: chosen by pq_codes()
    # Re-scoring of the PQ candidates with finer codes, so scores compared with thresholds are not PQ's
    # (fast-scan PQ under-scores a true chroma neighbour by 0.10 on average; SQ8 re-scoring by < 0.002).
    # "Flat" keeps the vectors exactly, for thresholds that mean "equal up to rounding"; "" for none.
    refine: str = "SQ8"
    k_factor: int = 2  # PQ candidates re-scored per result wanted
    gpu_flat_limit: int = 20_000_000  # where a GPU serves the index: exact Flat up to this many vectors
    hamming_radius: int = 2  # binary codes: above the threshold, neighbours within this many bits are exact

    @property
    def binary(self) -> bool:
        return self.metric == "hamming"

    def as_input(self, vectors: np.ndarray) -> np.ndarray:
        if self.binary:
            return np.ascontiguousarray(vectors, dtype=np.uint8).reshape(-1, self.dim // 8)
        return np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, self.dim)

    @property
    def faiss_metric(self) -> int:
        return faiss.METRIC_INNER_PRODUCT if self.metric == "ip" else faiss.METRIC_L2

    def pq_codes(self) -> str:
        """The IVF lists' code: 4-bit fast-scan PQ, two dimensions per sub-quantizer, scanned with SIMD. At 10^6
        chroma windows a 3-minute query took 96 ms against 388 ms for 8-bit PQ of the same 24 bytes a vector,
        with the same recall (benchmarks/README.md). FAISS's GPU indexes have no fast-scan; a GPU serves Flat
        up to `gpu_flat_limit` instead, and an IVF index stays on the CPU."""
        if self.codes:
            return self.codes
        if self.dim % 2 == 0:
            return f"PQ{self.dim // 2}x4fs"
        return f"PQ{self.dim}x4fs" if self.dim <= 64 else "PQ16x8"

    def approximate(self, count: int) -> bool:
        """Whether an index of `count` vectors is built approximate (IVF-PQ, or multi-hash for codes)."""
        if self.binary:
            return count >= self.ivf_threshold
        return self.factory(count) != "Flat"

    def factory(self, count: int) -> str:
        """FAISS index_factory string for `count` vectors."""
        if count < self.ivf_threshold or (gpu_count() > 0 and count < self.gpu_flat_limit):
            return "Flat"
        nlist = int(min(4096, max(64, 4 * np.sqrt(count))))
        refine = f",Refine({self.refine})" if self.refine else ""
        return f"IVF{nlist},{self.pq_codes()}{refine}"

    def make(self, vectors: np.ndarray) -> AnyIndex:
        count = len(vectors)
        if self.binary:
            if not self.approximate(count):
                return faiss.IndexBinaryFlat(self.dim)
            # Two hash tables on the code's halves, each probed at up to radius // 2 flipped bits: any code
            # within `hamming_radius` bits has a half within that many flips, so the search is exact to that
            # radius (at 10^6 codes: 111 ms for a 3-minute query's codes against 830 ms for Flat).
            multihash = faiss.IndexBinaryMultiHash(self.dim, 2, self.dim // 2)
            multihash.nflip = self.hamming_radius // 2
            return multihash
        index = faiss.index_factory(self.dim, self.factory(count), self.faiss_metric)
        if not index.is_trained:
            sample = vectors[
                np.random.default_rng(0).choice(
                    count, size=min(count, 64 * faiss.extract_index_ivf(index).nlist), replace=False
                )
            ]
            index.train(np.ascontiguousarray(sample, dtype=np.float32))
        return index

    def tune(self, index: AnyIndex) -> None:
        """Apply the search-time parameters (they are not a property of the stored index)."""
        if isinstance(index, faiss.Index) and is_ivf(index):
            faiss.extract_index_ivf(index).nprobe = self.nprobe
        if isinstance(index, faiss.IndexRefine):
            index.k_factor = float(self.k_factor)


def kind_of(index: AnyIndex) -> str:
    """The manifest's name for an index's structure."""
    if isinstance(index, faiss.IndexBinaryMultiHash):
        return "multihash"
    return "ivfpq" if is_ivf(index) else "flat"


def is_ivf(index: AnyIndex) -> bool:
    """Whether `index` is, or wraps, an inverted-file index."""
    if not isinstance(index, faiss.Index):  # binary codes are never IVF here (flat or multi-hash)
        return False
    try:
        faiss.extract_index_ivf(index)
    except (RuntimeError, TypeError):
        return False
    return True


@dataclass
class SearchHits:
    scores: np.ndarray  # [queries, k] similarity (ip) or -distance (l2); -inf where no hit
    keys: np.ndarray  # [queries, k] item key (-1 where no hit)
    positions: np.ndarray  # [queries, k] window position


class VersionedIndex:
    def __init__(self, root: Path, spec: IndexSpec) -> None:
        self.spec = spec
        self.folder = Path(root) / spec.name
        self._loaded: tuple[str, AnyIndex, np.ndarray] | None = None
        self._load_lock = threading.Lock()

    # --- reading ---------------------------------------------------------------------------------------
    def current_version(self) -> str | None:
        try:
            return (self.folder / "CURRENT").read_text().strip() or None
        except FileNotFoundError:
            return None

    def _load(self, version: str, *, to_gpu: bool = True) -> tuple[AnyIndex, np.ndarray]:
        folder = self.folder / version
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            for name in ("index.faiss", "keys.npy"):
                if _sha256(folder / name) != manifest["sha256"][name]:
                    raise IndexCorrupt(f"{self.spec.name} index {version}: {name} does not match its manifest")
            read = faiss.read_index_binary if self.spec.binary else faiss.read_index
            index: AnyIndex = read(str(folder / "index.faiss"))
            keys: np.ndarray = np.load(folder / "keys.npy", allow_pickle=False)  # int64 [n, 2]
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            if isinstance(exc, IndexCorrupt):
                raise
            raise IndexCorrupt(f"{self.spec.name} index {version} cannot be read: {exc}") from exc
        if index.ntotal != len(keys) or index.d != self.spec.dim:
            raise IndexCorrupt(f"{self.spec.name} index {version}: {index.ntotal} vectors but {len(keys)} keys")
        if not self.spec.binary:
            self.spec.tune(index)
        if to_gpu and gpu_count() > 0 and isinstance(index, faiss.Index):  # binary indexes stay on the CPU
            try:
                index = faiss.index_cpu_to_all_gpus(index)
            except RuntimeError as exc:  # e.g. a fast-scan IVF-PQ written on a CPU machine: served on the CPU
                log.warning("%s index %s stays on the CPU: %s", self.spec.name, version, str(exc).splitlines()[0])
        return index, keys

    def reader(self) -> tuple[str, AnyIndex, np.ndarray] | None:
        """The live (version, index, keys), reloaded when a writer swapped versions. None: no index yet."""
        version = self.current_version()
        if version is None:
            if (self.folder).exists() and any(self.folder.glob("v*")):
                raise IndexCorrupt(f"{self.spec.name} index: CURRENT is missing")
            return None
        with self._load_lock:
            if self._loaded is None or self._loaded[0] != version:
                index, keys = self._load(version)
                self._loaded = (version, index, keys)
            return self._loaded

    def __len__(self) -> int:
        loaded = self.reader()
        return 0 if loaded is None else int(loaded[1].ntotal)

    def search(self, vectors: np.ndarray, k: int) -> SearchHits:
        loaded = self.reader()
        n = len(vectors)
        if loaded is None or loaded[1].ntotal == 0 or n == 0:
            return SearchHits(
                np.full((n, k), -np.inf, np.float32), np.full((n, k), -1, np.int64), np.full((n, k), -1, np.int64)
            )
        _version, index, keys = loaded
        scores, rows = index.search(self.spec.as_input(vectors), k)
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        hit_keys = np.where(valid, keys[safe, 0], -1)
        valid &= hit_keys >= 0
        hit_pos = np.where(valid, keys[safe, 1], -1)
        hit_pos = np.where(valid, hit_pos, -1)
        scores = np.where(valid, scores if self.spec.metric == "ip" else -scores.astype(np.float32), -np.inf)
        return SearchHits(scores.astype(np.float32), hit_keys, hit_pos)

    # --- writing ---------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _writer(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with (self.folder / ".lock").open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _publish(self, index: AnyIndex, keys: np.ndarray, *, kind: str) -> str:
        versions = sorted(p.name for p in self.folder.glob("v[0-9]*") if p.is_dir())
        number = int(versions[-1][1:]) + 1 if versions else 1
        version = f"v{number:06d}"
        tmp = self.folder / f".{version}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        if isinstance(index, faiss.IndexBinary):
            faiss.write_index_binary(index, str(tmp / "index.faiss"))
        else:
            if gpu_count() > 0:
                with contextlib.suppress(Exception):
                    index = faiss.index_gpu_to_cpu(index)
            faiss.write_index(index, str(tmp / "index.faiss"))
        np.save(tmp / "keys.npy", keys.astype(np.int64).reshape(-1, 2), allow_pickle=False)
        manifest = {
            "name": self.spec.name,
            "dim": self.spec.dim,
            "metric": self.spec.metric,
            "kind": kind,
            "count": int(index.ntotal),
            "sha256": {name: _sha256(tmp / name) for name in ("index.faiss", "keys.npy")},
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
        os.replace(tmp, self.folder / version)
        pointer = self.folder / ".CURRENT.tmp"
        pointer.write_text(version)
        os.replace(pointer, self.folder / "CURRENT")
        for old in versions[: -KEEP_VERSIONS + 1] if KEEP_VERSIONS > 1 else versions:
            shutil.rmtree(self.folder / old, ignore_errors=True)
        return version

    def rebuild(self, vectors: np.ndarray, keys: np.ndarray) -> str:
        """Replace the index with exactly these vectors: Flat or trained IVF-PQ by size."""
        vectors = self.spec.as_input(vectors)
        with self._writer():
            index = self.spec.make(vectors)
            if len(vectors):
                index.add(vectors)
            return self._publish(index, keys, kind=kind_of(index))

    def add(self, vectors: np.ndarray, keys: np.ndarray, *, replace_keys: set[int] | None = None) -> str:
        """A new version holding the live vectors plus these (those of `replace_keys` dropped first).

        Raises IndexCorrupt when the live version cannot be read: the caller rebuilds.
        """
        vectors = self.spec.as_input(vectors)
        keys = keys.astype(np.int64).reshape(-1, 2)
        with self._writer():
            version = self.current_version()
            if version is None:
                index = self.spec.make(vectors)
                old_keys = np.zeros((0, 2), np.int64)
            else:
                index, old_keys = self._load(version, to_gpu=False)
                # Replaced items become tombstones (key -1, never returned) rather than removed vectors:
                # IVF ids would no longer line up with the rows of keys.npy. A rebuild drops them.
                drop = set(replace_keys or set()) | {int(k) for k in np.unique(keys[:, 0])}
                if drop:
                    old_keys = old_keys.copy()
                    old_keys[np.isin(old_keys[:, 0], list(drop)), 0] = -1
                live = old_keys[:, 0] >= 0
                if kind_of(index) == "flat" and self.spec.approximate(int(live.sum()) + len(vectors)):
                    # Grown past the threshold: a Flat index still holds every vector exactly, so the
                    # approximate one is trained and filled from them here (tombstones dropped).
                    vectors = np.concatenate([index.reconstruct_n(0, index.ntotal)[live], vectors])
                    keys = np.concatenate([old_keys[live], keys])
                    index, old_keys = self.spec.make(vectors), np.zeros((0, 2), np.int64)
            if len(vectors):
                index.add(vectors)
            return self._publish(index, np.concatenate([old_keys, keys]), kind=kind_of(index))
