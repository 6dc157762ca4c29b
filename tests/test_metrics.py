"""Metrics against hand-computed values (trec_eval conventions: linear gains, log2 discounts)."""

from __future__ import annotations

import math

import pytest

from corpustune.evaluate.metrics import aggregate, per_query
from corpustune.evaluate.trec import read_trec_run, write_trec_run


def dcg(gains):
    return sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))


def test_graded_ndcg_recall_mrr_with_a_missing_query():
    qrels = {"q1": {"a": 2, "b": 1, "c": 0, "d": 1}, "q2": {"x": 1}, "q3": {"y": 1}}
    run = {"q1": {"c": 9.0, "b": 8.0, "e": 7.0, "a": 6.0}, "q2": {"z": 2.0, "x": 1.0}}
    values = per_query(qrels, run, ("nDCG@10", "R@100", "RR@10"))
    q1_ndcg = dcg([0, 1, 0, 2]) / dcg([2, 1, 1])
    q2_ndcg = dcg([0, 1]) / dcg([1])
    assert values["nDCG@10"]["q1"] == pytest.approx(q1_ndcg)
    assert values["nDCG@10"]["q2"] == pytest.approx(q2_ndcg)
    assert values["nDCG@10"]["q3"] == 0.0
    assert values["R@100"] == {"q1": pytest.approx(2 / 3), "q2": 1.0, "q3": 0.0}
    assert values["RR@10"] == {"q1": 0.5, "q2": 0.5, "q3": 0.0}
    means = aggregate(qrels, run, ("nDCG@10",))
    assert means["nDCG@10"] == pytest.approx((q1_ndcg + q2_ndcg + 0.0) / 3)


def test_ties_are_broken_like_trec_eval():
    # trec_eval orders equal scores by document id, descending: "b" before "a".
    qrels = {"q": {"a": 1}}
    run = {"q": {"a": 1.0, "b": 1.0}}
    assert per_query(qrels, run, ("nDCG@10",))["nDCG@10"]["q"] == pytest.approx(dcg([0, 1]) / dcg([1]))


def test_ndcg_cutoff_ignores_relevant_documents_below_rank_ten():
    qrels = {"q": {"r": 1}}
    run = {"q": {f"n{i}": 100.0 - i for i in range(10)} | {"r": 1.0}}
    values = per_query(qrels, run, ("nDCG@10", "R@100"))
    assert values["nDCG@10"]["q"] == 0.0 and values["R@100"]["q"] == 1.0


def test_trec_run_roundtrip(tmp_path):
    run = {"q1": {"d1": 0.5, "d2": 1.5}, "q2": {"d3": -1.0}}
    write_trec_run(tmp_path / "run.trec", run, tag="test")
    lines = (tmp_path / "run.trec").read_text().splitlines()
    assert lines[0] == "q1 Q0 d2 1 1.500000 test"
    assert read_trec_run(tmp_path / "run.trec") == run
