"""Encoding a corpus under torchrun: two gloo ranks each encode a contiguous half of the corpus into
one shared cache entry, bitwise the one a single process writes, and mine the same lists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query
from tests.mine_worker import PASSAGE_PROMPT, sharding_corpus

WORKER = Path(__file__).with_name("mine_worker.py")
ROOT = Path(__file__).resolve().parents[1]
# three words each, so every query has the same token count: a rank encodes half of them, and
# batches of equal-length texts hold no padding whose width could change a vector's rounding
QUERIES = ["aspirin heart attack", "running lungs mood", "vitamin d winter", "sleep memory children",
           "coffee liver disease", "antibiotics flu virus", "heart running adults", "winter sleep memory"]


def _run_folder(run: Path) -> None:
    queries = [Query(f"q{i}", text, type="keywords", source_id=f"p{i * 3 % 22}") for i, text in enumerate(QUERIES)]
    write_queries(run / "queries" / "queries.jsonl", queries)
    write_qrels(run / "queries" / "qrels" / "train.tsv", {q.id: {q.source_id: 1} for q in queries})


def _mine(model: Path, run: Path, cache: Path, ranks: int) -> None:
    _run_folder(run)
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(ranks)] if ranks > 1 else []
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run([sys.executable, *launcher, str(WORKER), str(model), str(run), str(cache)], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def _distinct_texts(rows: range) -> list[str]:
    """The texts of `rows` whose first occurrence in the corpus is in `rows`, in row order."""
    texts = [p.text for p in sharding_corpus()]
    return [texts[i] for i in rows if texts.index(texts[i]) == i]


def test_two_ranks_encode_half_the_corpus_each_into_the_cache_one_process_writes(tiny_biencoder_path, tmp_path):
    _mine(tiny_biencoder_path, tmp_path / "one", tmp_path / "cache-one", ranks=1)
    _mine(tiny_biencoder_path, tmp_path / "two", tmp_path / "cache-two", ranks=2)

    # 6 blocks of 4 rows: rank 0 takes blocks 0-2 (rows 0-11), rank 1 blocks 3-5 (rows 12-21); a
    # repeated text is encoded only where it first occurs
    def encoded(run: Path, rank: int) -> list[str]:
        return json.loads((run / f"encoded-{rank}.json").read_text())

    assert sorted(encoded(tmp_path / "two", 0)) == sorted(_distinct_texts(range(0, 12)))
    assert sorted(encoded(tmp_path / "two", 1)) == sorted(_distinct_texts(range(12, 22)))
    assert sorted(encoded(tmp_path / "one", 0)) == sorted(_distinct_texts(range(22)))
    halves = len(encoded(tmp_path / "two", 0)) + len(encoded(tmp_path / "two", 1))
    assert halves == len(_distinct_texts(range(22))) == 17  # each distinct text once, by one rank

    [one] = sorted((tmp_path / "cache-one").glob("*.npy"))
    [two] = sorted((tmp_path / "cache-two").glob("*.npy"))
    assert one.name == two.name  # the same request
    single, sharded = np.load(one), np.load(two)
    # a row's vector depends only on its block (the batches are cut within a block), so each rank
    # computes exactly the floats the single process did: bitwise equal
    assert np.array_equal(single, sharded)
    texts = [p.text for p in sharding_corpus()]
    reference = SentenceTransformer(str(tiny_biencoder_path), device="cpu").encode(texts, prompt=PASSAGE_PROMPT)
    np.testing.assert_allclose(sharded, reference, rtol=0, atol=1e-5)  # independent of our encoder
    for repeat, first in ((12, 0), (13, 1), (16, 4), (18, 14), (20, 8)):
        assert np.array_equal(sharded[repeat], sharded[first])

    lists = (tmp_path / "one" / "candidates" / "candidates.jsonl").read_bytes()
    assert lists.count(b"\n") == len(QUERIES)
    assert (tmp_path / "two" / "candidates" / "candidates.jsonl").read_bytes() == lists
    assert not [p.name for p in (tmp_path / "cache-two").iterdir() if p.name.endswith(".tmp")]
