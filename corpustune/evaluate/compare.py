"""Base vs tuned: every model of a run evaluated on the human qrels and the held-out synthetic queries.

Results go to `RunLayout.eval_results`:
`{"models": {arm: path}, "sets": [{"name", "source", "query_type", "num_queries", "results": {arm: {measure: value}}}]}`.
The corpus is encoded once per model (the embedding cache makes the base model free when mining
already encoded it), then each query set is searched.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from corpustune.data.atomic import write_json_atomic
from corpustune.data.beir import load_split, read_qrels, read_queries
from corpustune.data.records import Passage
from corpustune.evaluate.retrieval import evaluate_queries
from corpustune.layout import RunLayout
from corpustune.retrieve.encode import EmbeddingCache
from corpustune.retrieve.search import DenseRetriever, DenseSettings


def query_sets(run_dir: Path, data: Path, split: str | None, heldout: bool) -> list[dict[str, Any]]:
    """The evaluation sets: human qrels of `split` (when the data folder has them) and the
    held-out synthetic queries, one set per query type."""
    sets = []
    if split is not None and (data / "qrels" / f"{split}.tsv").exists():
        queries, qrels = load_split(data, split)
        sets.append({"name": f"{data.name} {split}", "source": "human", "query_type": None, "queries": queries, "qrels": qrels})
    layout = RunLayout(run_dir)
    held_out = layout.heldout_sets() if heldout else []
    if held_out:
        synthetic = read_queries(layout.queries_file)
        for query_type, path in held_out:
            qrels = read_qrels(path)
            if qrels:
                sets.append({"name": f"held-out {query_type}", "source": "synthetic", "query_type": query_type,
                             "queries": {q: synthetic[q] for q in qrels}, "qrels": qrels})
    return sets


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
) -> list[dict[str, Any]]:
    """Evaluate each model (arm -> path or alias) on each set; returns the sets with `results`.

    `trust_remote_code` is the student's: a model with custom code loads for evaluation only if
    it loaded for training.
    """
    results = [{k: v for k, v in s.items() if k not in ("queries", "qrels")} | {"num_queries": len(s["qrels"]), "results": {}} for s in sets]
    cache = EmbeddingCache()
    for arm, model in models.items():
        settings = DenseSettings(
            model=model, query_prompt=query_prompt, passage_prompt=passage_prompt, trust_remote_code=trust_remote_code
        )
        retriever = DenseRetriever(passages, settings, cache=cache, show_progress=True)
        for query_set, result in zip(sets, results):
            evaluation = evaluate_queries(retriever, query_set["queries"], query_set["qrels"], depth=depth, measures=measures)
            result["results"][arm] = evaluation.metrics
    return results


def evaluate_run(run_dir: Path, passages: Sequence[Passage], config) -> dict[str, Any]:
    """Evaluate the base student and every trained arm of the run; writes RUN/eval/results.json.

    Trained models are recorded by their path inside the run folder, so that the results do not
    depend on where the run folder lives.
    """
    from corpustune.train.arms import ablation_arms

    layout = RunLayout(run_dir)
    trained = {"tuned": layout.model_dir}
    for arm in ablation_arms(config.train.loss, config.ablation):
        trained[arm] = layout.arm_dirs(arm, main=False)[1]
    models = {"base": config.train.model} | {label: str(path) for label, path in trained.items()}
    sets = query_sets(run_dir, Path(config.data.path), config.evaluate.split, config.evaluate.heldout)
    evaluated = evaluate_models(
        passages, models, sets,
        query_prompt=config.train.query_prompt, passage_prompt=config.train.passage_prompt,
        depth=config.evaluate.depth, measures=config.evaluate.measures,
        trust_remote_code=config.train.trust_remote_code,
    )
    recorded = {"base": config.train.model} | {label: str(path.relative_to(run_dir)) for label, path in trained.items()}
    results = {"models": recorded, "main_arm": config.train.loss, "sets": evaluated}
    write_json_atomic(layout.eval_results, results)
    return results
