"""Trained passage slots per second: our training step vs sentence-transformers' trainer.

Data: SciFact BEIR *train* queries (never test), 64 queries x 8 passages, max 128 tokens, the
packaged MiniLM. Each list is the query's relevant passage plus its BM25 top passages from a
shared pool; the teacher is BM25 min-max normalized per list (a speed benchmark: the scores only
need the right shape). The pool is the 64 positives plus every query's BM25 top `--pool-depth`
over the whole corpus, so lists share passages the way mined lists on a small corpus do (at the
paper's step, 4,096 queries x 20 slots over SciFact's 5,183 passages, each distinct passage would
fill >= 15.8 slots on average; the sharing printed here is far lower).

Ours: `Trainer.step` (distinct passages encoded once, length-bucketed chunks, loss, backward,
clipping, AdamW). Baseline: a step of `SentenceTransformerTrainer` with `DistillKLDivLoss`
(tau_S 0.05, tau_T 0.3) on the same lists, measured between the trainer's step callbacks, in the
same process. Medians of `--repeats` steps after one warm-up step each.

`ratio[vs-previous]`: step seconds of the previous step (`PREVIOUS_STEP`: fp32, gradient caching
above 16,384 tokens) over today's defaults (bf16 autocast where the CPU has native bf16, a CPU
chunk budget of 32,768 tokens), same lists; the CPU's flags are printed with it. `--precision fp32`
gives today's step the precision `auto` takes on a CPU without native bf16: with the instruction
sets capped at AVX2 (`ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2`,
printed when set) it emulates an AVX2-only CPU of the same clock and memory.

`ratio[query-side]`: optimizer steps per second of `tune: query` (only queries are encoded; the
passages are the base model's embeddings, computed once beforehand and reported apart) over
`tune: both`, same lists and settings.

    PYTHONPATH=. python benchmarks/train_throughput.py [--data ../shared/data/scifact]
    PYTHONPATH=. python benchmarks/train_throughput.py --queries 32 --max-tokens 256 --skip-baseline  # laptop
    ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 PYTHONPATH=. \
        python benchmarks/train_throughput.py --queries 32 --max-tokens 256 --skip-baseline --precision fp32
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from corpustune.data.beir import load_split
from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.hardware import cpu_description
from corpustune.retrieve.bm25 import BM25Index
from corpustune.train.batching import Example, make_batch
from corpustune.train.config import TrainConfig
from corpustune.train.trainer import Trainer

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def build_lists(data: Path, queries: int, list_size: int, pool_depth: int, seed: int):
    passages = {p.id: p for p in read_passages(CorpusSpec(path=data))}
    train_queries, qrels = load_split(data, "train")
    rng = np.random.default_rng(seed)
    chosen = [q for q in sorted(qrels) if any(p in passages for p in qrels[q])]
    chosen = [chosen[i] for i in rng.permutation(len(chosen))[:queries]]
    texts = [train_queries[q].text for q in chosen]
    positives = [next(p for p in qrels[q] if p in passages) for q in chosen]
    full = BM25Index(list(passages.values()))
    _, rows = full.search(texts, pool_depth)
    pool = sorted(set(positives) | {full.passage_ids[j] for row in rows for j in row})
    pooled = BM25Index([passages[p] for p in pool])
    scores, rows = pooled.search(texts, list_size + 1)
    examples = []
    for qid, text, positive, row_s, row_i in zip(chosen, texts, positives, scores, rows):
        ranked = [(pooled.passage_ids[j], float(s)) for s, j in zip(row_s, row_i) if pooled.passage_ids[j] != positive]
        ids = [positive] + [p for p, _ in ranked[: list_size - 1]]
        raw = np.array([dict(ranked).get(positive, max(s for _, s in ranked))] + [s for _, s in ranked[: list_size - 1]])
        teacher = (raw - raw.min()) / max(raw.max() - raw.min(), 1e-9)
        examples.append(Example(qid, text, positive, tuple(ids), tuple(float(t) for t in teacher)))
    return examples, passages, len(pool)


# The training step before bf16 autocast on CPUs and the CPU chunk budget (session 7): fp32, and
# gradient caching once a step's passages exceed 16,384 padded tokens.
PREVIOUS_STEP = dict(precision="fp32", chunk_tokens=16384)
ISA_CAPS = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS")
"""Environment variables that cap the instruction sets torch's kernels, oneDNN and MKL use."""


def our_steps(examples, passages, args, tune: str = "both", **settings) -> tuple[list[float], float, str]:
    """Seconds of each optimizer step after one warm-up step, peak resident memory (GB), the path taken.
    `settings` override `TrainConfig` fields (e.g. `PREVIOUS_STEP`)."""
    config = TrainConfig(
        model="minilm", tune=tune, queries_per_step=len(examples), list_size=args.list_size,
        query_max_tokens=args.query_max_tokens, passage_max_tokens=args.max_tokens, seed=args.seed, **settings,
    )
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        trainer = Trainer(config, examples, [], passages, Path(out), show_progress=False)
        if tune == "query":
            print(f"query side: base passage embeddings ready in {time.perf_counter() - started:.1f} s "
                  "(the corpus encoding mining caches; paid once per run, not per step)")
        times = []
        for _ in range(args.repeats + 1):
            started = time.perf_counter()
            trainer.step(examples)
            times.append(time.perf_counter() - started)
        chunks = len(trainer.encoder.chunks([passages[p].full_text() for p in make_batch(examples).passage_ids],
                                            trainer.passage_side))
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    if tune == "query":
        return times[1:], peak_gb, "query side only, passages fixed"
    path = "gradient caching" if chunks > 1 else "one graph"
    precision = "bf16 autocast" if trainer.encoder.autocast_dtype is not None else "fp32"
    return times[1:], peak_gb, (f"{precision}, {path}, {chunks} passage chunk(s) of <= "
                                f"{trainer.encoder.chunk_tokens} tokens")


def baseline_steps(examples, passages, args) -> list[float]:
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformer,
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
    )
    from sentence_transformers.sentence_transformer.losses import DistillKLDivLoss
    from transformers import TrainerCallback

    from corpustune.models import resolve_model

    model = SentenceTransformer(resolve_model("minilm"), device="cpu")
    model.max_seq_length = args.max_tokens
    columns = {"query": [e.query_text for e in examples]}
    for j in range(args.list_size):
        columns[f"passage_{j}"] = [passages[e.passage_ids[j]].full_text() for e in examples]
    columns["label"] = [list(e.teacher_scores) for e in examples]
    dataset = Dataset.from_dict(columns)

    class Timer(TrainerCallback):
        def __init__(self):
            self.times, self.started = [], 0.0

        def on_step_begin(self, *_, **__):
            self.started = time.perf_counter()

        def on_step_end(self, *_, **__):
            self.times.append(time.perf_counter() - self.started)

    timer = Timer()
    with tempfile.TemporaryDirectory() as out:
        trainer = SentenceTransformerTrainer(
            model=model,
            args=SentenceTransformerTrainingArguments(
                output_dir=out, per_device_train_batch_size=len(examples), max_steps=args.repeats + 1,
                learning_rate=2e-4, weight_decay=0.01, max_grad_norm=1.0, save_strategy="no", report_to="none",
                use_cpu=True, logging_strategy="no", dataloader_drop_last=True, seed=args.seed,
            ),
            train_dataset=dataset,
            loss=DistillKLDivLoss(model, student_temperature=0.05, teacher_temperature=0.3),
            callbacks=[timer],
        )
        trainer.train()
    return timer.times[1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--queries", type=int, default=64)
    parser.add_argument("--list-size", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=128, help="passage tokens (the baseline's for both sides)")
    parser.add_argument("--query-max-tokens", type=int, default=64)
    parser.add_argument("--skip-baseline", action="store_true", help="only ours: tune both vs tune query")
    parser.add_argument("--pool-depth", type=int, default=2, help="BM25 top-k of each query added to the pool")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                        help="today's step's precision (fp32: what auto takes without native bf16)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads for both sides (on a CPU shared with other jobs, 2 threads thrash)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    examples, passages, pool = build_lists(args.data, args.queries, args.list_size, args.pool_depth, args.seed)
    batch = make_batch(examples)
    slots = batch.passage_slots
    print(f"CPU: {cpu_description()}; torch threads: {args.threads}")
    if caps := [f"{name}={os.environ[name]}" for name in ISA_CAPS if name in os.environ]:
        print(f"instruction sets capped: {' '.join(caps)}; torch's CPU capability: "
              f"{torch.backends.cpu.get_cpu_capability()}")
    print(f"data: {args.data.name} train queries, {len(examples)} queries x {args.list_size} passages = {slots} "
          f"passage slots, max {args.max_tokens} tokens, model minilm")
    print(f"sharing: pool of {pool} passages; {len(batch.passage_ids)} distinct passages in the step, "
          f"{slots / len(batch.passage_ids):.2f} slots per distinct passage")
    ours, peak_gb, path = our_steps(examples, passages, args, precision=args.precision)
    print(f"ours: {path}; step seconds {[round(t, 2) for t in ours]}; peak resident memory {peak_gb:.2f} GB "
          f"(limit 8 GB: {'ok' if peak_gb < 8 else 'EXCEEDED'})")
    previous, _, previous_path = our_steps(examples, passages, args, **PREVIOUS_STEP)
    print(f"previous step ({previous_path}): step seconds {[round(t, 2) for t in previous]}")
    print(f"ratio[vs-previous]={statistics.median(previous) / statistics.median(ours):.2f}")
    query_side, _, query_path = our_steps(examples, passages, args, tune="query", precision=args.precision)
    print(f"ours, tune: query ({query_path}): step seconds {[round(t, 3) for t in query_side]}")
    print(f"optimizer steps/s (median of {args.repeats}): tune both {1 / statistics.median(ours):.3f}, "
          f"tune query {1 / statistics.median(query_side):.3f}")
    print(f"ratio[query-side]={statistics.median(ours) / statistics.median(query_side):.2f}")
    if args.skip_baseline:
        return
    base = baseline_steps(examples, passages, args)
    print(f"sentence-transformers trainer + DistillKLDivLoss: step seconds {[round(t, 2) for t in base]}")
    ours_rate = slots / statistics.median(ours)
    base_rate = slots / statistics.median(base)
    print(f"trained passage slots/s (median of {args.repeats}): ours {ours_rate:.1f}, baseline {base_rate:.1f}")
    print(f"ratio={ours_rate / base_rate:.2f}")


if __name__ == "__main__":
    main()
