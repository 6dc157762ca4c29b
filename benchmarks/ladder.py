"""The distillation ladder (issue 32): where does the teacher's lead get lost on its way into the student?

Every rung is measured on *human* queries of a decision set (SciFact `--split train`, cranfield
`--ids odd`), never on the report sets, and printed as paired per-query differences ± s.e.

- R0 teachers: each teacher, and each fusion of teachers (`a+b`: per-list z-scores, equal
  weights), reranks the mined list of every human query (BM25 + the student's dense top-k fused
  by RRF). Baseline: the student's own full-corpus retrieval.
- R1 oracle queries: the student distilled from one teacher on the lists of *human* queries,
  with the product's recipe (the score stage's filters and normalization, the preset's training
  settings), in two folds: train on one half of the queries, evaluate on the other, both ways.
  Baseline: the untrained student on the same queries. It measures what the recipe can carry
  over when the queries are real.
- R2 synthetic queries: the models a `corpustune run` folder trained (`--run RUN`: the
  published model, every loss arm under RUN/train and RUN/ablation) on the same human queries.
  R3 (the recipe's knobs on R2's lists) retrains from a run folder's caches with
  `benchmarks/train_settings.py`.

Teacher scores are cached in OUT/score-cache (the score stage's cache), so a rerun or another
rung reuses every pair already scored.

Usage:
  PYTHONPATH=. python benchmarks/ladder.py --data ../shared/data/scifact --split train --out /tmp/ladder/scifact \\
      --rung r0 --teacher bm25 --teacher biencoder:minilm --teacher cross-encoder:ms-marco-minilm-l12 \\
      --teacher bm25+cross-encoder:ms-marco-minilm-l12
  PYTHONPATH=. python benchmarks/ladder.py ... --rung r1 --teacher cross-encoder:ms-marco-minilm-l12 \\
      --set train.loss=combined
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import torch

from corpustune.config import resolve_config
from corpustune.data.beir import Qrels, load_split, read_queries
from corpustune.data.corpus import read_passages
from corpustune.data.records import Query
from corpustune.evaluate.metrics import per_query
from corpustune.evaluate.paired import aligned, paired_difference
from corpustune.hardware import cpu_description
from corpustune.layout import RunLayout
from corpustune.parallel import init_distributed
from corpustune.retrieve import Run
from corpustune.retrieve.encode import EmbeddingCache, load_encoder
from corpustune.retrieve.fusion import ranked, reciprocal_rank_fusion, truncate
from corpustune.retrieve.search import BM25Retriever, DenseRetriever, DenseSettings
from corpustune.teach import filters
from corpustune.teach.cache import ScoreCache
from corpustune.teach.ensemble import combine_flat
from corpustune.teach.factory import build_teacher, parse_teacher
from corpustune.teach.scorer import score_pairs
from corpustune.teach.stage import apply_filters
from corpustune.train.batching import Example, split_by_source
from corpustune.train.trainer import Trainer

MEASURES = ("nDCG@10", "R@100")


def decision_queries(data: Path, split: str, ids: str, exclude: frozenset[str] = frozenset()
                     ) -> tuple[dict[str, Query], Qrels]:
    """The split's judged queries, keeping only odd or even numeric ids when asked (cranfield), and
    none whose id is in `exclude` (the queries a run was shown as examples)."""
    queries, qrels = load_split(data, split)
    queries = {q: t for q, t in queries.items() if q not in exclude}
    if ids != "all":
        parity = 1 if ids == "odd" else 0
        queries = {q: t for q, t in queries.items() if int(q) % 2 == parity}
    # a query judged only with grades <= 0 has nothing to find: it is no evaluation query
    keep = [q for q in queries if any(g > 0 for g in qrels[q].values())]
    return {q: queries[q] for q in keep}, {q: qrels[q] for q in keep}


def add_decision_set_arguments(parser: argparse.ArgumentParser) -> None:
    """--data, --split, --ids and --exclude-queries: the human queries of a decision set."""
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--ids", choices=["all", "odd", "even"], default="all")
    parser.add_argument("--exclude-queries", type=Path,
                        help="a queries.jsonl (e.g. a run's --example-queries) whose ids are not evaluated")


def excluded_ids(args: argparse.Namespace) -> frozenset[str]:
    """The ids of `--exclude-queries` (none when it is not given)."""
    return frozenset(read_queries(args.exclude_queries)) if args.exclude_queries else frozenset()


def fold_of(query_id: str) -> int:
    """A fixed, seed-free fold (0 or 1) of a query id: the same split on every run."""
    return hashlib.sha256(query_id.encode()).digest()[0] % 2


class Lists:
    """Mined lists of the human queries (BM25 + dense student, RRF) and their teacher scores."""

    def __init__(self, passages, queries: dict[str, Query], student: str, depth: int, out: Path):
        self.passages = {p.id: p for p in passages}
        self.queries = queries
        self.cache = EmbeddingCache()
        self.dense = DenseRetriever(passages, DenseSettings(model=student), cache=self.cache)
        ids, texts = list(queries), [queries[q].text for q in queries]
        self.base_run: Run = self.dense.run(ids, texts, 100)
        bm25 = BM25Retriever(passages).run(ids, texts, depth)
        fused = reciprocal_rank_fusion([bm25, truncate(self.base_run, depth)])
        self.pool = {q: ranked(fused.get(q, {}))[:depth] for q in ids}
        self.score_cache = ScoreCache(out / "score-cache")
        self.context = init_distributed()
        self.raw: dict[str, dict[tuple[str, str], float]] = {}

    def scores(self, teacher: str, pairs: list[tuple[str, str]]) -> np.ndarray:
        """Raw scores of one teacher (`kind[:model]`) on (query id, passage id) pairs, cached."""
        known = self.raw.setdefault(teacher, {})
        todo = sorted({pair for pair in pairs if pair not in known})
        if todo:
            model = build_teacher(parse_teacher(teacher), list(self.passages.values()), embedding_cache=self.cache)
            texts = [(self.queries[q].text, self.passages[p].full_text()) for q, p in todo]
            known.update(zip(todo, score_pairs(texts, model, self.score_cache, self.context).tolist()))
            del model
        return np.array([known[pair] for pair in pairs])

    def fused(self, fusion: str, lists: dict[str, list[str]]) -> dict[str, np.ndarray]:
        """query id -> scores of its list by teacher `fusion` (`a+b+...`: per-list z-scores, equal weights)."""
        members = fusion.split("+")
        pairs = [(q, p) for q, ids in lists.items() for p in ids]
        per_teacher = [self.scores(teacher, pairs) for teacher in members]
        lengths = [len(ids) for ids in lists.values()]
        return dict(zip(lists, combine_flat(per_teacher, lengths, [1.0] * len(members), "zscore")))


def values(qrels: Qrels, run: Run) -> dict[str, dict[str, float]]:
    return per_query(qrels, run, MEASURES)


def row(name: str, ours: dict, base: dict, seconds: float | None = None) -> dict:
    """A table row: ours and base means and the paired differences, per measure."""
    result = {"name": name}
    cells = []
    for measure in MEASURES:
        mine, reference = aligned(ours[measure], base[measure])
        difference = paired_difference(mine, reference)
        result[measure] = {"ours": 100 * mine.mean(), "base": 100 * reference.mean(), **difference.to_json()}
        cells.append(f"{measure} {100 * mine.mean():6.2f} ({difference})")
    if seconds is not None:
        result["minutes"] = seconds / 60
    print(f"{name:<58} " + "   ".join(cells) + (f"   {seconds / 60:5.1f} min" if seconds else ""), flush=True)
    return result


def rung_r0(lists: Lists, qrels: Qrels, teachers: list[str]) -> list[dict]:
    base = values(qrels, lists.base_run)
    rows = [row("student: full-corpus dense retrieval (the base)", base, base)]
    coverage = np.mean([any(g > 0 and p in lists.pool[q] for p, g in qrels[q].items()) for q in qrels])
    print(f"  lists of {len(next(iter(lists.pool.values())))}: a relevant passage in {100 * coverage:.1f} % of them")
    for teacher in teachers:
        started = time.perf_counter()
        scores = lists.fused(teacher, lists.pool)
        run = {q: {p: float(s) for p, s in zip(lists.pool[q], scores[q])} for q in lists.pool}
        rows.append(row(f"teacher {teacher} reranking the lists", values(qrels, run), base,
                        time.perf_counter() - started))
    return rows


def training_examples(lists: Lists, qrels: Qrels, query_ids: list[str], teacher: str, config) -> list[Example]:
    """The product's lists for human queries: the best-judged passage as the positive, then the
    pool; the score stage's filters and normalization on the teacher's scores."""
    chosen = {}
    for q in query_ids:
        judged = qrels[q]
        positive = max(judged, key=lambda p: (judged[p], -lists.pool[q].index(p) if p in lists.pool[q] else -10**9))
        chosen[q] = [positive] + [p for p in lists.pool[q] if p != positive][: config.train.list_size - 1]
    scores = lists.fused(teacher, chosen)
    keep, report = apply_filters([scores[q] for q in chosen], config.score)
    kept = [q for q, k in zip(chosen, keep) if k]
    low, high = filters.percentile_bounds([scores[q] for q in kept], config.score.normalize_lower_percentile,
                                          config.score.normalize_upper_percentile)
    print(f"  training lists: {report}")
    return [
        Example(q, lists.queries[q].text, q, tuple(chosen[q]),
                tuple(float(x) for x in filters.min_max(scores[q], low, high)))
        for q in kept
    ]


def rung_r1(lists: Lists, qrels: Qrels, teacher: str, config, out: Path) -> list[dict]:
    # one folder per teacher and training settings: a rerun resumes, other settings never do
    tag = hashlib.sha256(f"{teacher}|{config.train.model_dump_json()}|{config.score.model_dump_json()}".encode())
    base = values(qrels, lists.base_run)
    tuned_run: Run = {}
    started = time.perf_counter()
    for fold in (0, 1):
        train_ids = [q for q in qrels if fold_of(q) != fold]
        eval_ids = [q for q in qrels if fold_of(q) == fold]
        examples = training_examples(lists, qrels, train_ids, teacher, config)
        train, dev = split_by_source(examples, config.train.dev_fraction, config.train.seed)
        work = out / f"r1-{tag.hexdigest()[:10]}-fold{fold}"
        Trainer(config.train, train, dev, lists.passages, work / "train", work / "model",
                show_progress=False).train(resume=True)
        model = load_encoder(str(work / "model"))
        retriever = DenseRetriever(list(lists.passages.values()), DenseSettings(model=str(work / "model")),
                                   model=model, cache=lists.cache)
        tuned_run |= retriever.run(eval_ids, [lists.queries[q].text for q in eval_ids], 100)
    label = f"R1 oracle: {config.train.loss} from {teacher}, 2 folds"
    return [row(label, values(qrels, tuned_run), base, time.perf_counter() - started)]


def run_models(run: Path) -> dict[str, Path]:
    """name -> model folder of every model a run folder trained, the published one first."""
    layout = RunLayout(run)
    found = {"published (RUN/model)": layout.model_dir} if layout.model_dir.is_dir() else {}
    for arms in (layout.train_dir, layout.ablation_dir):
        for model in sorted(arms.glob("*/model")):
            found[f"arm {model.parent.name} ({model.relative_to(run)})"] = model
    if not found:
        raise SystemExit(f"{run}: no trained model (RUN/model, RUN/train/<arm>/model, RUN/ablation/<arm>/model)")
    return found


def rung_r2(lists: Lists, qrels: Qrels, run: Path) -> list[dict]:
    base = values(qrels, lists.base_run)
    rows = []
    ids = list(qrels)
    for name, folder in run_models(run).items():
        retriever = DenseRetriever(list(lists.passages.values()), DenseSettings(model=str(folder)),
                                   model=load_encoder(str(folder)), cache=lists.cache)
        tuned = retriever.run(ids, [lists.queries[q].text for q in ids], 100)
        rows.append(row(f"R2 {run.name}: {name}", values(qrels, tuned), base))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_decision_set_arguments(parser)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--rung", choices=["r0", "r1", "r2"], required=True)
    parser.add_argument("--run", type=Path, help="r2: a run folder of `corpustune run`")
    parser.add_argument("--teacher", action="append", default=[],
                        help="kind[:model], or several joined by + (per-list z-scores, equal weights); repeatable for r0")
    parser.add_argument("--depth", type=int, default=30, help="pool of each list: BM25 and dense top-k, fused")
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="a setting, as for corpustune run")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.split == "test" or args.ids == "even":
        print("note: this is a report set; decide nothing on it")
    exclude = excluded_ids(args)
    torch.set_num_threads(args.threads)
    config = resolve_config(args.data, args.preset, overrides=tuple(args.overrides))
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"CPU: {cpu_description()}")
    queries, qrels = decision_queries(args.data, args.split, args.ids, exclude)
    print(f"{args.data.name} {args.split} ({args.ids} ids): {len(qrels)} judged queries"
          + (f", without the {len(exclude)} of {args.exclude_queries}" if exclude else ""))
    passages = list(read_passages(config.data))
    lists = Lists(passages, queries, config.train.model, args.depth, args.out)
    if args.rung in ("r0", "r1") and not args.teacher:
        parser.error(f"--rung {args.rung} needs at least one --teacher")
    if args.rung == "r2" and args.run is None:
        parser.error("--rung r2 needs --run RUN")
    if args.rung == "r0":
        rows = rung_r0(lists, qrels, args.teacher)
    elif args.rung == "r2":
        rows = rung_r2(lists, qrels, args.run)
    else:
        rows = [r for teacher in args.teacher for r in rung_r1(lists, qrels, teacher, config, args.out)]
    lists.score_cache.close()
    result = {"data": str(args.data), "split": args.split, "ids": args.ids, "rung": args.rung, "cpu": cpu_description(),
              "settings": args.overrides, "date": time.strftime("%Y-%m-%d"), "rows": rows}
    result["excluded"] = sorted(exclude)
    name = f"{args.rung}-" + hashlib.sha256(json.dumps([args.teacher, args.overrides, str(args.run)]).encode()).hexdigest()[:8]
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
