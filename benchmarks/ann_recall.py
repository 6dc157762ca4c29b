"""Recall of mining's HNSW search against exact search, and the time of each.

Vectors: `--passages` unit vectors of `--dim` dimensions around `--clusters` random centres
(Gaussian noise of `--noise` per dimension around each centre, then normalized), a stand-in for
real passage embeddings, whose neighbours crowd in topics; `--queries` more drawn the same way.
Or `--vectors FILE.npy`: real embeddings (e.g. an embedding-cache entry of a corpus), its last
`--queries` rows searched among the others (passage-to-passage neighbours, as a query lands near
the passage it was written for).
Exact: `exact_top_k` (what `search: exact` runs). HNSW: `HnswIndex` with the mining defaults of
`HnswSettings` unless overridden. Prints build and search seconds, the CPU, then
for each `--ef-search` value (comma-separated; one graph serves all) `recall@K[ef_search=E]=...`
(mean fraction of each query's exact top-K that HNSW returns) and `ratio[search-exact-vs-hnsw,
ef_search=E]=...` (exact search seconds over HNSW search seconds, build not counted).

Usage: PYTHONPATH=. python benchmarks/ann_recall.py [--passages 200000] [--dim 384] [--vectors FILE.npy] [--queries 1000]
       [--k 100] [--clusters 2000] [--noise 0.05] [--m 32] [--ef-construction 128] [--ef-search 128,256,512]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from corpustune.hardware import cpu_description
from corpustune.retrieve.ann import HnswIndex, HnswSettings
from corpustune.retrieve.dense import exact_top_k


def clustered(n: int, dim: int, centres: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """n unit vectors (n, dim) float32, each a random centre plus Gaussian noise; made in blocks to stay small."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, 50_000):
        size = min(50_000, n - start)
        block = centres[rng.integers(0, len(centres), size)] + noise * rng.standard_normal((size, dim), dtype=np.float32)
        out[start : start + size] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=200_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=100)
    parser.add_argument("--clusters", type=int, default=2000)
    parser.add_argument("--noise", type=float, default=0.05)
    parser.add_argument("--vectors", help="a .npy of real embeddings instead of the clustered vectors")
    defaults = HnswSettings()
    parser.add_argument("--m", type=int, default=defaults.m)
    parser.add_argument("--ef-construction", type=int, default=defaults.ef_construction)
    parser.add_argument("--ef-search", default=f"128,{defaults.ef_search},512")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    centres = rng.standard_normal((args.clusters, args.dim), dtype=np.float32) / np.sqrt(args.dim)
    if args.vectors:
        vectors = np.load(args.vectors).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        passages, queries = vectors[: -args.queries], vectors[-args.queries :]
    else:
        passages = clustered(args.passages, args.dim, centres, args.noise, rng)
        queries = clustered(args.queries, args.dim, centres, args.noise, rng)
    settings = HnswSettings(m=args.m, ef_construction=args.ef_construction)

    started = time.perf_counter()
    _, exact = exact_top_k(queries, passages, args.k)
    exact_seconds = time.perf_counter() - started
    started = time.perf_counter()
    index = HnswIndex(passages, settings)
    build_seconds = time.perf_counter() - started
    print(f"cpu: {cpu_description()}")
    print(f"{args.vectors or 'clustered'}: {len(passages)} passages x {passages.shape[1]} d, {args.queries} queries, k={args.k}, m={settings.m}, "
          f"ef_construction={settings.ef_construction}")
    print(f"exact search: {exact_seconds:.2f} s; hnsw build: {build_seconds:.1f} s")
    for ef_search in (int(e) for e in args.ef_search.split(",")):
        started = time.perf_counter()
        _, found = index.search(queries, args.k, ef_search=ef_search)
        seconds = time.perf_counter() - started
        recall = np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)])
        print(f"ef_search={ef_search}: hnsw search {seconds:.2f} s")
        print(f"recall@{args.k}[ef_search={ef_search}]={recall:.4f}")
        print(f"ratio[search-exact-vs-hnsw,ef_search={ef_search}]={exact_seconds / seconds:.1f}")

if __name__ == "__main__":
    main()
