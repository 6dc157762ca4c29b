"""Teacher scoring speed on SciFact candidate lists against the naive baselines.

Cross-encoder: our scorer (`score_pairs` + `CrossEncoderTeacher` with its defaults: pooled pairs
sorted by exact token length, batches by token budget, bf16 where the hardware computes it
natively, score cache written as it goes), and the same in fp32, against `CrossEncoder.predict`
(fp32, as loaded) over the pairs in list order with batch size 32. The model is MiniLM-sized,
built from the packaged MiniLM weights with a fresh 1-logit head (speed, not quality); max length
256. Agreement with predict is printed: max difference, top passage per list, Spearman.

LLM: our `LLMTeacher` (prefix KV reuse, pairs grouped by their shared head), in both prompt
layouts, against evaluating every pair's full prompt with a fresh `Llama.eval` (same tokens). The
LLM pairs mimic the pipeline, where every passage is the source of one query per query type: they
are the lists (source passage + BM25 candidates) of SciFact train queries that share a source
passage, in groups of --llm-group-size queries.

Bi-encoder (`--run RUN`, a run folder with mined candidate lists, e.g. the laptop run's): our
`BiEncoderTeacher` (each distinct query and passage text embedded once per run, however the
scorer cuts the pairs into chunks) against the previous per-chunk scoring (each chunk of
`score.chunk_size` pairs encoded on its own, its texts de-duplicated within the chunk), both
through `score_pairs` with the laptop teacher mpnet in its default precision, the same pairs
and chunks, fresh score caches. Corpus embeddings from the embedding cache are not used by
either side (they exist only where the same model embedded the corpus before); the texts each
side encodes are counted.

Usage: PYTHONPATH=. python benchmarks/teacher.py [--pairs 2000] [--repeats 3] [--skip-llm | --skip-cross-encoder]
       [--llm-model qwen-coder-1.5b] [--llm-groups 2] [--llm-group-size 3] [--llm-per-query 6]
       [--run RUN [--data ../shared/data/scifact] [--biencoder mpnet]]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _scifact import SCIFACT, list_pairs, scifact_lists  # noqa: E402

from corpustune.data.corpus import CorpusSpec, read_passages  # noqa: E402
from corpustune.hardware import usable_cores  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402
from corpustune.models import resolve_model  # noqa: E402
from corpustune.parallel import Context  # noqa: E402
from corpustune.retrieve.encode import encode  # noqa: E402
from corpustune.retrieve.fusion import ranked  # noqa: E402
from corpustune.teach.biencoder import BiEncoderTeacher  # noqa: E402
from corpustune.teach.cache import ScoreCache  # noqa: E402
from corpustune.teach.config import ScoreConfig  # noqa: E402
from corpustune.teach.cross_encoder import CrossEncoderTeacher  # noqa: E402
from corpustune.teach.llm import LLMTeacher, prompt_parts  # noqa: E402
from corpustune.teach.scorer import score_pairs  # noqa: E402
from corpustune.teach.stage import list_pairs as stage_pairs  # noqa: E402
from corpustune.teach.stage import read_candidates  # noqa: E402


def timed(function):
    started = time.perf_counter()
    result = function()
    return time.perf_counter() - started, result


def cross_encoder_part(pairs, repeats: int, folder: Path) -> float:
    from scipy.stats import spearmanr
    from sentence_transformers import CrossEncoder

    torch.manual_seed(0)
    CrossEncoder(resolve_model("minilm"), num_labels=1, max_length=256).save(str(folder / "ce"))
    baseline = CrossEncoder(str(folder / "ce"), max_length=256)  # fp32, as loaded
    teachers = {
        "ours": CrossEncoderTeacher(str(folder / "ce"), max_length=256),  # defaults: precision auto
        "ours fp32": CrossEncoderTeacher(str(folder / "ce"), max_length=256, precision="fp32"),
    }
    print(f"  ours runs in {teachers['ours'].dtype}, {teachers['ours'].tokens_per_batch} tokens per batch")
    for teacher in teachers.values():  # first-call costs (kernel selection) outside the timings
        teacher.score(pairs[:8])
    baseline.predict(pairs[:8], batch_size=32)
    seconds = {name: [] for name in [*teachers, "naive", "per list"]}
    scores = {}
    for repeat in range(repeats):
        for name, teacher in teachers.items():
            cache = ScoreCache(folder / f"cache-{name}-{repeat}")
            elapsed, scores[name] = timed(
                lambda: score_pairs(pairs, teacher, cache, Context(), chunk_size=len(pairs))
            )
            cache.close()
            seconds[name].append(elapsed)
        elapsed, scores["naive"] = timed(
            lambda: baseline.predict(pairs, batch_size=32, activation_fn=torch.nn.Identity())
        )
        seconds["naive"].append(elapsed)
        elapsed, _ = timed(lambda: [
            baseline.predict(pairs[i : i + 20], batch_size=32, activation_fn=torch.nn.Identity())
            for i in range(0, len(pairs), 20)
        ])
        seconds["per list"].append(elapsed)
        print(f"  repeat {repeat}: " + ", ".join(f"{name} {len(pairs) / s[-1]:.1f} pairs/s" for name, s in seconds.items()),
              flush=True)
    lists = [np.arange(i, min(i + 20, len(pairs))) for i in range(0, len(pairs), 20)]
    for name in teachers:
        ours, naive = scores[name], scores["naive"]
        top1 = np.mean([ours[rows].argmax() == naive[rows].argmax() for rows in lists])
        rho = np.mean([spearmanr(ours[rows], naive[rows]).statistic for rows in lists])
        print(f"  {name} vs predict: max |diff| {np.max(np.abs(ours - naive)):.2e}, same top passage in "
              f"{top1:.1%} of lists, mean Spearman within a list {rho:.4f}")
    rates = {name: len(pairs) / statistics.median(s) for name, s in seconds.items()}
    print(f"cross-encoder ({len(pairs)} pairs, median of {repeats}): ours {rates['ours']:.1f} pairs/s, ours in fp32 "
          f"{rates['ours fp32']:.1f}, naive CrossEncoder.predict (fp32, batch 32) {rates['naive']:.1f} pairs/s, "
          f"predict one list of 20 at a time (the paper's scripts) {rates['per list']:.1f} pairs/s; "
          f"fp32-only ratio {rates['ours fp32'] / rates['naive']:.2f}")
    return rates["ours"] / rates["naive"]


def llm_part(pairs, repeats: int, model: str) -> float:
    best = 0.0
    teachers = {layout: LLMTeacher(model, layout=layout) for layout in ("query_first", "passage_first")}
    scorer = teachers["query_first"].scorer
    for layout, teacher in teachers.items():
        prompts = [prompt_parts(q, p, layout, teacher.max_passage_words) for q, p in pairs]
        tokens = [teacher.scorer.tokens(h) + teacher.scorer.tokens(t) for h, t in prompts]
        ours_s, fresh_s = [], []
        for repeat in range(repeats):
            t_fresh, fresh = timed(lambda: np.array([scorer.margin(t, reuse=False) for t in tokens]))
            teacher.scorer.llm.n_tokens = 0  # ours starts from an empty context
            t_ours, ours = timed(lambda: teacher.score(pairs))
            ours_s.append(t_ours)
            fresh_s.append(t_fresh)
            print(f"  {layout} repeat {repeat}: ours {len(pairs) / t_ours:.2f} pairs/s, "
                  f"fresh eval {len(pairs) / t_fresh:.2f} pairs/s", flush=True)
        mean_tokens = statistics.mean(len(t) for t in tokens)
        ratio = statistics.median(fresh_s) / statistics.median(ours_s)
        print(f"llm {layout} ({len(pairs)} pairs, {mean_tokens:.0f} tokens/prompt, median of {repeats}): "
              f"ours {len(pairs) / statistics.median(ours_s):.2f} pairs/s, fresh Llama.eval per pair "
              f"{len(pairs) / statistics.median(fresh_s):.2f} pairs/s, ratio {ratio:.2f}, "
              f"max |ours - fresh| = {np.max(np.abs(ours - fresh)):.2e}", flush=True)
        best = max(best, ratio)
    return best


class PerChunkBiEncoder:
    """The previous bi-encoder scoring: every chunk encodes its own texts (de-duplicated within the chunk)."""

    def __init__(self, teacher: BiEncoderTeacher):
        self.teacher, self.id = teacher, teacher.id
        self.texts_encoded = 0
        self.chunk_texts: list[tuple[set[str], set[str]]] = []
        """Per chunk: its distinct queries and its distinct passages."""

    def score(self, pairs):
        options = dict(tokens_per_batch=self.teacher.tokens_per_batch, normalize=True)
        queries = encode(self.teacher.encoder, [p[0] for p in pairs], prompt=self.teacher.query_prompt, **options)
        passages = encode(self.teacher.encoder, [p[1] for p in pairs], prompt=self.teacher.passage_prompt, **options)
        self.chunk_texts.append(({p[0] for p in pairs}, {p[1] for p in pairs}))
        self.texts_encoded += sum(len(texts) for texts in self.chunk_texts[-1])
        return np.einsum("nd,nd->n", queries, passages).astype(np.float32)


def token_counts(encoder, texts) -> dict[str, int]:
    """Tokens the encoder reads for each text, cut at its maximum length (prompts not counted)."""
    texts = sorted(texts)
    ids = encoder.tokenizer(texts)["input_ids"]
    return {text: min(len(i), encoder.max_seq_length) for text, i in zip(texts, ids)}


def biencoder_part(run: Path, data: Path, model: str, repeats: int, folder: Path) -> float:
    """Seconds to score the run's candidate pairs with the bi-encoder teacher, ours vs per chunk."""
    passages = read_passages(CorpusSpec(path=data))
    layout = RunLayout(run)
    _, pairs = stage_pairs(layout, read_candidates(layout.candidates_file), passages)
    chunk_size = ScoreConfig().chunk_size
    distinct = len(set(pairs))
    print(f"bi-encoder {model} on {run}: {len(pairs)} pairs, {distinct} distinct, "
          f"{len({q for q, _ in pairs})} queries, {len({p for _, p in pairs})} distinct passages, "
          f"chunks of {chunk_size} pairs", flush=True)
    loaded = BiEncoderTeacher(model)
    print(f"  the teacher runs in {loaded.dtype}, {loaded.tokens_per_batch} tokens per batch")
    loaded.score(pairs[:8])  # first-call costs outside the timings
    seconds, scores, encoded = {"ours": [], "per chunk": []}, {}, {}
    for repeat in range(repeats):
        for name in seconds:
            # ours: a fresh teacher (nothing embedded yet), loaded outside the timing
            teacher = BiEncoderTeacher(model) if name == "ours" else PerChunkBiEncoder(loaded)
            cache = ScoreCache(folder / f"bi-{name}-{repeat}")
            elapsed, scores[name] = timed(
                lambda: score_pairs(pairs, teacher, cache, Context(), chunk_size=chunk_size)
            )
            cache.close()
            seconds[name].append(elapsed)
            encoded[name] = (teacher.queries.texts_encoded + teacher.passages.texts_encoded if name == "ours"
                             else teacher.texts_encoded)
            if name == "per chunk":
                chunk_texts = teacher.chunk_texts
        print(f"  repeat {repeat}: " + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()), flush=True)
    difference = np.max(np.abs(scores["ours"] - scores["per chunk"]))
    ratio = statistics.median(seconds["per chunk"]) / statistics.median(seconds["ours"])
    print(f"bi-encoder (median of {repeats}): ours {statistics.median(seconds['ours']):.1f} s encoding "
          f"{encoded['ours']} texts, per chunk {statistics.median(seconds['per chunk']):.1f} s encoding "
          f"{encoded['per chunk']} texts; max |ours - per chunk| = {difference:.2e} (bf16 batches differ)")
    # The most embedding each text once can save: the ratio of the tokens the two sides encode.
    counts = token_counts(loaded.encoder, {text for _, text in pairs} | {text for text, _ in pairs})
    ours_tokens = sum(counts[q] for q in {q for q, _ in pairs}) + sum(counts[p] for p in {p for _, p in pairs})
    chunk_tokens = sum(counts[text] for chunk in chunk_texts for texts in chunk for text in texts)
    every_pair = sum(counts[query] + counts[passage] for query, passage in pairs)
    print(f"  tokens encoded: ours {ours_tokens:,}, per chunk {chunk_tokens:,} (at most "
          f"{chunk_tokens / ours_tokens:.2f}x saved); every pair's texts {every_pair:,} "
          f"({every_pair / ours_tokens:.2f}x)")
    return ratio


def shared_source_pairs(groups: int, group_size: int, per_query: int):
    """Lists (source first, then BM25 candidates) of train queries that share a source passage."""
    passages, queries, qrels, run, _ = scifact_lists("train", None, depth=per_query)
    by_source: dict[str, list[str]] = {}
    for query_id, judged in qrels.items():
        if len(judged) == 1:
            by_source.setdefault(next(iter(judged)), []).append(query_id)
    chosen = [ids[:group_size] for _, ids in sorted(by_source.items()) if len(ids) >= group_size][:groups]
    pairs = []
    for ids in chosen:
        source = next(iter(qrels[ids[0]]))
        for query_id in ids:
            candidates = [source] + [p for p in ranked(run.get(query_id, {})) if p != source]
            pairs += [(queries[query_id].text, passages[p].full_text()) for p in candidates[:per_query]]
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--llm-model", default="qwen-coder-1.5b")
    parser.add_argument("--llm-groups", type=int, default=2)
    parser.add_argument("--llm-group-size", type=int, default=3)
    parser.add_argument("--llm-per-query", type=int, default=6)
    parser.add_argument("--skip-llm", action="store_true")
    parser.add_argument("--skip-cross-encoder", action="store_true")
    parser.add_argument("--run", type=Path, help="a run folder with mined candidates: the bi-encoder part, alone")
    parser.add_argument("--data", type=Path, default=SCIFACT, help="the run's corpus")
    parser.add_argument("--biencoder", default="mpnet")
    args = parser.parse_args()
    torch.set_num_threads(usable_cores())
    if args.run is not None:
        with tempfile.TemporaryDirectory() as folder:
            ratio = biencoder_part(args.run, args.data, args.biencoder, args.repeats, Path(folder))
        print(f"ratio[biencoder]={ratio:.2f}")
        return
    if not args.skip_cross_encoder:
        passages, queries, _, run, _ = scifact_lists("train", args.pairs // 20 + 1)
        pairs = [pair for _, _, pair in list_pairs(passages, queries, run)][: args.pairs]
        with tempfile.TemporaryDirectory() as folder:
            ce_ratio = cross_encoder_part(pairs, args.repeats, Path(folder))
        print(f"ratio[cross-encoder]={ce_ratio:.2f}", flush=True)
    if args.skip_llm:
        return
    llm_pairs = shared_source_pairs(args.llm_groups, args.llm_group_size, args.llm_per_query)
    print(f"LLM teacher {args.llm_model}: {args.llm_groups} groups of {args.llm_group_size} queries sharing a source, "
          f"{args.llm_per_query} passages per list: {len(llm_pairs)} pairs, "
          f"{len(llm_pairs) / len({p for _, p in llm_pairs}):.2f} pairs per distinct passage", flush=True)
    print(f"ratio[llm]={llm_part(llm_pairs, args.repeats, args.llm_model):.2f}")


if __name__ == "__main__":
    main()
