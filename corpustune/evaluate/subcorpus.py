"""A sub-corpus to choose the interpolation weight on: its size grows with the queries, not the corpus.

Evaluating every weight of the select grid on the whole corpus encodes all N passages once per
weight. The choice of weight only needs the passages that can reach the top of some evaluation
query's ranking, so it is made on a sub-corpus of
- the judged passages of every evaluation set (human test/dev qrels, held-out synthetic qrels),
- the held-out passages (the sources of all held-out synthetic queries, answerable or not),
- the union of the base model's and BM25's top-k for every evaluation query,
- a seeded random sample of the other passages as distractors,
at most (judged + queries x 2k + distractors) passages.

Figures measured on it are optimistic (fewer distractors than the corpus has): what must agree
with full-corpus evaluation is the *choice* of weight (docs/scale.md, "Selection on a sub-corpus").
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from corpustune.data.beir import Qrels
from corpustune.data.records import Passage
from corpustune.parallel import Context
from corpustune.retrieve import Run
from corpustune.retrieve.fusion import ranked


@dataclass(frozen=True)
class SubCorpus:
    """The passages evaluation runs on, in corpus order, and how each part of it was chosen.

    Counts are of distinct passages, each counted in the first part that brought it in (judged,
    then held-out, then retrieved, then distractors); `not_in_corpus` counts judged or held-out
    ids that are no passage of the corpus (left out: nothing can retrieve them).
    """

    ids: tuple[str, ...]
    corpus_size: int
    judged: int
    heldout: int
    retrieved: int
    distractors: int
    not_in_corpus: int
    top_k: int
    seed: int

    def to_json(self) -> dict[str, Any]:
        """How curve.json records the corpus a figure was computed on."""
        return {
            "kind": "sub", "passages": len(self.ids), "corpus_passages": self.corpus_size,
            "built": {"judged": self.judged, "heldout": self.heldout, "retrieved": self.retrieved,
                      "distractors": self.distractors, "not_in_corpus": self.not_in_corpus,
                      "top_k": self.top_k, "seed": self.seed},
        }


def uses_subcorpus(select, corpus_size: int, query_tuned: bool = False) -> bool:
    """Whether the select settings (`corpus`, `sub_corpus_above`) ask for a sub-corpus at this corpus size.

    `auto` never does for a query-tuned student: its documents are the base model's at every weight,
    so the whole corpus costs a search per weight, no encoding, and a sub-corpus would only add its
    bias (the base model's own top-k is in it, a tuned weight's need not be: docs/scale.md)."""
    if select.corpus == "auto":
        return corpus_size > select.sub_corpus_above and not query_tuned
    return select.corpus == "sub"


def full_corpus_json(corpus_size: int) -> dict[str, Any]:
    """curve.json's record of an evaluation on the whole corpus."""
    return {"kind": "full", "passages": corpus_size, "corpus_passages": corpus_size}


def corpus_sentence(corpus: dict[str, Any]) -> str:
    """What the figures of curve.json / results.json were computed on, for the report and the CLI."""
    if corpus["kind"] == "full":
        return f"Every figure is computed on the whole corpus ({corpus['passages']:,} passages)."
    built = corpus["built"]
    return (f"Selection and evaluation ran on a sub-corpus of {corpus['passages']:,} of the corpus's "
            f"{corpus['corpus_passages']:,} passages ({built['judged']:,} judged, {built['heldout']:,} held-out, "
            f"{built['retrieved']:,} more from the base model's and BM25's top {built['top_k']} of each evaluation "
            f"query, {built['distractors']:,} random distractors, seed {built['seed']}): every figure, the human "
            f"test split's included, is optimistic (fewer distractors than the corpus has); only the comparison "
            f"between models is meant (select.corpus: full measures on the whole corpus).")


def build_subcorpus(
    corpus_ids: Sequence[str],
    *,
    qrels: Iterable[Qrels],
    heldout: Iterable[str],
    runs: Iterable[Run],
    top_k: int,
    distractors: int,
    seed: int,
) -> SubCorpus:
    """The sub-corpus of `corpus_ids` (every passage id, corpus order) for these evaluation sets.

    qrels: the judged passages (any grade) of every set; heldout: held-out passage ids; runs:
    retrieval runs over the evaluation queries (base model, BM25), of which each query's `top_k`
    best passages are taken (ties broken by id, as `ranked` does). `distractors` further passages
    are drawn without replacement from the rest with numpy's generator seeded by `seed`; all of
    the rest when fewer remain.
    """
    if top_k < 1 or distractors < 0:
        raise ValueError(f"top_k must be >= 1 and distractors >= 0, got top_k={top_k}, distractors={distractors}")
    in_corpus = set(corpus_ids)
    chosen: dict[str, str] = {}  # passage id -> the part that brought it in
    missing: set[str] = set()

    def add(ids: Iterable[str], part: str) -> None:
        for passage_id in ids:
            if passage_id not in in_corpus:
                missing.add(passage_id)
            else:
                chosen.setdefault(passage_id, part)

    for judged in qrels:
        add((p for passages in judged.values() for p in passages), "judged")
    add(heldout, "heldout")
    for run in runs:
        add((p for scores in run.values() for p in ranked(scores)[:top_k]), "retrieved")
    rest = [p for p in corpus_ids if p not in chosen]
    picked = np.random.default_rng(seed).choice(len(rest), size=min(distractors, len(rest)), replace=False)
    add((rest[i] for i in picked), "distractor")
    parts = list(chosen.values())
    return SubCorpus(
        ids=tuple(p for p in corpus_ids if p in chosen), corpus_size=len(corpus_ids),
        judged=parts.count("judged"), heldout=parts.count("heldout"), retrieved=parts.count("retrieved"),
        distractors=parts.count("distractor"), not_in_corpus=len(missing), top_k=top_k, seed=seed,
    )


def evaluation_runs(passages: Sequence[Passage], sets: list[dict[str, Any]], base, settings, *, top_k: int,
                    bm25_language: str | None, cache=None, context: Context | None = None,
                    run: Path | None = None) -> list[Run]:
    """The base model's and BM25's top `top_k` over the whole corpus for every distinct query text
    of `sets` (query ids of different sets may collide, so runs are keyed by text position).

    This is the one corpus-wide step of sub-corpus selection: the base model's passage embeddings
    are the ones mining already cached (`cache`), searched in slices under torchrun (`context`),
    and BM25 reads the run folder's saved index (`run`; the one mining built), else builds one.
    """
    from corpustune.evaluate.sharded import ShardedDenseRetriever
    from corpustune.retrieve.bm25 import BM25Params, shared_index
    from corpustune.retrieve.search import BM25Retriever

    texts = list(dict.fromkeys(q.text for s in sets for q in s["queries"].values()))
    if not texts:
        return []
    keys = [str(i) for i in range(len(texts))]
    dense = ShardedDenseRetriever(passages, settings, context or Context(), model=base, cache=cache, show_progress=True)
    runs = [dense.run(keys, texts, top_k)]
    del dense  # its N x d embeddings are not needed beside BM25's index
    index = None if run is None else shared_index(passages, run, BM25Params(bm25_language), context=context)
    runs.append(BM25Retriever(passages, bm25_language, index=index).run(keys, texts, top_k))
    return runs
