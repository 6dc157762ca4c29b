"""Corpus encoding speed: corpustune's `encode` against `SentenceTransformer.encode`.

Same model (packaged MiniLM), same 1,000 SciFact passages (title + text), same max length, in
the same process; runs alternate between the two so that machine noise hits both alike.
Prints passages/s (median of the repeats), the largest embedding difference, and
`ratio=<ours/baseline>`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.retrieve.encode import encode, load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--passages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="baseline batch size (its default)")
    args = parser.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        sys.exit(f"no corpus at {args.data}; pass --data")

    texts = [p.full_text() for p in read_passages(CorpusSpec(path=args.data))[: args.passages]]
    model = load_encoder(args.model, device="cpu")
    # Both sides use the model's own max length and float32; ours uses the same number of
    # tokens per batch as the baseline's 32 texts at full length.
    tokens_per_batch = args.batch_size * model.max_seq_length
    encode(model, texts[:64], tokens_per_batch=tokens_per_batch)
    model.encode(texts[:64], batch_size=args.batch_size)

    ours_rates, baseline_rates = [], []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        baseline = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        baseline_rates.append(len(texts) / (time.perf_counter() - start))
        start = time.perf_counter()
        ours = encode(model, texts, tokens_per_batch=tokens_per_batch)
        ours_rates.append(len(texts) / (time.perf_counter() - start))
        print(f"repeat {repeat + 1}: baseline {baseline_rates[-1]:.1f} passages/s, ours {ours_rates[-1]:.1f} passages/s", flush=True)

    ours_rate, baseline_rate = statistics.median(ours_rates), statistics.median(baseline_rates)
    print(f"model {args.model}, {len(texts)} SciFact passages, max {model.max_seq_length} tokens")
    print(f"baseline SentenceTransformer.encode(batch_size={args.batch_size}): {baseline_rate:.1f} passages/s (median of {args.repeats})")
    print(f"ours corpustune encode(tokens_per_batch={tokens_per_batch}): {ours_rate:.1f} passages/s (median of {args.repeats})")
    print(f"max |difference| of embeddings: {np.abs(ours - baseline).max():.2e}")
    print(f"ratio={ours_rate / baseline_rate:.3f}")


if __name__ == "__main__":
    main()
