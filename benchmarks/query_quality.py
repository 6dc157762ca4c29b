"""Quality probe of generated queries on SciFact.

Generates queries of every built-in type with `qwen-coder-1.5b` (llama.cpp) for N sampled SciFact
passages and prints per type: kept fraction, mean length (words), copy rate (share of cleaned
outputs whose word 3-grams lie in the passage >= 75 %), and the fraction of kept queries whose
source passage BM25 ranks in the top 10 of the whole corpus. Baseline: the same BM25 top-10
fraction for SciFact's human test queries (used for this measurement only, never for prompts).

Generation is resumable (the run folder's log): `--report-only` prints the figures for the
passages finished so far, e.g. after `timeout` stopped a long generation.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpustune.data.atomic import read_jsonl_log  # noqa: E402
from corpustune.data.beir import load_split  # noqa: E402
from corpustune.data.corpus import CorpusSpec, read_passages  # noqa: E402
from corpustune.data.lines import iter_jsonl  # noqa: E402
from corpustune.generate.config import BackendConfig, GenerateConfig  # noqa: E402
from corpustune.generate.postprocess import copy_fraction  # noqa: E402
from corpustune.generate.runner import run_generation  # noqa: E402
from corpustune.generate.sampling import sample_passages  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402
from corpustune.retrieve.bm25 import BM25Index  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def top10_fraction(index: BM25Index, pairs: list[tuple[str, str]]) -> float:
    """Share of (query text, relevant passage id) pairs whose passage BM25 ranks in the top 10."""
    if not pairs:
        return 0.0
    _, rows = index.search([text for text, _ in pairs], k=10)
    hits = sum(pid in {index.passage_ids[r] for r in row} for (_, pid), row in zip(pairs, rows))
    return hits / len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=100)
    parser.add_argument("--model", default="qwen-coder-1.5b")
    parser.add_argument("--out", default="/tmp/corpustune-query-quality")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--report-only", action="store_true", help="use only the passages already in the log")
    args = parser.parse_args()

    passages = read_passages(CorpusSpec(path=DATA))
    by_id = {p.id: p for p in passages}
    config = GenerateConfig(
        backend=BackendConfig(model=args.model, n_threads=args.threads), max_passages=args.passages, heldout_count=0
    )
    if args.report_only:
        finished = {r["passage_id"] for r in read_jsonl_log(RunLayout(args.out).generation_log)}
        order = sample_passages(passages, seed=config.seed, max_passages=args.passages,
                                min_chars=config.min_passage_chars, heldout_count=0).passages
        # Passages are generated in sample order, so the finished ones are a prefix of it.
        done = next((i for i, p in enumerate(order) if p.id not in finished), len(order))
        if done == 0:
            sys.exit("no passage finished yet")
        config = config.model_copy(update={"max_passages": done})
    result = run_generation(passages, config, args.out, show_progress=not args.report_only)
    folder = Path(args.out) / "queries"
    kept = [r for _, r in iter_jsonl(folder / "queries.jsonl")]
    dropped = [r for _, r in iter_jsonl(folder / "dropped.jsonl")]
    index = BM25Index(passages)
    print(f"SciFact, {result.stats['passages']['sampled']} passages, generator {args.model} (llama.cpp)")
    print(f"{'type':<12} {'generated':>9} {'kept':>6} {'mean words':>10} {'copy rate':>9} {'BM25 top-10':>11}")
    all_pairs = []
    for name, stats in result.stats["types"].items():
        outputs = [r for r in kept + dropped if r["type"] == name and r["text"]]
        copies = sum(copy_fraction(r["text"], by_id[r["source_id"]].full_text(), config.copy_ngram)
                     >= config.copy_threshold for r in outputs)
        pairs = [(r["text"], r["source_id"]) for r in kept if r["type"] == name]
        all_pairs += pairs
        print(f"{name:<12} {stats['generated']:>9} {stats['kept_fraction']:>6.2f} {stats['mean_words']:>10.1f} "
              f"{copies / max(len(outputs), 1):>9.2f} {top10_fraction(index, pairs):>11.2f}")
        print(f"  dropped: {json.dumps(stats['dropped'])}")
    ours = top10_fraction(index, all_pairs)
    queries, qrels = load_split(DATA, "test")
    human = top10_fraction(index, [(queries[q].text, pid) for q, judged in qrels.items() for pid in judged if judged[pid] > 0])
    print(f"BM25 top-10 fraction: synthetic (all types) {ours:.3f}; baseline SciFact human test queries {human:.3f}")
    print(f"ratio={ours / human:.3f}")


if __name__ == "__main__":
    main()
