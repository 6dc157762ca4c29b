"""The scoring stage over a run folder: output contract, resume after a kill, torchrun sharding."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from corpustune.data.atomic import write_jsonl_atomic
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query, ScoredList
from corpustune.layout import RunLayout
from corpustune.mine.config import MineConfig
from corpustune.mine.stage import mine_run
from corpustune.parallel import Context
from corpustune.retrieve.search import DenseSettings
from corpustune.teach import stage
from corpustune.teach.cache import ScoreCache
from corpustune.teach.config import ScoreConfig, TeacherSpec
from corpustune.teach.cross_encoder import CrossEncoderTeacher
from corpustune.teach.scorer import plan_chunks
from corpustune.teach.stage import score_run

ROOT = Path(__file__).resolve().parents[1]
QUERY_TEXTS = {
    "d1": "aspirin heart attack", "d2": "running lung capacity", "d3": "vitamin d winter",
    "d4": "sleep memory children", "d5": "coffee liver disease", "d6": "antibiotics flu virus",
}


@pytest.fixture
def run_folder(tmp_path, tiny_passages, tiny_biencoder_path):
    """A run folder with candidate lists (BM25 + dense mining, all 6 passages per list) and the corpus file."""
    run = tmp_path / "run"
    queries = [Query(f"q{i}", text, type="keywords", source_id=source)
               for i, (source, text) in enumerate(QUERY_TEXTS.items())]
    write_queries(run / "queries" / "queries.jsonl", queries)
    write_qrels(run / "queries" / "qrels" / "train.tsv", {q.id: {q.source_id: 1} for q in queries})
    mine_run(run, tiny_passages, MineConfig(dense=[DenseSettings(model=str(tiny_biencoder_path))], depth=6, list_size=6, filter_top_n=None))
    corpus = tmp_path / "corpus.jsonl"
    write_jsonl_atomic(corpus, (p.to_json() for p in tiny_passages))
    return run, corpus


def read_scores(run: Path) -> list[ScoredList]:
    return [ScoredList.from_json(json.loads(line)) for line in (run / "scores" / "scores.jsonl").read_text().splitlines()]


def test_scores_follow_the_run_folder_contract(run_folder, tiny_passages, tiny_cross_encoder_path):
    run, _ = run_folder
    # fp32 pinned: `auto` would score in bf16 on CPUs with avx512_bf16 and in fp32 elsewhere
    spec = TeacherSpec(kind="cross-encoder", model=str(tiny_cross_encoder_path), precision="fp32")
    config = ScoreConfig(teachers=[spec], require_positive_first=False, top_score_percentile=None, chunk_size=4)
    stats = score_run(run, tiny_passages, config)
    lists = read_scores(run)
    assert len(lists) == stats["kept"] == 6
    # Reference: the teacher on the stage's own chunks (all lists' distinct pairs, cut by plan_chunks).
    # By float rounding a pair's logit depends on the batch it is padded in, and the normalization
    # multiplies that by 1 / (p99 - p1): ~2e4 for this tiny model, whose logits span ~5e-5, so list
    # by list scoring was off by up to 1e-4 in fp32. On the same chunks the logits are the same
    # floats and only float64 rounding of the normalization is left (1e-12 is ~5,000 ulp of a value
    # in [0, 1]), while a wrong pair, percentile or clip is off by far more.
    teacher = CrossEncoderTeacher(str(tiny_cross_encoder_path), precision="fp32")
    by_id = {p.id: p for p in tiny_passages}
    pairs_per_list = [[(QUERY_TEXTS[s.positive_id], by_id[p].full_text()) for p in s.passage_ids] for s in lists]
    distinct = list(dict.fromkeys(pair for pairs in pairs_per_list for pair in pairs))
    logits = {}
    for chunk in plan_chunks(distinct, config.chunk_size):
        logits.update(zip((distinct[i] for i in chunk), teacher.score([distinct[i] for i in chunk]).tolist()))
    raw = [np.array([logits[pair] for pair in pairs]) for pairs in pairs_per_list]  # float32 values, held in float64
    low, high = np.percentile(np.concatenate(raw), [1, 99])
    assert stats["normalization_bounds"] == pytest.approx([low, high], rel=0, abs=1e-12)
    for scored, expected in zip(lists, raw):
        assert scored.passage_ids[0] == scored.positive_id
        normalized = np.clip((expected - low) / (high - low), 0, 1)
        np.testing.assert_allclose(scored.teacher_scores, normalized, rtol=0, atol=1e-12)
        assert len(scored.passage_ids) == 6
    assert stats["scoring"]["scored_pairs"] == 36
    again = score_run(run, tiny_passages, config)  # everything now comes from the cache
    assert again["scoring"]["scored_pairs"] == 0 and again["scoring"]["cached_pairs"] == 36
    assert read_scores(run) == lists


def test_filters_remove_lists_and_report_counts(run_folder, tiny_passages):
    run, _ = run_folder
    stats = score_run(run, tiny_passages, ScoreConfig(teachers=[TeacherSpec(kind="bm25")]))
    kept = read_scores(run)
    assert stats["lists"] == 6
    assert stats["kept"] == len(kept) == 6 - stats["removed_positive_not_first"] - stats["removed_low_top_score"]
    assert stats["removed_low_top_score"] >= 1  # a 25th percentile threshold removes the lowest top score
    for scored in kept:
        assert max(scored.teacher_scores) == scored.teacher_scores[0]
        assert all(0.0 <= s <= 1.0 for s in scored.teacher_scores)


def test_teachers_run_on_the_device_of_their_rank(run_folder, tiny_passages, monkeypatch):
    run, _ = run_folder
    rank_one = Context(local_rank=1, device=torch.device("cuda:1"))  # what rank 1 of a GPU node gets
    monkeypatch.setattr(stage, "init_distributed", lambda: rank_one)
    devices = []
    build = stage.build_teacher

    def recording_build(spec, passages, device=None, embedding_cache=None, **options):
        devices.append(device)
        return build(spec, passages)  # bm25: no model, so no GPU needed

    monkeypatch.setattr(stage, "build_teacher", recording_build)
    score_run(run, tiny_passages, ScoreConfig(teachers=[TeacherSpec(kind="bm25")] * 2))
    assert devices == ["cuda:1", "cuda:1"]


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}


def test_resume_after_kill_loses_no_finished_scores(run_folder, tmp_path, tiny_cross_encoder_path):
    run, corpus = run_folder
    command = [sys.executable, str(ROOT / "tests" / "score_worker.py"), str(run), str(corpus), str(tiny_cross_encoder_path)]
    killed = subprocess.run(command + ["5"], env=worker_env(), capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    finished = ScoreCache(RunLayout(run).score_cache).load()
    assert len(finished) == 5 * 3  # five chunks of three pairs were durable before the kill
    resumed = subprocess.run(command + ["0"], env=worker_env(), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    scored, cached = map(int, resumed.stdout.split()[-2:])
    assert (scored, cached) == (36 - 15, 15)
    after = ScoreCache(RunLayout(run).score_cache).load()
    assert all(after[k] == v for k, v in finished.items())
    # the same scores as one uninterrupted run of a fresh folder
    fresh = tmp_path / "fresh"
    (fresh / "queries").mkdir(parents=True)
    for name in ("queries", "candidates"):
        subprocess.run(["cp", "-r", str(run / name), str(fresh)], check=True)
    complete = subprocess.run(command[:2] + [str(fresh)] + command[3:] + ["0"], env=worker_env(), capture_output=True,
                              text=True, timeout=600)
    assert complete.returncode == 0, complete.stderr[-2000:]
    assert read_scores(fresh) == read_scores(run)


def test_torchrun_two_processes_give_exactly_the_scores_of_one(run_folder, tmp_path, tiny_cross_encoder_path):
    run, corpus = run_folder
    sharded = tmp_path / "sharded"
    (sharded / "queries").mkdir(parents=True)
    for name in ("queries", "candidates"):
        subprocess.run(["cp", "-r", str(run / name), str(sharded)], check=True)
    arguments = ["score", "--data", str(corpus), "--teacher", f"cross-encoder:{tiny_cross_encoder_path}",
                 "--max-length", "128", "--chunk-size", "3", "--no-positive-filter", "--top-percentile", "-1"]
    single = subprocess.run([sys.executable, "-m", "corpustune", *arguments, "--run", str(run)],
                            env=worker_env(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    two = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "corpustune", *arguments, "--run-folder", str(sharded)],
        env=worker_env(), capture_output=True, text=True, timeout=600,
    )
    assert two.returncode == 0, two.stderr[-3000:]
    assert sorted(p.name for p in RunLayout(sharded).score_cache.iterdir()) == ["part-0.jsonl", "part-1.jsonl"]
    assert ScoreCache(RunLayout(sharded).score_cache).load() == ScoreCache(RunLayout(run).score_cache).load()
    assert (sharded / "scores" / "scores.jsonl").read_bytes() == (run / "scores" / "scores.jsonl").read_bytes()
