"""The select stage: interpolate the tuned student with the base, choose on held-out queries, publish.

For each weight a of `select.weights` the model (1 - a) * base + a * tuned is evaluated on every
query set of the run: the human test split (for the report only; never read by the choice), a
human dev split when the data folder has one, and the held-out synthetic queries, per type and
pooled, after dropping those no passage can answer (`answerable`). The weight is chosen on the
dev split if there is one, else on the pooled held-out queries (`select.choose_weight`), graded by
the run's teachers (`select.judge: teacher`, `corpustune.evaluate.graded`) or by their source
passages (`source`), and the model that `select.publish` asks for is written to RUN/model with a
card that says what it is.
Everything measured goes to RUN/select/curve.json, per query too, so evaluation and the report
pair their differences without encoding the corpus again.

The grid runs on the whole corpus, or (`select.corpus`; by default above `select.sub_corpus_above`
passages) on a sub-corpus whose size grows with the evaluation queries, not the corpus
(`corpustune.evaluate.subcorpus`); curve.json's `corpus` says which, and how it was built.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from corpustune.data.atomic import write_json_atomic
from corpustune.data.beir import load_split, qrels_file, read_qrels, read_queries
from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.evaluate.answerable import AnswerableReport, answerable_queries
from corpustune.evaluate.select import Selection, choose_weight
from corpustune.evaluate.subcorpus import (build_subcorpus, corpus_sentence, evaluation_runs, full_corpus_json,
                                           uses_subcorpus)
from corpustune.layout import RunLayout
from corpustune.models.routed import is_routed
from corpustune.parallel import Context, broadcast
from corpustune.retrieve import Run
from corpustune.train.interpolate import interpolated_model

POOLED = "held-out synthetic"

logger = logging.getLogger(__name__)


def query_sets(run_dir: Path, passages: dict[str, Passage], config) -> tuple[list[dict[str, Any]], AnswerableReport]:
    """The evaluation sets of a run and how many held-out queries the answerable test dropped.

    Each set: name, source (human / synthetic), role (test / dev / heldout), query_type, queries, qrels.
    """
    data, layout = Path(config.data.path), RunLayout(run_dir)
    sets = []
    for split, role in ((config.evaluate.split, "test"), (config.select.dev_split, "dev")):
        if split is not None and qrels_file(data, split).exists():
            queries, qrels = load_split(data, split)
            sets.append({"name": f"{data.name} {split}", "source": "human", "role": role, "query_type": None,
                         "queries": queries, "qrels": qrels})
    report = AnswerableReport()
    held_out = layout.heldout_sets() if config.evaluate.heldout else []
    if not held_out:
        return sets, report
    synthetic = read_queries(layout.queries_file)
    judged = {q: synthetic[q] for _, path in held_out for q in read_qrels(path)}
    keep = answerable_queries(judged.values(), passages, prompt_examples(judged.values(), config.generate),
                              config.select.answerable_min_overlap, report)
    pooled_qrels = {}
    for query_type, path in held_out:
        qrels = {q: judged_passages for q, judged_passages in read_qrels(path).items() if q in keep}
        pooled_qrels |= qrels
        if qrels:
            sets.append({"name": f"held-out {query_type}", "source": "synthetic", "role": "heldout",
                         "query_type": query_type, "queries": {q: synthetic[q] for q in qrels}, "qrels": qrels})
    if pooled_qrels:
        sets.append({"name": POOLED, "source": "synthetic", "role": "heldout", "query_type": None,
                     "queries": {q: synthetic[q] for q in pooled_qrels}, "qrels": pooled_qrels})
    return sets, report


def prompt_examples(queries, generate_config) -> dict[str, list[str]]:
    """Query id -> the texts of the few-shot examples its generation prompt showed."""
    from corpustune.generate.prompts import pick_examples
    from corpustune.generate.types import configured_types

    types = {t.name: t for t in configured_types(generate_config)}
    shown = {}
    for query in queries:
        query_type = types.get(query.type or "")
        if query_type is None or query.source_id is None:
            shown[query.id] = []
            continue
        picked = pick_examples(query_type, generate_config.few_shot_count, generate_config.seed, query.source_id)
        shown[query.id] = [f"{e.passage} {e.query}" for e in picked]
    return shown


def evaluate_grid(passages: Sequence[Passage], base, tuned, weights: Sequence[float], sets: list[dict[str, Any]],
                  *, settings, depth: int, measures: Sequence[str], cache,
                  context: Context | None = None
                  ) -> tuple[dict[float, dict[str, dict]], dict[float, dict[str, Run]]]:
    """weight -> set name -> measure -> query id -> value, and weight -> set name -> run, one corpus
    encoding per weight (under torchrun each rank encodes and searches its slice of `passages`;
    every rank gets the grid and the runs)."""
    from corpustune.evaluate.compare import set_runs, set_values
    from corpustune.evaluate.sharded import ShardedDenseRetriever

    grid, runs = {}, {}
    for weight in weights:
        model = base if weight == 0.0 else tuned if weight == 1.0 else interpolated_model(base, tuned, weight)
        retriever = ShardedDenseRetriever(passages, settings, context or Context(), model=model, cache=cache,
                                          show_progress=True)
        runs[weight] = set_runs(retriever, sets, depth=depth)
        grid[weight] = set_values(sets, runs[weight], measures)
        del retriever  # its passage matrix, before the next weight's is made
    return grid, runs


def evaluation_corpus(run_dir: Path, passages: Sequence[Passage], sets: list[dict[str, Any]], base, tuned, settings,
                      config, cache, context: Context) -> tuple[Sequence[Passage], dict[str, Any]]:
    """The passages the grid runs on, and curve.json's record of them (`corpus`): the whole corpus, or
    the sub-corpus `config.select` asks for, whose ids (rank 0) writes to RUN/select/subcorpus.json
    for the evaluate stage's arms."""
    layout, select = RunLayout(run_dir), config.select
    if not uses_subcorpus(select, len(passages), query_tuned=is_routed(tuned)):
        if context.is_main:
            layout.select_subcorpus.unlink(missing_ok=True)
        return passages, full_corpus_json(len(passages))
    heldout = read_qrels(layout.heldout_qrels) if layout.heldout_qrels.exists() else {}
    runs = evaluation_runs(passages, sets, base, settings, top_k=select.sub_top_k,
                           bm25_language=config.mine.bm25_language, cache=cache, context=context,
                           run=run_dir)
    sub = build_subcorpus([p.id for p in passages], qrels=[s["qrels"] for s in sets],
                          heldout=[p for judged in heldout.values() for p in judged], runs=runs,
                          top_k=select.sub_top_k, distractors=select.sub_distractors, seed=select.sub_seed)
    if context.is_main:
        write_json_atomic(layout.select_subcorpus, {"ids": list(sub.ids)})
    logger.info("selecting on a sub-corpus of %d of %d passages (%s)", len(sub.ids), len(passages),
                sub.to_json()["built"])
    return subcorpus_passages(passages, sub.ids), sub.to_json()


def subcorpus_passages(passages: Sequence[Passage], ids) -> list[Passage]:
    """The passages whose ids are in `ids`, in corpus order."""
    keep = set(ids)
    return [p for p in passages if p.id in keep]


def index_sentence(weight: float, query_tuned: bool) -> str:
    """What the published model means for an index built with the base model."""
    if weight == 0.0:
        return "Its embeddings equal the base model's: an index built with the base model stays valid."
    if query_tuned:
        return ("Queries go through the tuned query encoder (`encode_query`) and documents through the base model, "
                "bit for bit (`encode_document`): an index built with the base model stays valid.")
    return "Queries and documents share the tuned encoder: re-embed the corpus with it."


def published_weight(selection: Selection | None, publish: str) -> float:
    """The weight `publish` asks for; with nothing to decide on, `best` keeps the base model."""
    best = 0.0 if selection is None else selection.weight
    return {"best": best, "tuned": 1.0, "base": 0.0}[publish]


def verdict(selection: Selection | None, publish: str, decided_on: str) -> str:
    """One plain sentence on what was published and why."""
    weight = published_weight(selection, publish)
    if publish != "best":
        return f"Published the {publish} model (a = {weight:g}) as configured (select.publish: {publish})."
    if selection is None:
        return ("No held-out synthetic query (and no human dev split) was left to tell whether tuning helped; "
                "published the base model unchanged. Hold out more passages (generate.heldout_count), or set "
                "select.publish: tuned to publish the tuned model anyway.")
    if selection.keeps_base:
        best = selection.versus_base[selection.best]
        return (f"The tuned model did not beat the base model on {decided_on}: no interpolation weight improved it "
                f"by more than the standard error of the difference (best a = {selection.best:g}: {best} nDCG "
                f"points); published the base model unchanged.")
    gain = selection.versus_base[weight]
    return (f"Published the interpolation a = {weight:g} of base and tuned: {gain} points over the base on "
            f"{decided_on} (the smallest weight within one standard error of the best, a = {selection.best:g}).")


def judge_by_teacher(run_dir: Path, passages: Sequence[Passage], heldout: dict[str, Any], runs: dict[float, Run],
                     config, context: Context, embedding_cache) -> dict[str, Any]:
    """The held-out set's per-query `select.measure` at each weight against the teacher's grades
    (`corpustune.evaluate.graded`), and how they were made: curve.json's `judge`.

    `runs`: weight -> the held-out set's run; the pool is every weight's top 10. Every rank calls
    this (the scoring is collective); rank 0's grades go to every rank."""
    from corpustune.evaluate.graded import POOL_DEPTH, pooled_passages, teacher_graded_qrels, teacher_ranking
    from corpustune.evaluate.metrics import per_query

    measure = config.select.measure
    pool = pooled_passages(heldout["qrels"], runs.values())
    texts = {q: heldout["queries"][q].text for q in pool}
    ranking = teacher_ranking(pool, texts, passages, config.score, context, run=run_dir,
                              cache_dir=RunLayout(run_dir).score_cache, embedding_cache=embedding_cache)
    qrels = broadcast(None if ranking is None else teacher_graded_qrels(ranking), context)
    return {
        "rule": "teacher", "pool_depth": POOL_DEPTH, "pooled_pairs": sum(len(p) for p in pool.values()),
        "pooled_passages": len({p for pooled in pool.values() for p in pooled}),
        "teachers": [t.model_dump(mode="json") for t in config.score.teachers],
        "per_query": {str(a): per_query(qrels, run, (measure,))[measure] for a, run in runs.items()},
    }


def select_run(run_dir: Path, passages: Sequence[Passage], config, context: Context | None = None) -> dict[str, Any]:
    """Evaluate the interpolation grid, choose, write RUN/model and RUN/select/curve.json.

    Under torchrun (`context`) every rank calls this: the ranks share the corpus's encoding and
    search (`evaluate_grid`), rank 0 alone writes; every rank returns the curve."""
    from corpustune.retrieve.encode import EmbeddingCache, load_encoder
    from corpustune.retrieve.search import DenseSettings
    from corpustune.train.export import save_student

    context = context or Context()

    layout, train, select = RunLayout(run_dir), config.train, config.select
    if select.dev_split is not None and select.dev_split == config.evaluate.split:
        raise InputError(f"select.dev_split is {select.dev_split!r}, the evaluation split: the weight must never be "
                         "chosen on test queries; name another split or null")
    by_id = {p.id: p for p in passages}
    sets, answerable = query_sets(run_dir, by_id, config)
    deciding = next((s for s in sets if s["role"] == "dev"), None) or next((s for s in sets if s["name"] == POOLED), None)
    # with nothing to decide on, interior weights would be measured for nothing
    weights = sorted(set(select.weights) | {0.0, 1.0}) if deciding is not None else [0.0, 1.0]
    tuned_dir = layout.arm_dirs(train.loss, main=True)[1]
    # under torchrun each rank computes on its own GPU; a plain process keeps sentence-transformers' pick
    device = str(context.device) if context.distributed else None
    base = load_encoder(train.model, device=device, trust_remote_code=train.trust_remote_code)
    tuned = load_encoder(str(tuned_dir), device=device, trust_remote_code=train.trust_remote_code)
    settings = DenseSettings(model=train.model, query_prompt=train.query_prompt, passage_prompt=train.passage_prompt,
                             trust_remote_code=train.trust_remote_code, precision=config.evaluate.precision)
    measures = tuple(dict.fromkeys((select.measure, *config.evaluate.measures)))
    cache = EmbeddingCache()
    evaluated, corpus = evaluation_corpus(run_dir, passages, sets, base, tuned, settings, config, cache, context)
    grid, runs = evaluate_grid(evaluated, base, tuned, weights, sets, settings=settings, depth=config.evaluate.depth,
                               measures=measures, cache=cache, context=context)
    selection, decided_on, judged = None, "nothing", None
    if deciding is not None:
        order = list(deciding["qrels"])
        values = {a: grid[a][deciding["name"]][select.measure] for a in weights}
        decided_on = f"{deciding['name']} ({len(order)} queries, {select.measure})"
        if deciding["role"] == "heldout" and select.judge == "teacher":
            judged = judge_by_teacher(run_dir, passages, deciding, {a: runs[a][deciding["name"]] for a in weights},
                                      config, context, cache)
            values = {a: judged["per_query"][str(a)] for a in weights}
            decided_on = f"{deciding['name']} graded by the teacher ({len(order)} queries, {select.measure})"
        selection = choose_weight({a: np.array([values[a][q] for q in order]) for a in weights})
    weight = published_weight(selection, select.publish)
    sentence = verdict(selection, select.publish, decided_on)
    model = base if weight == 0.0 else tuned if weight == 1.0 else interpolated_model(base, tuned, weight)
    card = {
        "title": "corpustune: base model, unchanged" if weight == 0.0 else f"corpustune student (a = {weight:g})",
        "summary": f"{sentence} {index_sentence(weight, is_routed(tuned))}",
        "base_model": train.model,
        "data": {"published": sentence, "decided on": decided_on, "evaluated on": corpus_sentence(corpus),
                 "tuned model": str(tuned_dir),
                 **({} if selection is None else
                    {f"a = {a:g}": f"{100 * selection.means[a]:.2f} ({selection.versus_base[a]} vs base)"
                     for a in weights})},
        "settings": select.model_dump(mode="json"),
    }
    if context.is_main:
        save_student(model, layout.model_dir, query_prompt=train.query_prompt, passage_prompt=train.passage_prompt,
                     card=card)
    curve = {
        "decided_on": None if deciding is None else deciding["name"], "measure": select.measure,
        "publish": select.publish, "published_weight": weight, "verdict": sentence,
        "index_unchanged": weight == 0.0 or is_routed(tuned),
        "selection": None if selection is None else selection.to_json(),
        "judge": judged,
        "answerable": answerable.to_json(),
        "corpus": corpus,
        "sets": [{"name": s["name"], "source": s["source"], "role": s["role"], "query_type": s["query_type"],
                  "num_queries": len(s["qrels"])} for s in sets],
        "per_query": {str(a): grid[a] for a in weights},
    }
    if context.is_main:
        write_json_atomic(layout.select_curve, curve)
    return curve
