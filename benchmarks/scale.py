"""Corpus-size scaling: peak memory and seconds of mining and selection on synthetic corpora.

    benchmarks/scale.py --passages 10000,100000,1000000 --queries 300 --out /tmp/scale

For each size N it writes (or reuses) a synthetic BEIR folder, `OUT/corpora/<key>/`, whose name
is a hash of everything that decides its content (N, queries, seed, length and vocabulary
parameters): passage lengths in words are log-normal with the parameters fitted to SciFact's
corpus.jsonl (title + text; printed), words are drawn from a Zipf vocabulary of pronounceable
pseudo-words, and each query is a span of 3 to 8 consecutive words among the first 40 of a passage
drawn at random, judged relevant to that passage alone. The corpus streams to disk in blocks of `BLOCK` passages.

Then two stages run through the product's own code, each in a fresh child process (so one does
not inherit the other's memory), sharing one run folder and embedding cache per size (empty at the
start), as the stages of one `corpustune run` do:
- mine: `corpustune.mine.stage.mine_run` on a run folder holding the queries as training queries,
  BM25 + one dense retriever (the encoder below), top-100 each, lists of 20;
- select: `corpustune.evaluate.publish.evaluate_grid` over the interpolation weights 0, 0.5, 1 of
  the encoder and a perturbed copy of it ("tuned"), nDCG@10 on the queries, on the passages the
  select stage's default settings evaluate (above `select.sub_corpus_above` passages a sub-corpus:
  the base model's and BM25's top-k of the queries from mining's cached embeddings and saved BM25
  index, the judged passages and seeded distractors).
Each prints seconds (reading the corpus included, interpreter start and imports not) and peak RSS
(the child's ru_maxrss from `os.wait4`). Then `peak_rss_gb[N]=` (the largest stage of N) per size
and `ratio[per-passage-1M-vs-100k]=` (seconds per passage of both stages at 1M over at 100k).

The encoder, made by the script (content-addressed in `OUT/encoders/`): a BERT with no transformer
layer, 384-d (token embeddings with a LayerNorm, position and token-type embeddings zeroed, mean
pooling) at max_seq_length 64, over the packaged MiniLM WordPiece tokenizer (`--tokenizer`). It is
a static bag-of-tokens embedding inside the standard Transformer module, so the product's
`encode` (which counts tokens with a callable Hugging Face tokenizer) runs it unchanged.
sentence-transformers' `StaticEmbedding` holds a bare `tokenizers.Tokenizer`, which that token
count cannot call; a one-layer BERT took 2.2x the seconds of this one on 2,000 passages here
(2026-12-05, a loaded 2-core machine), about an hour for 1M passages.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere: import this checkout's corpustune
    sys.path.insert(0, str(ROOT))

SCIFACT = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
GENERATOR_VERSION = "1"
"""Part of every corpus key: bump it when the generator's output for the same parameters changes."""
BLOCK = 10_000
"""Passages drawn and written at a time (bounds the generator's memory)."""
QUERY_WORDS = (3, 8)
"""Words of a query: a span of this many (inclusive, uniform) consecutive words of its passage."""
QUERY_WINDOW = 40
"""A query's span lies in its passage's first this many words, which the encoder's 64 tokens see."""
DIMENSION = 384
MAX_SEQ_LENGTH = 64
WEIGHTS = (0.0, 0.5, 1.0)
DEPTH = 100
LIST_SIZE = 20
TUNED_NOISE = 0.3
"""The "tuned" encoder: the base token embeddings plus this x fresh N(0, 1) noise."""
STAGES = ("mine", "select")


@dataclass(frozen=True)
class CorpusParams:
    """Everything that decides a synthetic corpus's content; its hash names the corpus folder."""

    passages: int
    queries: int
    seed: int
    length_mu: float
    length_sigma: float
    vocabulary: int
    zipf: float

    def key(self) -> str:
        text = json.dumps({"version": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def fit_lognormal(corpus: Path) -> tuple[float, float, int]:
    """(mu, sigma, passages) of a log-normal fitted to the words per passage (title + text,
    whitespace-separated) of a BEIR corpus.jsonl: the mean and standard deviation of ln(words)."""
    total = squares = 0.0
    count = 0
    with open(corpus, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                record = json.loads(line)
                words = len(f"{record.get('title', '')} {record.get('text', '')}".split())
                value = math.log(max(1, words))
                total, squares, count = total + value, squares + value * value, count + 1
    mean = total / count
    return mean, math.sqrt(max(0.0, squares / count - mean * mean)), count


def vocabulary(size: int, seed: int) -> list[str]:
    """`size` distinct pronounceable pseudo-words (2 to 4 consonant-vowel syllables), rank order."""
    rng = np.random.default_rng(seed)
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    words: dict[str, None] = {}
    while len(words) < size:
        syllables = rng.integers(2, 5)
        word = "".join(consonants[rng.integers(len(consonants))] + vowels[rng.integers(len(vowels))]
                       for _ in range(syllables))
        words.setdefault(word)
    return list(words)


def zipf_cdf(size: int, exponent: float) -> np.ndarray:
    """Cumulative probabilities of ranks 1..size with P(rank r) proportional to r^-exponent; shape (size,)."""
    weights = np.arange(1, size + 1, dtype=np.float64) ** -exponent
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def passage_lengths(rng: np.random.Generator, count: int, mu: float, sigma: float) -> np.ndarray:
    """Words per passage: log-normal(mu, sigma) rounded, at least 1; shape (count,), int64."""
    return np.maximum(1, np.rint(rng.lognormal(mu, sigma, count))).astype(np.int64)


def synthetic_records(params: CorpusParams) -> Iterator[tuple[dict, dict | None]]:
    """(corpus record, query record or None) per passage, in order; a query record holds `_id`,
    `text` and the judged passage id `passage`. Deterministic in `params`."""
    rng = np.random.default_rng(params.seed)
    words = np.asarray(vocabulary(params.vocabulary, params.seed), dtype=object)
    cdf = zipf_cdf(params.vocabulary, params.zipf)
    asked = set(rng.choice(params.passages, size=min(params.queries, params.passages), replace=False).tolist())
    for start in range(0, params.passages, BLOCK):
        lengths = passage_lengths(rng, min(BLOCK, params.passages - start), params.length_mu, params.length_sigma)
        drawn = words[np.minimum(np.searchsorted(cdf, rng.random(int(lengths.sum()))), params.vocabulary - 1)]
        ends = np.cumsum(lengths)
        for offset, (end, length) in enumerate(zip(ends, lengths)):
            index = start + offset
            passage_words = drawn[end - length:end]
            passage = {"_id": f"p{index}", "title": "", "text": " ".join(passage_words)}
            query = None
            if index in asked:
                window = min(int(length), QUERY_WINDOW)
                span = min(window, int(rng.integers(QUERY_WORDS[0], QUERY_WORDS[1] + 1)))
                begin = int(rng.integers(0, window - span + 1))
                query = {"_id": f"q{index}", "text": " ".join(passage_words[begin:begin + span]),
                         "passage": passage["_id"]}
            yield passage, query


def synthetic_corpus(out: Path, params: CorpusParams) -> tuple[Path, bool]:
    """The BEIR folder of `params` under `out/corpora/` (corpus.jsonl, queries.jsonl, qrels/test.tsv),
    written unless a complete one is there; returns (folder, reused). `params.json` is written last,
    so a folder without it is incomplete and is written again."""
    from corpustune.data.atomic import atomic_open, write_json_atomic

    folder = out / "corpora" / params.key()
    if (folder / "params.json").exists():
        return folder, True
    queries = []
    with atomic_open(folder / "corpus.jsonl") as handle:
        for passage, query in synthetic_records(params):
            handle.write(json.dumps(passage) + "\n")
            if query is not None:
                queries.append(query)
    with atomic_open(folder / "queries.jsonl") as handle:
        handle.writelines(json.dumps({"_id": q["_id"], "text": q["text"]}) + "\n" for q in queries)
    with atomic_open(folder / "qrels" / "test.tsv") as handle:
        handle.write("query-id\tcorpus-id\tscore\n")
        handle.writelines(f"{q['_id']}\t{q['passage']}\t1\n" for q in queries)
    write_json_atomic(folder / "params.json", {"version": GENERATOR_VERSION, **asdict(params)})
    return folder, False


def build_encoder(out: Path, tokenizer_name: str, seed: int, noise: float = 0.0) -> Path:
    """A 384-d bag-of-tokens sentence-transformers model (see the module docstring) saved under
    `out/encoders/<key>/model`, reused if there; `noise` > 0 adds noise x N(0, 1) to the token
    embeddings (the perturbed "tuned" copy)."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    from corpustune.models import resolve_model

    source = resolve_model(tokenizer_name)
    key = hashlib.sha256(json.dumps([str(source), seed, noise, DIMENSION, MAX_SEQ_LENGTH]).encode()).hexdigest()[:16]
    folder = out / "encoders" / key
    if (folder / "model" / "modules.json").exists():
        return folder / "model"
    transformers.logging.set_verbosity_error()  # the load report lists the pooler this model leaves out
    transformers.utils.logging.disable_progress_bar()
    tokenizer = AutoTokenizer.from_pretrained(source)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=DIMENSION, num_hidden_layers=0, num_attention_heads=6,
                        intermediate_size=4 * DIMENSION, max_position_embeddings=max(512, MAX_SEQ_LENGTH))
    bert = BertModel(config, add_pooling_layer=False)
    with torch.no_grad():
        # no word order: a bag of tokens, so that retrieval rests on the tokens shared
        bert.embeddings.position_embeddings.weight.zero_()
        bert.embeddings.token_type_embeddings.weight.zero_()
        if noise:
            generator = torch.Generator().manual_seed(seed + 1)
            weight = bert.embeddings.word_embeddings.weight
            weight.add_(noise * torch.randn(weight.shape, generator=generator))
    backbone = folder / "backbone"
    bert.save_pretrained(backbone)
    tokenizer.save_pretrained(backbone)
    transformer = Transformer(str(backbone), max_seq_length=MAX_SEQ_LENGTH)
    model = SentenceTransformer(modules=[transformer, Pooling(DIMENSION, "mean")], device="cpu")
    model.save(str(folder / "model"))
    return folder / "model"


def _read_beir(folder: Path):
    """(passages, queries with their judged passage as source id, qrels) of a synthetic BEIR folder."""
    from corpustune.data.beir import load_split
    from corpustune.data.corpus import CorpusSpec, read_passages
    from corpustune.data.records import Query

    passages = read_passages(CorpusSpec(path=folder))
    queries, qrels = load_split(folder, "test")
    sourced = {q.id: Query(q.id, q.text, "span", next(iter(qrels[q.id]))) for q in queries.values()}
    return passages, sourced, qrels


def stage_mine(corpus: Path, base: Path, work: Path) -> dict:
    """Mine candidate lists for every query through `mine_run`; returns the mining counts."""
    from corpustune.data.beir import write_qrels, write_queries
    from corpustune.layout import RunLayout
    from corpustune.mine.config import MineConfig
    from corpustune.mine.stage import mine_run
    from corpustune.retrieve.encode import EmbeddingCache
    from corpustune.retrieve.search import DenseSettings

    passages, queries, qrels = _read_beir(corpus)
    run = work / "run"
    layout = RunLayout(run)
    write_queries(layout.queries_file, queries.values())
    write_qrels(layout.train_qrels, qrels)
    config = MineConfig(bm25=True, dense=[DenseSettings(model=str(base), max_seq_length=MAX_SEQ_LENGTH)],
                        depth=DEPTH, list_size=LIST_SIZE)
    stats = mine_run(run, passages, config, cache=EmbeddingCache(work / "cache"))
    return stats.to_json() if stats is not None else {}


def stage_select(corpus: Path, base: Path, tuned: Path, work: Path) -> dict:
    """nDCG@10 of the interpolation weights `WEIGHTS` through `evaluate_grid`, on the passages the
    select stage would evaluate (the product's default `select` settings: above
    `select.sub_corpus_above` passages a sub-corpus built by `evaluation_runs` + `build_subcorpus`
    from the run folder and embedding cache that mining left in `work`); returns weight -> mean,
    and the evaluated corpus's size."""
    from corpustune.config import SelectConfig
    from corpustune.evaluate.publish import evaluate_grid, subcorpus_passages
    from corpustune.evaluate.subcorpus import build_subcorpus, evaluation_runs, uses_subcorpus
    from corpustune.retrieve.encode import EmbeddingCache, load_encoder
    from corpustune.retrieve.search import DenseSettings

    passages, queries, qrels = _read_beir(corpus)
    sets = [{"name": "synthetic spans", "source": "synthetic", "role": "dev", "query_type": None,
             "queries": queries, "qrels": qrels}]
    settings = DenseSettings(model=str(base), max_seq_length=MAX_SEQ_LENGTH)
    base_model = load_encoder(str(base), device="cpu", max_seq_length=MAX_SEQ_LENGTH)
    tuned_model = load_encoder(str(tuned), device="cpu", max_seq_length=MAX_SEQ_LENGTH)
    cache, select = EmbeddingCache(work / "cache"), SelectConfig()
    evaluated = passages
    if uses_subcorpus(select, len(passages)):
        runs = evaluation_runs(passages, sets, base_model, settings, top_k=select.sub_top_k, bm25_language="english",
                               cache=cache, run=work / "run")
        sub = build_subcorpus([p.id for p in passages], qrels=[qrels], heldout=[], runs=runs, top_k=select.sub_top_k,
                              distractors=select.sub_distractors, seed=select.sub_seed)
        evaluated = subcorpus_passages(passages, sub.ids)
    grid, _ = evaluate_grid(evaluated, base_model, tuned_model, WEIGHTS, sets, settings=settings, depth=DEPTH,
                            measures=("nDCG@10",), cache=cache)
    means = {f"{weight:g}": float(np.mean(list(grid[weight]["synthetic spans"]["nDCG@10"].values())))
             for weight in WEIGHTS}
    return {**means, "evaluated_passages": len(evaluated)}


def child(args: argparse.Namespace) -> None:
    """Run one stage (`--child STAGE`) and print its result as one JSON line."""
    import logging

    logging.disable(logging.WARNING)
    started = time.perf_counter()
    if args.child == "mine":
        result = stage_mine(args.corpus, args.base, args.work)
    else:
        result = stage_select(args.corpus, args.base, args.tuned, args.work)
    print(json.dumps({"seconds": time.perf_counter() - started, "result": result}), flush=True)


@dataclass(frozen=True)
class Measured:
    """One (size, stage): seconds of its work, the child's peak RSS in bytes, its result or error."""

    seconds: float
    peak_rss: int
    result: dict | None
    error: str | None = None


def _first_to_kill() -> None:
    """In the child before it runs: make it the kernel's first choice when memory runs out, so that a
    size too large for the machine ends this stage (reported as failed), not a neighbour's process."""
    with contextlib.suppress(OSError):
        Path("/proc/self/oom_score_adj").write_text("1000")


def measure(stage: str, corpus: Path, base: Path, tuned: Path, work: Path) -> Measured:
    """Run `stage` in a fresh child process; its peak RSS from `os.wait4` (this child's own rusage).

    The stages of one size share `work` (its run folder and embedding cache), as the stages of one
    `corpustune run` do: selection reads the embeddings and BM25 index that mining left."""
    work.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(Path(__file__).resolve()), "--child", stage, "--corpus", str(corpus),
               "--base", str(base), "--tuned", str(tuned), "--work", str(work)]
    with open(work / f"{stage}.stdout", "w") as stdout, open(work / f"{stage}.stderr", "w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, preexec_fn=_first_to_kill,
                                   env={**os.environ, "PYTHONPATH": str(ROOT), "TOKENIZERS_PARALLELISM": "false"})
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss * 1024  # Linux reports kilobytes
    lines = (work / f"{stage}.stdout").read_text().strip().splitlines()
    if process.returncode != 0 or not lines:
        tail = (work / f"{stage}.stderr").read_text().strip().splitlines()[-1:] or ["no output"]
        return Measured(0.0, peak, None, f"exit {process.returncode}: {tail[0][:200]}")
    report = json.loads(lines[-1])
    return Measured(report["seconds"], peak, report["result"])


def clean(work: Path) -> None:
    """Remove a size's run folder and embedding cache (gigabytes of disk at 1M passages)."""
    for name in ("cache", "run"):
        shutil.rmtree(work / name, ignore_errors=True)


def per_passage_ratio(seconds: dict[int, float]) -> str:
    """Seconds per passage at 1,000,000 over those at 100,000, or `n/a` when either size was not measured."""
    if 1_000_000 not in seconds or 100_000 not in seconds:
        return "n/a (needs sizes 100000 and 1000000)"
    return f"{(seconds[1_000_000] / 1_000_000) / (seconds[100_000] / 100_000):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", default="10000,100000,1000000", help="comma-separated corpus sizes")
    parser.add_argument("--queries", type=int, default=300, help="queries per corpus (spans of random passages)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/corpustune-scale"))
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--fit", type=Path, default=SCIFACT, help="BEIR corpus.jsonl whose passage lengths are fitted")
    parser.add_argument("--lognormal", help="MU,SIGMA of ln(words per passage), instead of fitting --fit")
    parser.add_argument("--vocabulary", type=int, default=50_000, help="pseudo-words in the Zipf vocabulary")
    parser.add_argument("--zipf", type=float, default=1.0, help="Zipf exponent: P(rank r) ~ r^-zipf")
    parser.add_argument("--tokenizer", default="minilm", help="alias or folder of the encoder's tokenizer")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of mine,select")
    parser.add_argument("--child", choices=STAGES, help=argparse.SUPPRESS)
    for hidden in ("--corpus", "--base", "--tuned", "--work"):
        parser.add_argument(hidden, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from corpustune.hardware import cpu_description

    print(f"cpu: {cpu_description()}", flush=True)
    if args.lognormal:
        mu, sigma = (float(x) for x in args.lognormal.split(","))
        print(f"passage length: ln(words) ~ N(mu={mu:.4f}, sigma={sigma:.4f}) (given)")
    else:
        if not args.fit.exists():
            sys.exit(f"error: {args.fit} not found; pass --fit CORPUS.jsonl or --lognormal MU,SIGMA")
        mu, sigma, fitted = fit_lognormal(args.fit)
        print(f"passage length: ln(words) ~ N(mu={mu:.4f}, sigma={sigma:.4f}) (fitted to {fitted:,} passages of "
              f"{args.fit}; median {math.exp(mu):.0f} words, mean {math.exp(mu + sigma ** 2 / 2):.0f})")
    print(f"vocabulary: {args.vocabulary:,} pseudo-words, Zipf exponent {args.zipf:g}; queries: {args.queries} spans "
          f"of {QUERY_WORDS[0]}-{QUERY_WORDS[1]} words; seed {args.seed}", flush=True)
    stages = [s for s in args.stages.split(",") if s]
    base = build_encoder(args.out, args.tokenizer, args.seed)
    tuned = build_encoder(args.out, args.tokenizer, args.seed, noise=TUNED_NOISE)
    print(f"encoder: {DIMENSION}-d bag of tokens, max_seq_length {MAX_SEQ_LENGTH}, tokenizer {args.tokenizer} ({base})")
    peaks: dict[int, int] = {}
    totals: dict[int, float] = {}
    for size in (int(s) for s in args.passages.split(",") if s):
        params = CorpusParams(size, args.queries, args.seed, mu, sigma, args.vocabulary, args.zipf)
        begin = time.perf_counter()
        corpus, reused = synthetic_corpus(args.out, params)
        how = "reused" if reused else f"written in {time.perf_counter() - begin:.1f} s"
        print(f"N={size}: corpus {corpus} ({how}, {(corpus / 'corpus.jsonl').stat().st_size / 1e6:,.0f} MB)",
              flush=True)
        failed = False
        work = args.out / "work" / str(size)
        clean(work)  # every size starts with an empty embedding cache and run folder
        for stage in stages:
            measured = measure(stage, corpus, base, tuned, work)
            peaks[size] = max(peaks.get(size, 0), measured.peak_rss)
            if measured.error is None:
                totals[size] = totals.get(size, 0.0) + measured.seconds
                print(f"  stage={stage} N={size} seconds={measured.seconds:.1f} "
                      f"peak_rss_gb={measured.peak_rss / 1e9:.2f} result={json.dumps(measured.result)}", flush=True)
            else:
                failed = True
                print(f"  stage={stage} N={size} FAILED ({measured.error}) peak_rss_gb={measured.peak_rss / 1e9:.2f}",
                      flush=True)
        clean(work)
        if failed:
            totals.pop(size, None)
    print(f"max child RSS of this whole run (ru_maxrss, children): "
          f"{resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024 / 1e9:.2f} GB")
    for size, peak in peaks.items():
        print(f"peak_rss_gb[{size}]={peak / 1e9:.2f}")
    print(f"ratio[per-passage-1M-vs-100k]={per_passage_ratio(totals)}")


if __name__ == "__main__":
    main()
