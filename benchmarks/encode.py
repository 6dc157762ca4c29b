"""Corpus encoding speed: corpustune's `encode` against `SentenceTransformer.encode`, and the
model exported by `corpustune export` (ONNX, ONNX int8) against the torch model.

Same model (packaged MiniLM), same 1,000 SciFact passages (title + text), same max length, in
the same process; runs alternate between the arms so that machine noise hits all alike.
Prints passages/s (median of the repeats), the largest embedding difference, the CPU and its
flags, `ratio=<ours/baseline>`, `ratio[bf16]=<ours under bf16 autocast/ours in fp32>` (what
`precision: auto` picks on a CPU with native bf16; emulated, hence slow, on one without) and
`ratio[onnx]=<ONNX/torch>`, `ratio[onnx-int8]=<ONNX int8/torch>` (the exported graph on
onnxruntime against corpustune's torch `encode`, the same length-sorted batches under the same
token budget, as many threads as torch uses).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.hardware import cpu_description
from corpustune.models import resolve_model
from corpustune.retrieve.encode import encode, load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--passages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32, help="baseline batch size (its default)")
    parser.add_argument("--no-onnx", action="store_true", help="skip the exported ONNX arms (no export extra)")
    args = parser.parse_args()
    if not (args.data / "corpus.jsonl").exists():
        sys.exit(f"no corpus at {args.data}; pass --data")

    texts = [p.full_text() for p in read_passages(CorpusSpec(path=args.data))[: args.passages]]
    model = load_encoder(args.model, device="cpu")
    # Both sides use the model's own max length and float32; ours uses the same number of
    # tokens per batch as the baseline's 32 texts at full length.
    tokens_per_batch = args.batch_size * model.max_seq_length
    encode(model, texts[:64], tokens_per_batch=tokens_per_batch)
    encode(model, texts[:64], tokens_per_batch=tokens_per_batch, bf16=True)
    model.encode(texts[:64], batch_size=args.batch_size)
    exported = {} if args.no_onnx else export_arms(args.model, texts[:64], tokens_per_batch)

    ours_rates, baseline_rates, bf16_rates = [], [], []
    exported_rates: dict[str, list[float]] = {name: [] for name in exported}
    exported_embeddings = {}
    for repeat in range(args.repeats):
        start = time.perf_counter()
        baseline = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        baseline_rates.append(len(texts) / (time.perf_counter() - start))
        start = time.perf_counter()
        ours = encode(model, texts, tokens_per_batch=tokens_per_batch)
        ours_rates.append(len(texts) / (time.perf_counter() - start))
        start = time.perf_counter()
        bf16 = encode(model, texts, tokens_per_batch=tokens_per_batch, bf16=True)
        bf16_rates.append(len(texts) / (time.perf_counter() - start))
        for name, encoder in exported.items():
            start = time.perf_counter()
            exported_embeddings[name] = encoder.encode(texts, tokens_per_batch=tokens_per_batch)
            exported_rates[name].append(len(texts) / (time.perf_counter() - start))
        others = "".join(f", {name} {rates[-1]:.1f}" for name, rates in exported_rates.items())
        print(f"repeat {repeat + 1}: baseline {baseline_rates[-1]:.1f} passages/s, ours {ours_rates[-1]:.1f} passages/s, "
              f"ours bf16 {bf16_rates[-1]:.1f}{others}", flush=True)

    ours_rate, baseline_rate = statistics.median(ours_rates), statistics.median(baseline_rates)
    print(f"model {args.model}, {len(texts)} SciFact passages, max {model.max_seq_length} tokens, "
          f"{torch.get_num_threads()} threads")
    print(f"CPU: {cpu_description()}")
    print(f"baseline SentenceTransformer.encode(batch_size={args.batch_size}): {baseline_rate:.1f} passages/s (median of {args.repeats})")
    print(f"ours corpustune encode(tokens_per_batch={tokens_per_batch}): {ours_rate:.1f} passages/s (median of {args.repeats})")
    print(f"max |difference| of embeddings: {np.abs(ours - baseline).max():.2e}")
    print(f"ours under bf16 autocast: {statistics.median(bf16_rates):.1f} passages/s (median of {args.repeats}); "
          f"smallest cosine to fp32 {(bf16 * ours).sum(1).min():.6f}")
    for name, rates in exported_rates.items():
        rate = statistics.median(rates)
        vectors = exported_embeddings[name]
        cosine = (vectors * ours).sum(1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(ours, axis=1))
        print(f"{name} (exported, onnxruntime): {rate:.1f} passages/s (median of {args.repeats}); against torch: "
              f"max |difference| {np.abs(vectors - ours).max():.2e}, smallest cosine {cosine.min():.6f}")
    print(f"ratio={ours_rate / baseline_rate:.3f}")
    print(f"ratio[bf16]={statistics.median(bf16_rates) / ours_rate:.3f}")
    for name, rates in exported_rates.items():
        print(f"ratio[{name}]={statistics.median(rates) / ours_rate:.3f}")


def export_arms(model_name: str, warmup: list[str], tokens_per_batch: int) -> dict:
    """`corpustune export` of the model, as ONNX and ONNX int8 in a temporary folder, loaded and warmed up."""
    from corpustune.export import export_model
    from corpustune.export.runtime import ExportedEncoder

    folder = Path(tempfile.mkdtemp(prefix="encode-bench-"))
    arms = {}
    for name, quantize in (("onnx", None), ("onnx-int8", "int8")):
        result = export_model(Path(resolve_model(model_name)), folder / name, quantize=quantize)
        arms[name] = ExportedEncoder(result.folder, threads=torch.get_num_threads())
        arms[name].encode(warmup, tokens_per_batch=tokens_per_batch)
    return arms


if __name__ == "__main__":
    main()
