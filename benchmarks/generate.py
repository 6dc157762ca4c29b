"""Kept synthetic queries per minute: the new generation default against today's layout.

Baseline ("passages-seq-1"): few-shot examples with their passages, one `create_chat_completion`
per type (llama.cpp reuses the passage prefix between them), one query per type. New arms
("queries-batch-N"): examples as queries only, every type x N samples of a passage decoded together
by the batched decoder; "queries-batch-1-types-K" (`--types-per-passage K`): one sample of each of
a seeded subset of K types per passage (`generate.types_per_passage`). Same model (one `Llama`),
same passages, six built-in types, in this process; the arm order rotates per passage. Only the backend's `generate` calls are timed; cleaning and
filtering then run through `run_generation` on each arm's log (the real filters, near-duplicates
included). Printed per arm and type: kept fraction, passage-copy rate (of generated), example-leak
rate (kept queries sharing more content words with one of their prompt's examples, passage and
query, than with their own passage), BM25 top-10 rate of the source passage (over the corpus).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpustune.data.atomic import JsonlAppender  # noqa: E402
from corpustune.data.corpus import CorpusSpec, read_passages  # noqa: E402
from corpustune.data.lines import iter_jsonl  # noqa: E402
from corpustune.evaluate.answerable import ContentWords  # noqa: E402
from corpustune.generate.backends.llamacpp import LlamaCppBackend  # noqa: E402
from corpustune.generate.config import BackendConfig, GenerateConfig  # noqa: E402
from corpustune.generate.prompts import pick_examples  # noqa: E402
from corpustune.generate.runner import passage_digest, plan_jobs, run_generation, sampling_for, type_keys  # noqa: E402
from corpustune.generate.sampling import sample_passages  # noqa: E402
from corpustune.generate.types import BUILTIN_TYPES, load_types  # noqa: E402
from corpustune.hardware import cpu_description  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402
from corpustune.retrieve.bm25 import BM25Index  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
BASELINE = "passages-seq-1"


class Sequential:
    """The backend's path without batching, for the baseline arm."""

    def __init__(self, backend: LlamaCppBackend):
        self.backend = backend

    def generate(self, requests, sampling):
        return self.backend.generate_sequential(requests, sampling)


def arm_configs(model: str, threads: int | None, counts: list[int], subsets: list[int]) -> dict[str, GenerateConfig]:
    """The baseline, one batched arm per count of samples a type, and one batched arm (1 sample a
    type) per size of the seeded type subset (`generate.types_per_passage`)."""
    base = dict(types=BUILTIN_TYPES, heldout_count=0, max_passages=None)
    arms = {BASELINE: GenerateConfig(backend=BackendConfig(model=model, n_threads=threads, batch_decode=False),
                                     few_shot_layout="passages", default_count=1, **base)}
    for count in counts:
        arms[f"queries-batch-{count}"] = GenerateConfig(
            backend=BackendConfig(model=model, n_threads=threads), few_shot_layout="queries", default_count=count, **base)
    for k in subsets:
        arms[f"queries-batch-1-types-{k}"] = GenerateConfig(
            backend=BackendConfig(model=model, n_threads=threads), few_shot_layout="queries", default_count=1,
            types_per_passage=k, **base)
    return arms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--passages", type=int, default=30)
    parser.add_argument("--model", default="qwen-coder-0.5b")
    parser.add_argument("--counts", default="1,2,3", help="samples per type of the new arms")
    parser.add_argument("--types-per-passage", default="", help="comma-separated subset sizes (1 sample a type)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    print(cpu_description())
    corpus = read_passages(CorpusSpec(path=Path(args.data)))
    sample = sample_passages(corpus, seed=13, max_passages=args.passages, heldout_count=0).passages
    subsets = [int(k) for k in args.types_per_passage.split(",") if k]
    arms = arm_configs(args.model, args.threads, [int(c) for c in args.counts.split(",") if c], subsets)
    backend = LlamaCppBackend(args.model, n_threads=args.threads)
    engines = {name: Sequential(backend) if name == BASELINE else backend for name in arms}
    types = load_types(BUILTIN_TYPES)
    folders = {name: Path(tempfile.mkdtemp(prefix=f"corpustune-bench-{name}-")) for name in arms}
    seconds, tokens = defaultdict(float), defaultdict(lambda: [0, 0])
    names = list(arms)
    for index, passage in enumerate(sample):
        order = names[index % len(names):] + names[: index % len(names)]
        for name in order:
            config = arms[name]
            jobs = plan_jobs(passage, types, type_keys(config, types), set(), config, heldout=False)
            requests = [r for job in jobs for r in job.requests]
            started = time.perf_counter()
            completions = iter(engines[name].generate(requests, sampling_for(config)))
            seconds[name] += time.perf_counter() - started
            rows = []
            for job in jobs:
                outputs = [next(completions) for _ in job.requests]
                rows.append({"key": job.key, "passage_id": passage.id, "passage_sha": passage_digest(passage),
                             "type": job.type_name, "raw": [c.text for c in outputs],
                             "completion_tokens": sum(c.completion_tokens for c in outputs),
                             "prompt_tokens": sum(c.prompt_tokens for c in outputs)})
                tokens[name][0] += rows[-1]["prompt_tokens"]
                tokens[name][1] += rows[-1]["completion_tokens"]
            with JsonlAppender(RunLayout(folders[name]).generation_log) as log:
                log.append_many(rows)
        print(f"passage {index + 1}/{len(sample)}: " + ", ".join(f"{n} {seconds[n]:.1f} s" for n in names), flush=True)

    summarize(args.data, args.model, corpus, sample, types, arms, folders, seconds, tokens)
    if backend.decoder is not None:
        print("batched decoder seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in backend.decoder.seconds.items()))
    backend.close()


def summarize(data, model, corpus, sample, types, arms, folders, seconds, tokens) -> None:
    """Clean and filter each arm's log with `run_generation`, then print the figures and ratios."""
    bm25 = BM25Index(corpus)
    content = ContentWords()
    by_id = {p.id: p for p in sample}
    rates = {}
    print(f"\n{data}: {len(sample)} passages, types {','.join(BUILTIN_TYPES)}, model {model}")
    for name, config in arms.items():
        stats = run_generation(sample, config, folders[name], backend=None, show_progress=False).stats
        kept = [r for _, r in iter_jsonl(RunLayout(folders[name]).queries_dir / "queries.jsonl")]
        top10 = set()
        if kept:
            _, rows = bm25.search([q["text"] for q in kept], 10)
            top10 = {q["_id"] for q, row in zip(kept, rows) if q["source_id"] in {bm25.passage_ids[i] for i in row}}
        print(f"arm {name}: prompt tokens {tokens[name][0]}, completion tokens {tokens[name][1]}, "
              f"wall {seconds[name]:.1f} s ({seconds[name] / len(sample):.2f} s a passage), kept {len(kept)}, "
              f"kept per minute {60 * len(kept) / seconds[name]:.2f}")
        for query_type in types:
            entry = stats["types"][query_type.name]
            mine = [q for q in kept if q["type"] == query_type.name]
            leaks = sum(_leaks(q, by_id[q["source_id"]], query_type, config, content) for q in mine)
            hits = sum(q["_id"] in top10 for q in mine)
            generated = max(entry["generated"], 1)
            print(f"  {query_type.name:12s} kept {entry['kept']:3d}/{entry['generated']:3d} "
                  f"({entry['kept_fraction']:.2f})  passage-copy {entry['dropped'].get('passage_copy', 0) / generated:.2f}"
                  f"  example-copy {entry['dropped'].get('example_copy', 0) / generated:.2f}"
                  f"  near-dup {entry['dropped'].get('near_duplicate', 0) / generated:.2f}"
                  f"  example-leak {leaks / max(len(mine), 1):.2f}  bm25-top10 {hits / max(len(mine), 1):.2f}")
        rates[name] = len(kept) / seconds[name]
    for name in list(arms)[1:]:
        print(f"{name} vs {BASELINE}: ratio[kept-per-minute]={rates[name] / rates[BASELINE]:.2f} "
              f"ratio[passages-per-minute]={seconds[BASELINE] / seconds[name]:.2f}")


def _leaks(query: dict, passage, query_type, config: GenerateConfig, content: ContentWords) -> bool:
    """Whether the query shares more content words with one of its prompt's examples than with its passage."""
    words = content(query["text"])
    own = len(words & content(passage.full_text()))
    shown = pick_examples(query_type, config.few_shot_count, config.seed, passage.id)
    return any(len(words & content(f"{e.passage} {e.query}")) > own for e in shown)


if __name__ == "__main__":
    main()
