"""Does selection on a sub-corpus pick the weight that full-corpus selection picks? (issue 29)

Per collection: a tuned MiniLM is made by a short run of the product's Trainer on the mined lists
of half of the decision queries (benchmarks/ladder.py's R1 recipe, one fold, teacher `--teacher`);
the select grid (1 - a) * base + a * tuned is then evaluated on the other half, on the whole corpus
and on the sub-corpus of `corpustune.evaluate.subcorpus` (judged passages, base and BM25 top-k of
the evaluation queries, seeded distractors), and both ways choose with `select.choose_weight`.

- scifact: train split; train on fold 0 of its queries, evaluate on fold 1.
- cranfield: odd query ids of the test split; the same two folds.
- medline (a report set: agreement is reported, nothing decided on it): all its test queries,
  with the model tuned on SciFact (`--tuned-model`, run scifact first).

Each weight encodes the whole corpus once; the sub-corpus way searches only its passages' rows
(what encoding them alone gives, up to float rounding), so the figures compare the choice, and the
cost of each way is counted in passage encodings beyond the base model's (which mining caches):
(weights - 1) x corpus vs (weights - 1) x sub-corpus, none for a query-tuned model
(`--set train.tune=query`: its documents are the base model's at every weight).

Usage:
  PYTHONPATH=. nice -n 10 python benchmarks/subcorpus_select.py --data ../shared/data/scifact --split train \\
      --set train.tune=query --out /tmp/subcorpus/scifact
  PYTHONPATH=. nice -n 10 python benchmarks/subcorpus_select.py --data ../shared/data/cranfield --split test \\
      --ids odd --out /tmp/subcorpus/cranfield
  PYTHONPATH=. nice -n 10 python benchmarks/subcorpus_select.py --data ../shared/data/medline --split test \\
      --tuned-model /tmp/subcorpus/scifact/model --out /tmp/subcorpus/medline
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.ladder import Lists, decision_queries, fold_of, training_examples
from corpustune.config import resolve_config
from corpustune.data.corpus import read_passages
from corpustune.evaluate.metrics import per_query
from corpustune.evaluate.select import choose_weight
from corpustune.evaluate.subcorpus import build_subcorpus, evaluation_runs
from corpustune.hardware import cpu_description
from corpustune.models.routed import is_routed
from corpustune.retrieve.dense import exact_top_k, to_run
from corpustune.retrieve.encode import load_encoder
from corpustune.retrieve.search import DenseRetriever, DenseSettings
from corpustune.train.batching import split_by_source
from corpustune.train.interpolate import interpolated_model
from corpustune.train.trainer import Trainer

WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
MEASURE = "nDCG@10"


def tune(lists: Lists, qrels, train_ids: list[str], teacher: str, config, work: Path) -> Path:
    """The product's Trainer on the lists of `train_ids` (a finished model is reused)."""
    if (work / "model" / "config.json").exists():
        return work / "model"
    examples = training_examples(lists, qrels, train_ids, teacher, config)
    train, dev = split_by_source(examples, config.train.dev_fraction, config.train.seed)
    Trainer(config.train, train, dev, lists.passages, work / "train", work / "model", show_progress=False).train(
        resume=True)
    return work / "model"


def grid_values(passages, keep: set[str], base, tuned, queries, qrels, settings,
                cache) -> tuple[dict[str, dict[float, np.ndarray]], float]:
    """way ("full", "sub") -> weight -> per-query MEASURE (qrels order), and the seconds it took.

    Each weight encodes the corpus once; the sub-corpus way searches only the rows of the passages
    in `keep`, which is what encoding the sub-corpus alone gives up to float rounding (a text's
    vector depends on its batch only by rounding), at no second encoding.
    """
    started = time.perf_counter()
    ids, texts = list(qrels), [queries[q].text for q in qrels]
    rows = np.array([i for i, p in enumerate(passages) if p.id in keep])
    sub_ids = [passages[i].id for i in rows]
    values: dict[str, dict[float, np.ndarray]] = {"full": {}, "sub": {}}
    for weight in WEIGHTS:
        model = base if weight == 0.0 else tuned if weight == 1.0 else interpolated_model(base, tuned, weight)
        # a = 0 (and every weight of a query-tuned model, whose documents are the base's): the
        # base embeddings mining cached; the others are encoded once and cached for reruns
        retriever = DenseRetriever(passages, settings, model=model, cache=cache)
        encoded = retriever.encode_queries(texts)
        for way, matrix, passage_ids in (("full", retriever.passage_embeddings, retriever.passage_ids),
                                         ("sub", retriever.passage_embeddings[rows], sub_ids)):
            run = to_run(ids, passage_ids, *exact_top_k(encoded, matrix, 100))
            by_query = per_query(qrels, run, (MEASURE,))[MEASURE]
            values[way][weight] = np.array([by_query[q] for q in ids])
        print(f"  a = {weight:g}: full {100 * values['full'][weight].mean():.2f}, sub "
              f"{100 * values['sub'][weight].mean():.2f} ({time.perf_counter() - started:.0f} s)", flush=True)
        del retriever, model
    return values, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--ids", choices=["all", "odd", "even"], default="all")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--tuned-model", type=Path, help="evaluate this model on all queries instead of tuning one")
    parser.add_argument("--teacher", default="bm25")
    parser.add_argument("--top-k", type=int, default=10, help="base and BM25 top-k of each evaluation query")
    parser.add_argument("--distractors", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = resolve_config(args.data, args.preset, overrides=tuple(args.overrides))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_description()}", flush=True)
    queries, qrels = decision_queries(args.data, args.split, args.ids)
    passages = list(read_passages(config.data))
    lists = Lists(passages, queries, config.train.model, 30, args.out)
    started = time.perf_counter()
    if args.tuned_model is None:
        train_ids = [q for q in qrels if fold_of(q) == 0]
        model_dir = tune(lists, qrels, train_ids, args.teacher, config, args.out)
        eval_ids = [q for q in qrels if fold_of(q) == 1]
    else:
        model_dir, eval_ids = args.tuned_model, list(qrels)
    train_seconds = time.perf_counter() - started
    eval_qrels = {q: qrels[q] for q in eval_ids}
    print(f"{args.data.name} {args.split} ({args.ids} ids): {len(qrels)} judged queries; tuned {model_dir} "
          f"({train_seconds:.0f} s); evaluating on {len(eval_qrels)} queries", flush=True)

    settings = DenseSettings(model=config.train.model)
    base, tuned = load_encoder(config.train.model), load_encoder(str(model_dir))
    started = time.perf_counter()
    sets = [{"queries": {q: queries[q] for q in eval_ids}, "qrels": eval_qrels}]
    runs = evaluation_runs(passages, sets, base, settings, top_k=args.top_k,
                           bm25_language=config.mine.bm25_language, cache=lists.cache)
    sub = build_subcorpus([p.id for p in passages], qrels=[eval_qrels], heldout=[], runs=runs, top_k=args.top_k,
                          distractors=args.distractors, seed=args.seed)
    build_seconds = time.perf_counter() - started
    keep = set(sub.ids)
    print(f"sub-corpus: {len(sub.ids)} of {sub.corpus_size} passages ({sub.to_json()['built']}), "
          f"built in {build_seconds:.0f} s", flush=True)

    grid, seconds = grid_values(passages, keep, base, tuned, queries, eval_qrels, settings, lists.cache)
    full, part = grid["full"], grid["sub"]
    chosen = {"full": choose_weight(full), "sub": choose_weight(part)}
    # passages each way encodes beyond the base model's (cached by mining): one corpus per interior
    # weight and a = 1, none for a query-tuned model (its documents are the base model's)
    per_corpus = 0 if is_routed(tuned) else len(WEIGHTS) - 1
    encoded = {"full": per_corpus * len(passages), "sub": per_corpus * len(sub.ids)}
    for way, values in (("full", full), ("sub", part)):
        selection = chosen[way]
        curve = "  ".join(f"a={a:g}: {100 * values[a].mean():.2f}" for a in WEIGHTS)
        print(f"{way:>4}: chosen a = {selection.weight:g} (best a = {selection.best:g}); {MEASURE} {curve}; "
              f"{encoded[way]:,} passage encodings beyond the base's", flush=True)
    agree = chosen["full"].weight == chosen["sub"].weight
    print(f"agreement[{args.data.name}]={'yes' if agree else 'no'}", flush=True)
    result = {
        "data": str(args.data), "split": args.split, "ids": args.ids, "queries": len(eval_qrels),
        "model": str(model_dir), "teacher": args.teacher, "settings": args.overrides, "cpu": cpu_description(),
        "date": time.strftime("%Y-%m-%d"), "subcorpus": sub.to_json(), "subcorpus_build_seconds": build_seconds,
        "grid_seconds": seconds, "passage_encodings": encoded, "agree": agree,
        "curves": {way: {str(a): 100 * v.mean() for a, v in values.items()}
                   for way, values in (("full", full), ("sub", part))},
        "selection": {way: s.to_json() for way, s in chosen.items()},
    }
    (args.out / "subcorpus_select.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
