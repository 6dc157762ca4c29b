"""Base vs tuned vs published: every model of a run on every query set, with paired differences.

The select stage already evaluated base (a = 0), tuned (a = 1) and the published model on every
query set, per query (RUN/select/curve.json); this stage adds the ablation arms on the same sets
and writes `RunLayout.eval_results`:
`{"models": {label: path}, "main_arm", "published_weight", "verdict", "answerable",
  "sets": [{"name", "source", "role", "query_type", "num_queries",
            "results": {label: {measure: mean}}, "paired": {label: {measure: {mean, se, n}}}}]}`
where `paired` is each model minus the base, per query, with its standard error, and `corpus`
(curve.json's) says whether the figures are on the whole corpus or on the select stage's
sub-corpus: the arms run on the same passages as the grid, so their differences pair.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from corpustune.data.atomic import write_json_atomic
from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.evaluate.metrics import per_query
from corpustune.evaluate.paired import aligned, paired_difference
from corpustune.evaluate.sharded import ShardedDenseRetriever
from corpustune.hardware import Precision
from corpustune.layout import RunLayout
from corpustune.parallel import Context
from corpustune.retrieve import Run
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.retrieve.search import DenseSettings

Values = dict[str, dict[str, float]]  # measure -> query id -> value


def set_runs(retriever, sets: list[dict[str, Any]], *, depth: int) -> dict[str, Run]:
    """The top `depth` of one built retriever for each set's judged queries: set name -> run."""
    runs = {}
    for query_set in sets:
        judged = [query_set["queries"][q] for q in query_set["qrels"] if q in query_set["queries"]]
        runs[query_set["name"]] = retriever.run([q.id for q in judged], [q.text for q in judged], depth)
    return runs


def set_values(sets: list[dict[str, Any]], runs: dict[str, Run], measures: Sequence[str]) -> dict[str, Values]:
    """Per-query values of each set's run (`set_runs`): set name -> measure -> query id -> value."""
    return {s["name"]: per_query(s["qrels"], runs[s["name"]], measures) for s in sets}


def evaluate_models(
    passages: Sequence[Passage],
    models: dict[str, str],
    sets: list[dict[str, Any]],
    *,
    query_prompt: str = "",
    passage_prompt: str = "",
    depth: int = 100,
    measures: Sequence[str] = ("nDCG@10", "R@100"),
    trust_remote_code: bool = False,
    precision: Precision = "auto",
    context: Context | None = None,
) -> dict[str, dict[str, Values]]:
    """Per-query values of each model (label -> path or alias) on each set: label -> set name -> values.

    `trust_remote_code` is the student's: a model with custom code loads for evaluation only if
    it loaded for training. Under torchrun (`context`) each rank encodes and searches its slice
    of `passages`; every rank gets the values.
    """
    cache = EmbeddingCache()
    evaluated: dict[str, dict[str, Values]] = {}
    for label, model in models.items():
        settings = DenseSettings(model=model, query_prompt=query_prompt, passage_prompt=passage_prompt,
                                 trust_remote_code=trust_remote_code, precision=precision)
        retriever = ShardedDenseRetriever(passages, settings, context or Context(), cache=cache, show_progress=True)
        evaluated[label] = set_values(sets, set_runs(retriever, sets, depth=depth), measures)
    return evaluated


def summarize(sets: list[dict[str, Any]], values: Mapping[str, Mapping[str, Values]],
              measures: Sequence[str]) -> list[dict[str, Any]]:
    """Each set with every model's means and its paired difference to the base (label "base")."""
    summary = []
    for query_set in sets:
        name = query_set["name"]
        results, paired = {}, {}
        for label, by_set in values.items():
            results[label] = {m: sum(by_set[name][m].values()) / len(by_set[name][m]) for m in measures}
            if label != "base":
                paired[label] = {m: paired_difference(*aligned(by_set[name][m], values["base"][name][m])).to_json()
                                 for m in measures}
        described = {k: query_set[k] for k in ("name", "source", "role", "query_type")}
        summary.append(described | {"num_queries": query_set["num_queries"], "results": results, "paired": paired})
    return summary


def evaluate_run(run_dir: Path, passages: Sequence[Passage], config, context: Context | None = None) -> dict[str, Any]:
    """Write RUN/eval/results.json for the base, tuned and published models (from the select
    stage) and every ablation arm, all on the select stage's query sets and passages. Under
    torchrun (`context`) every rank calls this and shares the arms' encoding; rank 0 writes.

    Models are recorded by their path inside the run folder, so that the results do not depend
    on where the run folder lives.
    """
    from corpustune.evaluate.publish import query_sets, subcorpus_passages
    from corpustune.evaluate.subcorpus import full_corpus_json
    from corpustune.train.arms import ablation_arms

    layout = RunLayout(run_dir)
    curve = json.loads(layout.select_curve.read_text(encoding="utf-8"))
    grid = curve["per_query"]
    measures = tuple(config.evaluate.measures)
    values: dict[str, dict[str, Values]] = {"base": grid["0.0"], "tuned": grid["1.0"],
                                             "published": grid[str(float(curve["published_weight"]))]}
    arms = {arm: layout.arm_dirs(arm, main=False)[1] for arm in ablation_arms(config.train.loss, config.ablation)}
    corpus = curve.get("corpus", full_corpus_json(len(passages)))  # curves of older runs: the whole corpus
    if arms:
        sets, _ = query_sets(run_dir, {p.id: p for p in passages}, config)
        if corpus["kind"] == "sub":
            if not layout.select_subcorpus.exists():
                raise InputError(f"{layout.select_subcorpus}: missing, but {layout.select_curve} says selection ran "
                                 "on a sub-corpus; run the select stage again (corpustune select --out RUN)")
            ids = json.loads(layout.select_subcorpus.read_text(encoding="utf-8"))["ids"]
            passages = subcorpus_passages(passages, ids)
        values |= evaluate_models(
            passages, {arm: str(path) for arm, path in arms.items()}, sets,
            query_prompt=config.train.query_prompt, passage_prompt=config.train.passage_prompt,
            depth=config.evaluate.depth, measures=measures, trust_remote_code=config.train.trust_remote_code,
            precision=config.evaluate.precision, context=context,
        )
    recorded = {"base": config.train.model, "tuned": layout.relative(layout.arm_dirs(config.train.loss, True)[1]),
                "published": layout.relative(layout.model_dir)}
    recorded |= {arm: layout.relative(path) for arm, path in arms.items()}
    results = {
        "models": recorded, "main_arm": config.train.loss, "published_weight": curve["published_weight"],
        "verdict": curve["verdict"], "answerable": curve["answerable"], "corpus": corpus,
        "sets": summarize(curve["sets"], values, measures),
    }
    if context is None or context.is_main:
        write_json_atomic(layout.eval_results, results)
    return results
