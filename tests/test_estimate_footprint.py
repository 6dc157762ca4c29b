"""The dry run's memory and disk estimates (corpustune.estimate.footprint) against hand-computed
figures, and its warning when a run would not fit."""

from __future__ import annotations

import tracemalloc

import pytest

from corpustune.config import RunConfig
from corpustune.data.records import Passage
from corpustune.estimate.calibrate import EncoderRate, Rates
from corpustune.estimate.footprint import (CorpusMeasure, ModelSize, corpus_encodings, estimate_footprint,
                                           fit_warnings, free_disk, measure_corpus)
from corpustune.estimate.workload import Workload

STAGES = {"generate", "mine", "score", "train", "ablation", "select", "evaluate", "report"}
CONFIG = RunConfig(data={"path": "c.jsonl"}, generate={"max_passages": 10},
                   mine={"dense": [{"model": "m"}], "list_size": 4}, score={"teachers": [{"kind": "bm25"}]},
                   train={"model": "m", "loss": "combined"}, ablation=("infonce",))
WORK = Workload(passages=1000, sampled=10, heldout_passages=2, types=2, calls=20, calls_pending=20,
                pending_passages=[], train_queries=16, heldout_queries=4, lists=16, pairs=64, kept_lists=15,
                training_lists=12, dev_lists=3, steps_per_epoch=3, epochs=1)
CORPUS = CorpusMeasure(passages=1000, resident_bytes=500_000, words_per_passage=50, distinct_words_per_passage=40)
MODELS = {"m@default:auto": ModelSize(dimension=32, parameter_bytes=1_000_000)}


def test_memory_is_the_largest_stage_by_hand():
    footprint = estimate_footprint(CONFIG, WORK, CORPUS, MODELS, STAGES, {"m@default:auto": 3})
    # each stage: the runtime (700,000,000) and the corpus (500,000), and
    # mine: 1,000 x 32 x 4 embeddings + 1,000,000 model + BM25 (1,000 x 40 terms x 8 + 1,000 x 50 tokens
    # x 8) + the tokenized corpus (1,000 x 50 words x 450) + a search block of 16 queries x 1,000 x 4
    # = 24,412,000; train: 4 x 1,000,000 = 4,000,000; select: 2 x 128,000 + 3 x 1,000,000 + 4 x 4,000
    # + 22,500,000 = 25,772,000
    assert footprint.memory_stage == "select"
    assert footprint.peak_memory == 726_272_000
    mine = estimate_footprint(CONFIG, WORK, CORPUS, MODELS, {"mine"}, {})
    assert mine.memory == {"runtime": 700_000_000, "corpus": 500_000, "embeddings m": 128_000,
                           "models": 1_000_000, "BM25 index": 720_000, "corpus tokenization": 22_500_000,
                           "search block": 64_000}
    train = estimate_footprint(CONFIG, WORK, CORPUS, MODELS, {"train"}, {})
    assert train.memory == {"runtime": 700_000_000, "corpus": 500_000, "student training state": 4_000_000}


def test_disk_items_by_hand():
    disk = estimate_footprint(CONFIG, WORK, CORPUS, MODELS, STAGES, {"m@default:auto": 3}).disk
    assert disk["embedding cache"] == 3 * 1000 * 32 * 4
    assert disk["BM25 index"] == 1000 * 40 * 8
    assert disk["generated queries"] == pytest.approx(20 * 461.5, abs=2)  # 462 bytes per call
    assert disk["candidate lists"] == pytest.approx(16 * 4 * 176.25, abs=2)  # 2 retrievers
    assert disk["teacher scores"] == pytest.approx(15 * 4 * 43.05 + 64 * 91.53, abs=2)
    # the main arm and the infonce ablation arm (5.0 x the model each), the published model
    assert disk["trained models"] == pytest.approx(2 * 4.965 * 1_000_000 + 1_000_000, rel=1e-3)
    nothing_runs = estimate_footprint(CONFIG, WORK, CORPUS, MODELS, {"report"}, {})
    assert nothing_runs.disk == {} and nothing_runs.memory_stage == "none"


def test_corpus_encodings_count_what_the_cache_lacks():
    rates = Rates(encoders={"m@default:auto": EncoderRate(0.0, 0.0, 0.0, MODELS["m@default:auto"])})
    # mining encodes with m; select's base is that encoding, then 4 other weights (0.25 .. 1); evaluate:
    # the infonce arm once
    assert corpus_encodings(CONFIG, WORK, rates, STAGES) == {"m@default:auto": 6}
    rates.encoders["m@default:auto"].cached_prompts.add("")
    assert corpus_encodings(CONFIG, WORK, rates, STAGES) == {"m@default:auto": 5}
    assert corpus_encodings(CONFIG, WORK, rates, {"report"}) == {}


def test_a_run_that_does_not_fit_is_warned_about(tmp_path):
    footprint = estimate_footprint(CONFIG, WORK, CORPUS, MODELS, STAGES, {"m@default:auto": 3})
    # peak 726,272,000 bytes in select; disk 384,000 + 320,000 + ... + 10,930,000 bytes
    assert fit_warnings(footprint, memory_limit=10**9, disk_limit=10**9, out=tmp_path) == []
    assert fit_warnings(footprint, memory_limit=None, disk_limit=None, out=tmp_path) == []
    memory, disk = fit_warnings(footprint, memory_limit=500_000_000, disk_limit=1_000_000, out=tmp_path)
    assert memory.startswith("the select stage needs about 0.7 GB of memory (runtime 0.70 GB, corpus tokenization "
                             "0.02 GB) but 0.5 GB is available")
    assert f"under {tmp_path}" in disk and "trained models" in disk and "0.0 GB is free there" in disk


def test_measure_corpus_matches_the_allocations_of_the_passages():
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        passages = [Passage(f"doc-{i}", f"word{i} " * (i % 50 + 1), f"title {i}") for i in range(2000)]
        allocated = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    measured = measure_corpus(iter(passages), passages[:2])
    assert measured.passages == 2000
    # the list of 2,000 slots is not counted: 8 bytes a passage
    assert measured.resident_bytes == pytest.approx(allocated - 8 * 2000, rel=0.05)
    # "title 0 word0" and "title 1 word1 word1": 3 and 4 words, 3 and 3 distinct
    assert (measured.words_per_passage, measured.distinct_words_per_passage) == (3.5, 3.0)


def test_free_disk_of_a_folder_not_made_yet(tmp_path):
    assert free_disk(tmp_path / "run" / "not" / "yet") == free_disk(tmp_path) > 0


def test_the_embedding_cache_check_streams_the_corpus(tiny_biencoder_path):
    # 1,000 passages with titles (full_text() makes a new string of each): 10 MB of text. A list of
    # the texts for the cache key would allocate as much again; streaming them, a few passages' worth.
    from corpustune.estimate.calibrate import _corpus_cached
    from corpustune.retrieve.encode import EmbeddingCache, load_encoder

    model = load_encoder(str(tiny_biencoder_path), device="cpu")
    passages = [Passage(f"d{i}", f"aspirin heart {i} " * 600, "Title") for i in range(1000)]
    expected = EmbeddingCache().path(model, [p.full_text() for p in passages])
    tracemalloc.start()
    try:
        cached = _corpus_cached(model, passages, "", False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cached is expected.exists()
    text_bytes = sum(len(p.text) for p in passages)
    assert peak < text_bytes / 10, f"the cache check allocated {peak:,} bytes for {text_bytes:,} bytes of text"
