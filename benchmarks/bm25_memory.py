"""Peak memory of building the BM25 index: ours (the corpus tokenized as a stream into a flat int32
array) against bm25s used the plain way (`bm25s.tokenize` of every passage text at once, a Python
list of ids per passage, then `index`).

Corpus: `--passages` synthetic passages of 40-200 words drawn from a Zipf(1.2) distribution over
50,000 words (a long-tailed vocabulary, as in real text). Each way runs in its own process (the
peak RSS of a process never goes down); both import corpustune (torch) before measuring, as every
stage does. Prints per way the RSS with the corpus loaded, the peak and seconds, then
`peak_over_corpus_mb[plain|ours]=...` and `ratio[plain-vs-ours]=...` (the extra memory of
the plain way over ours).

Usage: PYTHONPATH=. python benchmarks/bm25_memory.py [--passages 100000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time

import numpy as np


def synthetic_corpus(size: int):
    """`size` passages of Zipf-distributed words, made in blocks so that making them stays small."""
    from corpustune.data.records import Passage

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}x" for i in range(50_000)]
    passages = []
    for block in range(0, size, 5000):
        lengths = rng.integers(40, 200, size=min(5000, size - block))
        ranks = (np.minimum(rng.zipf(1.2, size=int(lengths.sum())), 50_000) - 1).tolist()
        at = 0
        for i, length in enumerate(lengths):
            passages.append(Passage(str(block + i), " ".join([vocabulary[r] for r in ranks[at : at + length]])))
            at += length
    return passages


def measure(way: str, size: int) -> None:
    """Build the index one way and print `way corpus_mb peak_mb seconds`."""
    from corpustune.retrieve.bm25 import BM25Index

    passages = synthetic_corpus(size)
    corpus_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    if way == "plain":
        import bm25s
        import Stemmer

        tokens = bm25s.tokenize([p.full_text() for p in passages], stopwords="en",
                                stemmer=Stemmer.Stemmer("english"), show_progress=False)
        bm25s.BM25().index(tokens, show_progress=False)
    else:
        BM25Index(passages)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(way, corpus_mb, peak_mb, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--measure", choices=["plain", "ours"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure, args.passages)
        return
    over = {}
    for way in ("plain", "ours"):
        out = subprocess.run([sys.executable, __file__, "--passages", str(args.passages), "--measure", way],
                             check=True, capture_output=True, text=True).stdout.split()
        corpus_mb, peak_mb, seconds = map(float, out[1:4])
        over[way] = peak_mb - corpus_mb
        print(f"{way}: {args.passages} passages, rss with corpus {corpus_mb:.0f} MB, peak {peak_mb:.0f} MB, "
              f"{seconds:.1f} s")
    for way, mb in over.items():
        print(f"peak_over_corpus_mb[{way}]={mb:.0f}")
    print(f"ratio[plain-vs-ours]={over['plain'] / over['ours']:.2f}")


if __name__ == "__main__":
    main()
