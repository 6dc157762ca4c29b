"""Which held-out rule picks the weight that human queries would pick? (issue 32, deliverable 4)

Held-out synthetic queries graded by their source passage alone overstate gains. This benchmark
measures rules on the same held-out queries and compares every rule's choice with the human
queries of a decision set (SciFact `--split train`, cranfield `--ids odd`; never a report set).

For every model (`--run RUN`'s main arm, and each `--model NAME=FOLDER` trained on the same run's
lists, e.g. by `benchmarks/train_settings.py`) and every weight a of `--weights`, the model
(1 - a) * base + a * tuned retrieves from the whole corpus for the human queries and the run's
held-out synthetic queries (after the select stage's answerable test). The rules, each giving
per-query values for `corpustune.evaluate.select.choose_weight`:

- source: nDCG@10 with the source passage as the only relevant one (`select.judge: source`).
- teacher-pooled: the source passage, and every pooled passage the run's teacher scores at least
  as high as the source passage, are relevant (the teacher removes false negatives).
- teacher-graded: graded by the teacher alone: of the pooled passages, its top 1 has grade 3,
  its ranks 2-3 grade 2 and ranks 4-10 grade 1 (the student's agreement with the teacher's
  ordering on queries it never trained on; `select.judge: teacher`, the select stage's default,
  `corpustune.evaluate.graded`).

The pool of a held-out query is its source passage and the top 10 of every model and weight.
Teacher scores are the run's teachers (`score.teachers`, fused as the score stage fuses them),
cached in OUT/score-cache.

Printed per model: each weight's human and rule means with the paired difference to the base;
per rule the weight it chooses and what the human queries say of that weight. The rows go to
OUT/select_rules.json.

    PYTHONPATH=. python benchmarks/select_rules.py --data ../shared/data/scifact --split train --run RUN --out OUT
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder import add_decision_set_arguments, decision_queries, excluded_ids  # noqa: E402

from corpustune.config import RunConfig  # noqa: E402
from corpustune.data.beir import Qrels  # noqa: E402
from corpustune.data.corpus import read_passages  # noqa: E402
from corpustune.evaluate.graded import pooled_passages, teacher_graded_qrels, teacher_ranking  # noqa: E402
from corpustune.evaluate.metrics import per_query  # noqa: E402
from corpustune.evaluate.paired import paired_difference  # noqa: E402
from corpustune.evaluate.publish import POOLED, query_sets  # noqa: E402
from corpustune.evaluate.select import choose_weight  # noqa: E402
from corpustune.hardware import cpu_description  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402
from corpustune.parallel import init_distributed  # noqa: E402
from corpustune.pipeline.artifacts import load_config  # noqa: E402
from corpustune.retrieve import Run  # noqa: E402
from corpustune.retrieve.encode import EmbeddingCache, load_encoder  # noqa: E402
from corpustune.retrieve.search import DenseRetriever, DenseSettings  # noqa: E402
from corpustune.train.interpolate import interpolated_model  # noqa: E402

MEASURE = "nDCG@10"
RULES = ("source", "teacher-pooled", "teacher-graded")


def teacher_pooled_qrels(source: Qrels, teacher: dict[str, dict[str, float]]) -> Qrels:
    """The source passages of each query, plus every pooled passage whose teacher score is at least
    the best-scored source passage's. `teacher`: query id -> pooled passage id -> fused score
    (the source passages among them)."""
    qrels = {}
    for q, judged in source.items():
        bar = max(teacher[q][p] for p in judged)
        qrels[q] = {**{p: 1 for p, s in teacher[q].items() if s >= bar}, **{p: 1 for p in judged}}
    return qrels


def retrieve(passages, model, settings: DenseSettings, cache: EmbeddingCache, queries: dict[str, str]) -> Run:
    """Top 100 of the whole corpus for every query."""
    retriever = DenseRetriever(passages, settings, model=model, cache=cache)
    ids = list(queries)
    return retriever.run(ids, [queries[q] for q in ids], 100)


def values(qrels: Qrels, run: Run) -> np.ndarray:
    """Per-query nDCG@10 in the order of `qrels`."""
    measured = per_query(qrels, run, (MEASURE,))[MEASURE]
    return np.array([measured.get(q, 0.0) for q in qrels])


def report_model(name: str, curves: dict[str, dict[float, np.ndarray]]) -> dict:
    """Print and return one model's curves and each rule's choice beside the human queries'."""
    human = curves["human"]
    weights = sorted(human)
    result = {"model": name, "curves": {}, "choices": {}}
    print(f"\n{name}")
    for rule, curve in curves.items():
        cells = []
        for a in weights:
            difference = paired_difference(curve[a], curve[0.0])
            cells.append(f"a={a:g} {100 * curve[a].mean():6.2f} ({difference})")
            result["curves"].setdefault(rule, {})[str(a)] = {"mean": 100 * curve[a].mean(), **difference.to_json()}
        print(f"  {rule:<15} " + "   ".join(cells))
    human_choice = choose_weight(human)
    for rule in ("human", *RULES):
        chosen = choose_weight(curves[rule]).weight
        truth = paired_difference(human[chosen], human[0.0])
        regret = paired_difference(human[chosen], human[human_choice.best])
        result["choices"][rule] = {"weight": chosen, "human_vs_base": truth.to_json(),
                                   "human_vs_human_best": regret.to_json()}
        print(f"  {rule:<15} chooses a = {chosen:g}: human {MEASURE} vs base {truth}, vs the human best "
              f"(a = {human_choice.best:g}) {regret}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_decision_set_arguments(parser)
    parser.add_argument("--run", type=Path, required=True, help="a run folder of `corpustune run`")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=FOLDER",
                        help="another tuned model trained on the run's lists (repeatable)")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    # cranfield has a test split only: its decision set is the odd ids of it
    if args.ids == "even" or (args.split == "test" and args.ids != "odd"):
        sys.exit("this benchmark decides a rule: give it a decision set (SciFact --split train, cranfield --ids odd)")
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_description()}", flush=True)
    started = time.perf_counter()
    config = RunConfig.model_validate(load_config(args.run))
    passages = list(read_passages(config.data))
    by_id = {p.id: p for p in passages}
    human_queries, human_qrels = decision_queries(args.data, args.split, args.ids, excluded_ids(args))
    human_texts = {q: t.text for q, t in human_queries.items()}
    sets, answerable = query_sets(args.run, by_id, config)
    heldout = next(s for s in sets if s["name"] == POOLED)
    heldout_texts = {q: t.text for q, t in heldout["queries"].items()}
    print(f"{args.data.name} {args.split} ({args.ids} ids): {len(human_qrels)} human queries; "
          f"{len(heldout['qrels'])} held-out synthetic queries ({answerable.to_json()})", flush=True)

    models = {"main arm": RunLayout(args.run).arm_dirs(config.train.loss, main=True)[1]}
    models |= dict(text.split("=", 1) for text in args.model)
    weights = sorted({float(w) for w in args.weights.split(",")} | {0.0, 1.0})
    train = config.train
    settings = DenseSettings(model=train.model, query_prompt=train.query_prompt, passage_prompt=train.passage_prompt)
    cache = EmbeddingCache()
    base = load_encoder(train.model)
    human_runs, heldout_runs = {}, {}
    for name, folder in models.items():
        tuned = load_encoder(str(folder))
        for a in weights:
            if a == 0.0 and human_runs:
                continue  # the base model, shared by every model
            model = base if a == 0.0 else tuned if a == 1.0 else interpolated_model(base, tuned, a)
            key = ("base", 0.0) if a == 0.0 else (name, a)
            human_runs[key] = retrieve(passages, model, settings, cache, human_texts)
            heldout_runs[key] = retrieve(passages, model, settings, cache, heldout_texts)
            print(f"  encoded {key} ({(time.perf_counter() - started) / 60:.1f} min)", flush=True)

    pool = pooled_passages(heldout["qrels"], heldout_runs.values())
    teacher = teacher_ranking(pool, heldout_texts, passages, config.score, init_distributed(), run=args.run,
                              cache_dir=args.out / "score-cache", embedding_cache=cache)
    rule_qrels = {"source": heldout["qrels"], "teacher-pooled": teacher_pooled_qrels(heldout["qrels"], teacher),
                  "teacher-graded": teacher_graded_qrels(teacher)}

    results = []
    for name in models:
        def key(a: float) -> tuple[str, float]:
            return ("base", 0.0) if a == 0.0 else (name, a)
        curves = {"human": {a: values(human_qrels, human_runs[key(a)]) for a in weights}}
        for rule, qrels in rule_qrels.items():
            curves[rule] = {a: values(qrels, heldout_runs[key(a)]) for a in weights}
        results.append(report_model(name, curves))
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{minutes:.1f} min")
    (args.out / "select_rules.json").write_text(json.dumps(
        {"data": str(args.data), "split": args.split, "ids": args.ids, "run": str(args.run), "cpu": cpu_description(),
         "date": time.strftime("%Y-%m-%d"), "minutes": minutes, "weights": weights, "models": results}, indent=1))


if __name__ == "__main__":
    main()
