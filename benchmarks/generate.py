"""Generation speed: corpustune's llama.cpp path against calling llama-cpp-python directly.

Both arms use one `Llama` (qwen-coder-0.5b), the same chat messages, seeds and sampling settings
on the same SciFact passages, in this process. Ours is the full `run_generation` (sampling, prompt
building, crash-safe log appends, cleaning, filtering, output files) into a fresh run folder;
the baseline is a bare loop of `Llama.create_chat_completion`. Tokens/s = completion tokens over
wall time; arms alternate (ours, direct, direct, ours, ...) and the medians are compared.
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--repeats", type=int, default=3)
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

    def ours() -> tuple[int, float]:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            result = run_generation(passages, config, folder, backend=backend, show_progress=False)
            seconds = time.perf_counter() - started
            tokens = sum(r["completion_tokens"] for r in _log(Path(folder)))
        assert result.generated_calls == len(requests)
        return tokens, seconds

    def direct() -> tuple[int, float]:
        started, tokens = time.perf_counter(), 0
        for request in requests:
            response = backend.llm.create_chat_completion(
                messages=list(request.messages), temperature=config.temperature, top_p=config.top_p,
                max_tokens=config.max_new_tokens, stop=list(config.stop), seed=request.seed,
            )
            tokens += response["usage"]["completion_tokens"]
        return tokens, time.perf_counter() - started

    rates: dict[str, list[float]] = {"ours": [], "direct": []}
    for repeat in range(args.repeats):
        order = (ours, direct) if repeat % 2 == 0 else (direct, ours)
        for arm in order:
            tokens, seconds = arm()
            rates[arm.__name__].append(tokens / seconds)
            print(f"repeat {repeat + 1} {arm.__name__:>6}: {tokens} tokens in {seconds:.1f} s = {tokens / seconds:.2f} tok/s",
                  flush=True)
    ours_rate, direct_rate = statistics.median(rates["ours"]), statistics.median(rates["direct"])
    print(f"{len(sample.passages)} SciFact passages x types {args.types}: {len(requests)} calls, model {args.model}")
    print(f"median tokens/s: corpustune {ours_rate:.2f}; baseline llama-cpp-python direct {direct_rate:.2f}")
    print(f"ratio={ours_rate / direct_rate:.3f}")


def _log(folder: Path) -> list[dict]:
    from corpustune.data.atomic import read_jsonl_log
    from corpustune.generate.runner import LOG_NAME

    return list(read_jsonl_log(folder / "queries" / LOG_NAME))


if __name__ == "__main__":
    main()
