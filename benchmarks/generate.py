"""Generation speed: corpustune's llama.cpp path against calling llama-cpp-python directly.

Both arms use one `Llama` (qwen-coder-0.5b), the same chat messages, seeds and sampling settings
on the same SciFact passages, in this process. Ours is the full `run_generation` (passage
sampling, prompt building, crash-safe log append, cleaning, filtering, all output files) extended
by one passage at a time in one run folder; the baseline is a bare `Llama.create_chat_completion`
call with the same messages. The arms are paired per passage, alternating which goes first, and
the KV cache is cleared before each arm, so that load on a shared machine hits both alike.
Tokens/s = completion tokens over wall time; the figure is the median over passages.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpustune.data.corpus import CorpusSpec, read_passages  # noqa: E402
from corpustune.generate.backends.llamacpp import LlamaCppBackend  # noqa: E402
from corpustune.generate.config import BackendConfig, GenerateConfig  # noqa: E402
from corpustune.generate.runner import plan_jobs, run_generation, type_keys  # noqa: E402
from corpustune.generate.sampling import sample_passages  # noqa: E402
from corpustune.generate.types import load_types  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--passages", type=int, default=20)
    parser.add_argument("--model", default="qwen-coder-0.5b")
    parser.add_argument("--types", default="question")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()

    passages = read_passages(CorpusSpec(path=DATA))
    config = GenerateConfig(
        backend=BackendConfig(model=args.model, n_threads=args.threads),
        types=tuple(args.types.split(",")), max_passages=args.passages, heldout_count=0,
    )
    backend = LlamaCppBackend(args.model, n_ctx=config.backend.n_ctx, n_threads=args.threads)
    types = load_types(config.types)
    keys = type_keys(config, types)
    sample = sample_passages(passages, seed=config.seed, max_passages=args.passages, heldout_count=0)
    requests = [r for p in sample.passages for job in plan_jobs(p, types, keys, set(), config) for r in job.requests]

    folder = tempfile.mkdtemp(prefix="corpustune-bench-")
    per_passage = len(requests) // len(sample.passages)

    def ours(index: int) -> tuple[int, float]:
        backend.llm.reset()
        started = time.perf_counter()
        step = config.model_copy(update={"max_passages": index + 1})
        result = run_generation(passages, step, folder, backend=backend, show_progress=False)
        seconds = time.perf_counter() - started
        assert result.generated_calls == per_passage
        tokens = sum(r["completion_tokens"] for r in _log(Path(folder)) if r["passage_id"] == sample.passages[index].id)
        return tokens, seconds

    def direct(index: int) -> tuple[int, float]:
        backend.llm.reset()
        started, tokens = time.perf_counter(), 0
        for request in requests[index * per_passage : (index + 1) * per_passage]:
            response = backend.llm.create_chat_completion(
                messages=list(request.messages), temperature=config.temperature, top_p=config.top_p,
                max_tokens=config.max_new_tokens, stop=list(config.stop), seed=request.seed,
            )
            tokens += response["usage"]["completion_tokens"]
        return tokens, time.perf_counter() - started

    totals = {"ours": [0, 0.0], "direct": [0, 0.0]}
    ratios = []
    for index in range(len(sample.passages)):
        rates = {}
        for arm in (ours, direct) if index % 2 == 0 else (direct, ours):
            tokens, seconds = arm(index)
            rates[arm.__name__] = tokens / seconds
            totals[arm.__name__][0] += tokens
            totals[arm.__name__][1] += seconds
        ratios.append(rates["ours"] / rates["direct"])
        print(f"passage {index + 1}: ours {rates['ours']:.2f} tok/s, direct {rates['direct']:.2f} tok/s, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    shutil.rmtree(folder)
    print(f"{len(sample.passages)} SciFact passages x types {args.types}: {len(requests)} calls, model {args.model}")
    print(f"total: corpustune {totals['ours'][0]} tokens in {totals['ours'][1]:.1f} s "
          f"({totals['ours'][0] / totals['ours'][1]:.2f} tok/s); baseline llama-cpp-python direct "
          f"{totals['direct'][0]} tokens in {totals['direct'][1]:.1f} s ({totals['direct'][0] / totals['direct'][1]:.2f} tok/s)")
    print(f"median per-passage tokens/s ratio (corpustune / direct): {statistics.median(ratios):.3f}")
    print(f"ratio={statistics.median(ratios):.3f}")


def _log(folder: Path) -> list[dict]:
    from corpustune.data.atomic import read_jsonl_log
    from corpustune.layout import RunLayout

    return list(read_jsonl_log(RunLayout(folder).generation_log))


if __name__ == "__main__":
    main()
