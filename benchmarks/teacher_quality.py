"""Teacher quality probe: rerank BM25's top 20 for SciFact queries (the *train* split, where
settings are decided) with the torch and LLM teachers and print nDCG@10 next to BM25 and dense
retrieval alone. Slow teachers run on the first N queries (file order); their lines also print
BM25 on the same subset. `benchmarks/ladder.py --rung r0` ranks every teacher, the packaged ONNX
ones included, on the lists the product mines (docs/ladder.md).

Usage: PYTHONPATH=. python benchmarks/teacher_quality.py [--split train] [--mpnet-queries 100] [--llm-queries 10]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scifact import scifact_lists  # noqa: E402

from corpustune.evaluate.metrics import aggregate  # noqa: E402
from corpustune.retrieve.dense import exact_top_k, to_run  # noqa: E402
from corpustune.retrieve.encode import EmbeddingCache, encode, load_encoder  # noqa: E402
from corpustune.retrieve.fusion import ranked  # noqa: E402
from corpustune.teach.ensemble import combine  # noqa: E402
from corpustune.teach.llm import LLMTeacher  # noqa: E402


def ndcg(qrels, run) -> float:
    return 100 * aggregate(qrels, run, ["nDCG@10"])["nDCG@10"]


def report(name: str, qrels, run, bm25_run, seconds: float | None = None) -> None:
    subset = {q: bm25_run[q] for q in qrels if q in bm25_run}
    timing = f"  ({seconds:.0f} s)" if seconds is not None else ""
    print(f"{name:<44} queries {len(qrels):>3}  nDCG@10 {ndcg(qrels, run):6.2f}   BM25 on same queries "
          f"{ndcg(qrels, subset):6.2f}{timing}", flush=True)


def rerank(lists: dict[str, list[str]], scores: dict[str, np.ndarray]):
    return {q: {p: float(s) for p, s in zip(lists[q], scores[q])} for q in scores}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--split", default="train", help="a decision split; test is for reporting only")
    parser.add_argument("--mpnet-queries", type=int, default=100)
    parser.add_argument("--mpnet-max-length", type=int, default=256)
    parser.add_argument("--llm-queries", type=int, default=10)
    parser.add_argument("--llm-model", default="qwen-coder-1.5b")
    args = parser.parse_args()
    torch.set_num_threads(2)
    passages, queries, qrels, bm25_run, _ = scifact_lists(args.split, None)
    lists = {q: ranked(bm25_run.get(q, {}))[:20] for q in queries}
    report("BM25 (bm25s, stemmed, stopwords), top 20", qrels, bm25_run, bm25_run)

    started = time.perf_counter()
    minilm = load_encoder("minilm")
    ids = list(passages)
    corpus = EmbeddingCache().encode(minilm, [passages[p].full_text() for p in ids], normalize=True)
    query_vectors = encode(minilm, [queries[q].text for q in queries], normalize=True)
    scores, rows = exact_top_k(query_vectors, corpus, 100)
    report("dense alone: MiniLM exact search, full corpus", qrels, to_run(list(queries), ids, scores, rows), bm25_run,
           time.perf_counter() - started)
    row_of = {p: i for i, p in enumerate(ids)}
    minilm_scores = {
        q: corpus[[row_of[p] for p in lists[q]]] @ query_vectors[i] for i, q in enumerate(queries)
    }
    bm25_scores = {q: np.array([bm25_run[q][p] for p in lists[q]]) for q in queries}
    report("teacher biencoder:minilm (cosine)", qrels, rerank(lists, minilm_scores), bm25_run)
    for weights in ((1.0, 1.0),):
        fused = combine([[bm25_scores[q] for q in queries], [minilm_scores[q] for q in queries]], weights, "zscore")
        report(f"teacher bm25+biencoder:minilm z-score {weights}", qrels,
               rerank(lists, dict(zip(queries, fused))), bm25_run)

    subset = list(queries)[: args.llm_queries]
    started = time.perf_counter()
    teacher = LLMTeacher(args.llm_model, layout="passage_first")
    pairs = [(queries[q].text, passages[p].full_text()) for q in subset for p in lists[q]]
    flat = teacher.score(pairs)
    llm_scores, offset = {}, 0
    for q in subset:
        llm_scores[q] = flat[offset : offset + len(lists[q])]
        offset += len(lists[q])
    seconds = time.perf_counter() - started
    sub_qrels = {q: qrels[q] for q in subset}
    report(f"teacher llm:{args.llm_model} ({len(pairs) / seconds:.2f} pairs/s)", sub_qrels,
           rerank(lists, llm_scores), bm25_run, seconds)
    report("  (bm25+minilm z-score on the same queries)", sub_qrels,
           rerank(lists, dict(zip(subset, combine([[bm25_scores[q] for q in subset], [minilm_scores[q] for q in subset]],
                                                  (1.0, 1.0), "zscore")))), bm25_run)
    del teacher

    subset = list(queries)[: args.mpnet_queries]
    started = time.perf_counter()
    mpnet = load_encoder("mpnet", max_seq_length=args.mpnet_max_length)
    texts = sorted({passages[p].full_text() for q in subset for p in lists[q]})
    vectors = dict(zip(texts, encode(mpnet, texts, normalize=True)))
    mpnet_queries = encode(mpnet, [queries[q].text for q in subset], normalize=True)
    mpnet_scores = {
        q: np.array([vectors[passages[p].full_text()] @ mpnet_queries[i] for p in lists[q]]) for i, q in enumerate(subset)
    }
    sub_qrels = {q: qrels[q] for q in subset}
    report(f"teacher biencoder:mpnet (max {args.mpnet_max_length} tokens)", sub_qrels, rerank(lists, mpnet_scores),
           bm25_run, time.perf_counter() - started)
    fused = combine([[bm25_scores[q] for q in subset], [mpnet_scores[q] for q in subset]], (1.0, 1.0), "zscore")
    report("teacher bm25+biencoder:mpnet z-score", sub_qrels, rerank(lists, dict(zip(subset, fused))), bm25_run)
    fused = combine([[bm25_scores[q] for q in subset], [minilm_scores[q] for q in subset],
                     [mpnet_scores[q] for q in subset]], (1.0, 1.0, 1.0), "zscore")
    report("teacher bm25+minilm+mpnet z-score", sub_qrels, rerank(lists, dict(zip(subset, fused))), bm25_run)
    report("  (bm25+minilm z-score on the same queries)", sub_qrels,
           rerank(lists, dict(zip(subset, combine([[bm25_scores[q] for q in subset], [minilm_scores[q] for q in subset]],
                                                  (1.0, 1.0), "zscore")))), bm25_run)
    report("  (minilm on the same queries)", sub_qrels, rerank(lists, {q: minilm_scores[q] for q in subset}), bm25_run)


if __name__ == "__main__":
    main()
