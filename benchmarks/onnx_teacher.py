"""ONNX cross-encoder teacher speed on SciFact candidate lists against a one-pair-at-a-time loop.

Ours: `score_pairs` + the teacher the factory builds for `--model` (default the packaged int8
`ms-marco-minilm-l12`): pairs de-duplicated, sorted by exact token length, batches by token budget
(for a dynamically quantized graph one pair per run by default), padding to each batch's longest;
"ours batched": the same with `--batch-tokens` padded tokens per run. Naive: the same graph and
tokenizer called directly, one pair per run (no padding at all), in list order. Both in this process, with `--threads` onnxruntime threads
(the teacher takes torch's thread count). Pairs: BM25's top `--depth` for the first `--queries`
SciFact *train* queries (a decision split), truncated to `--max-length` tokens.

Also printed: how far the batched scores are from the one-at-a-time ones. A dynamically
quantized int8 graph quantizes each activation tensor with one scale over the whole batch, so
batching moves the scores a little (not only by float rounding); the rank agreement within a list
says whether that matters to a teacher. `ratio` is ours against the naive loop in pairs/s,
`ratio[batched]` the batched variant's.

Usage: PYTHONPATH=. python benchmarks/onnx_teacher.py [--queries 20] [--depth 20] [--max-length 256] [--threads 2]
       [--batch-tokens 2048] [--model ms-marco-minilm-l12]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scifact import list_pairs, scifact_lists  # noqa: E402

from corpustune.hardware import cpu_description  # noqa: E402
from corpustune.parallel import Context  # noqa: E402
from corpustune.teach.cache import ScoreCache  # noqa: E402
from corpustune.teach.config import TeacherSpec  # noqa: E402
from corpustune.teach.factory import build_teacher  # noqa: E402
from corpustune.teach.onnx_model import graph_path  # noqa: E402
from corpustune.teach.scorer import score_pairs  # noqa: E402


def one_at_a_time(folder: Path, pairs, max_length: int, threads: int) -> np.ndarray:
    """Scores of `pairs` from the graph and tokenizer used directly, one pair per run."""
    import onnxruntime
    import tokenizers

    tokenizer = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length, strategy="longest_first")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    session = onnxruntime.InferenceSession(str(graph_path(folder)), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    scores = []
    for query, passage in pairs:
        encoding = tokenizer.encode(query, passage)
        arrays = {"input_ids": encoding.ids, "attention_mask": encoding.attention_mask, "token_type_ids": encoding.type_ids}
        scores.append(float(session.run(None, {name: np.array([arrays[name]], dtype=np.int64) for name in names})[0][0, 0]))
    return np.array(scores, dtype=np.float32)


def main() -> None:
    from scipy.stats import spearmanr

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="ms-marco-minilm-l12")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-tokens", type=int, default=2048, help="token budget of the batched variant")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    passages, queries, _, run, _ = scifact_lists("train", args.queries, depth=args.depth)
    rows = list_pairs(passages, queries, run)
    pairs = [pair for _, _, pair in rows]
    teachers = {
        "ours": build_teacher(TeacherSpec(kind="cross-encoder", model=args.model, max_length=args.max_length), []),
        "ours batched": build_teacher(TeacherSpec(kind="cross-encoder", model=args.model, max_length=args.max_length,
                                                  tokens_per_batch=args.batch_tokens), []),
    }
    print(cpu_description())
    for name, teacher in teachers.items():
        print(f"{name}: {teacher.id}, {teacher.tokens_per_batch} tokens per batch")
        teacher.score(pairs[:4])  # first-run costs (allocations, kernel choice) outside the timings
    print(f"{len(pairs)} pairs, {args.threads} threads", flush=True)
    scores, seconds = {}, {}
    for name, teacher in teachers.items():
        with tempfile.TemporaryDirectory() as folder:
            cache = ScoreCache(folder)
            started = time.perf_counter()
            scores[name] = score_pairs(pairs, teacher, cache, Context(), chunk_size=256)
            seconds[name] = time.perf_counter() - started
            cache.close()
    started = time.perf_counter()
    scores["naive"] = one_at_a_time(teachers["ours"].onnx.folder, pairs, args.max_length, args.threads)
    seconds["naive"] = time.perf_counter() - started
    print("; ".join(f"{name} {len(pairs) / s:.1f} pairs/s ({s:.1f} s)" for name, s in seconds.items()))
    starts = np.flatnonzero(np.r_[True, [a[0] != b[0] for a, b in zip(rows[1:], rows[:-1])]])
    lists = np.split(np.arange(len(pairs)), starts[1:])
    naive = scores["naive"]
    for name in teachers:
        ours = scores[name]
        difference = np.abs(ours - naive)
        top = np.mean([ours[r].argmax() == naive[r].argmax() for r in lists])
        rho = np.mean([spearmanr(ours[r], naive[r]).statistic for r in lists])
        print(f"{name} vs one at a time: max |diff| {difference.max():.3g}, mean {difference.mean():.3g} (scores "
              f"span {naive.min():.1f} .. {naive.max():.1f}); same top passage in {top:.0%} of {len(lists)} lists; "
              f"mean Spearman within a list {rho:.4f}")
    print(f"ratio={seconds['naive'] / seconds['ours']:.2f} ratio[batched]={seconds['naive'] / seconds['ours batched']:.2f}")

if __name__ == "__main__":
    main()
