"""Candidate mining: fusion, the retriever filter, held-out exclusion, the stage over a run folder."""

from __future__ import annotations

import json

import torch

from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import CandidateList, Query
from corpustune.mine import stage
from corpustune.mine.candidates import MineStats, build_lists
from corpustune.mine.config import MineConfig
from corpustune.mine.stage import mine_run
from corpustune.parallel import Context
from corpustune.retrieve.search import DenseSettings

RUNS = {
    "bm25": {"q1": {"a": 9.0, "b": 8.0, "c": 7.0, "h": 6.0}, "q2": {"x": 3.0, "y": 2.0, "z": 1.0}},
    "dense": {"q1": {"c": 0.9, "a": 0.8, "d": 0.7}, "q2": {"y": 0.5, "x": 0.4}},
}
QUERIES = [Query("q1", "one", source_id="c"), Query("q2", "two", source_id="z"), Query("q3", "three")]


def test_lists_fuse_by_rrf_with_positive_first_and_ranks_per_retriever():
    stats = MineStats()
    lists = build_lists(QUERIES, RUNS, MineConfig(rrf_k=60, list_size=4, filter_top_n=None), stats=stats)
    first = lists[0]
    assert first.query_id == "q1" and first.positive_id == "c"
    ids = [c.passage_id for c in first.candidates]
    # RRF: a = 1/61 + 1/62, c = 1/63 + 1/61, b = 1/62, h = 1/64, d = 1/63 -> after c: a, b, d
    assert ids == ["c", "a", "b", "d"]
    positive = first.candidates[0]
    assert positive.ranks == {"bm25": 3, "dense": 1}
    assert positive.scores == {"bm25": 7.0, "dense": 0.9}
    assert positive.fused_score == 1 / 63 + 1 / 61
    assert first.candidates[3].ranks == {"dense": 3}
    assert stats.dropped_no_source == 1 and stats.kept == 2


def test_retriever_filter_keeps_queries_whose_source_is_in_some_top_n():
    stats = MineStats()
    lists = build_lists(QUERIES, RUNS, MineConfig(filter_top_n=2, list_size=4), stats=stats)
    # q1's source c: bm25 rank 3, dense rank 1 -> kept; q2's source z: bm25 rank 3, not in dense -> dropped
    assert [c.query_id for c in lists] == ["q1"]
    assert stats.dropped_retriever_filter == 1


def test_heldout_passages_never_enter_lists_and_their_queries_are_dropped():
    stats = MineStats()
    queries = QUERIES + [Query("q4", "four", source_id="h")]
    runs = {**RUNS, "bm25": {**RUNS["bm25"], "q4": {"h": 1.0, "a": 0.5}}}
    lists = build_lists(queries, runs, MineConfig(filter_top_n=None, list_size=10), heldout={"h"}, stats=stats)
    assert all(c.passage_id != "h" for lst in lists for c in lst.candidates)
    assert [c.query_id for c in lists] == ["q1", "q2"]
    assert stats.heldout_candidates_removed == 1
    assert stats.dropped_source_heldout == 1
    assert stats.short_lists == 2


def write_run_folder(run, queries, train, heldout):
    write_queries(run / "queries" / "queries.jsonl", queries)
    write_qrels(run / "queries" / "qrels" / "train.tsv", {q: {s: 1} for q, s in train.items()})
    write_qrels(run / "queries" / "qrels" / "heldout.tsv", {q: {s: 1} for q, s in heldout.items()})


def test_mine_stage_writes_lists_for_training_queries_only(tmp_path, tiny_passages, tiny_biencoder_path):
    queries = [
        Query("t1", "aspirin heart attack risk", type="question", source_id="d1"),
        Query("t2", "coffee liver disease", type="keywords", source_id="d5"),
        Query("h1", "vitamin d winter", type="claim", source_id="d3"),
    ]
    write_run_folder(tmp_path, queries, {"t1": "d1", "t2": "d5"}, {"h1": "d3"})
    config = MineConfig(dense=[DenseSettings(model=str(tiny_biencoder_path))], depth=6, list_size=6, filter_top_n=3)
    stats = mine_run(tmp_path, tiny_passages, config)
    lines = (tmp_path / "candidates" / "candidates.jsonl").read_text().splitlines()
    lists = [CandidateList.from_json(json.loads(line)) for line in lines]
    assert [c.query_id for c in lists] == ["t1", "t2"]
    for candidate_list in lists:
        ids = [c.passage_id for c in candidate_list.candidates]
        # the dense model returns all 6 passages, so every list holds all but the held-out d3
        assert ids[0] == candidate_list.positive_id and sorted(ids) == ["d1", "d2", "d4", "d5", "d6"]
        assert "d3" not in ids
    saved = json.loads((tmp_path / "candidates" / "stats.json").read_text())
    assert saved["kept"] == stats.kept == 2 and saved["heldout_passages"] == 1
    assert saved["heldout_candidates_removed"] == 2 and saved["short_lists"] == 2
    assert saved["retrievers"] == ["bm25", f"dense:{tiny_biencoder_path}"]


def test_dense_retrievers_run_on_the_device_of_their_rank(tmp_path, tiny_passages, tiny_biencoder_path, monkeypatch):
    from corpustune.retrieve import search

    rank_one = Context(local_rank=1, device=torch.device("cuda:1"))  # what rank 1 of a GPU node gets
    monkeypatch.setattr(stage, "init_distributed", lambda: rank_one)
    devices = []
    load = search.load_encoder

    def recording_load(name, *, device=None, **options):
        devices.append(device)
        return load(name, device="cpu", **options)  # no GPU here

    monkeypatch.setattr(search, "load_encoder", recording_load)
    write_run_folder(tmp_path, [Query("t1", "aspirin heart attack risk", source_id="d1")], {"t1": "d1"}, {})
    mine_run(tmp_path, tiny_passages, MineConfig(dense=[DenseSettings(model=str(tiny_biencoder_path))], depth=6,
                                                 list_size=6, filter_top_n=None))
    assert devices == ["cuda:1"]
