"""benchmarks/scale.py: its synthetic corpus follows the length distribution asked for, and one
tiny size runs end to end (mining and selection in child processes) printing the lines it promises."""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.tiny_models import build_tokenizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import scale  # noqa: E402


def test_lengths_follow_the_requested_lognormal_and_queries_are_spans():
    params = scale.CorpusParams(passages=20000, queries=50, seed=3, length_mu=4.0, length_sigma=0.5,
                                vocabulary=3000, zipf=1.0)
    records = list(scale.synthetic_records(params))
    logs = np.log([len(passage["text"].split()) for passage, _ in records])
    n = len(logs)
    # Standard errors of a normal sample's mean (sigma / sqrt(n)) and standard deviation
    # (sigma / sqrt(2 (n - 1))); 4 of them leave a false alarm about once in 16,000 seeds. Rounding to
    # whole words moves ln(words) by at most 1 / (2 x 20) for the few passages under 20 words.
    assert abs(logs.mean() - 4.0) < 4 * 0.5 / math.sqrt(n) + 0.005
    assert abs(logs.std() - 0.5) < 4 * 0.5 / math.sqrt(2 * (n - 1)) + 0.005
    queries = [(passage, query) for passage, query in records if query is not None]
    assert len(queries) == 50 and len({q["_id"] for _, q in queries}) == 50
    for passage, query in queries:
        assert query["passage"] == passage["_id"]
        words = query["text"].split()
        assert 1 <= len(words) <= 8 and f" {query['text']} " in f" {passage['text']} "
    assert list(scale.synthetic_records(params)) == records  # deterministic in its parameters


def test_zipf_vocabulary_ranks_follow_the_exponent():
    cdf = scale.zipf_cdf(1000, 1.0)
    harmonic = sum(1 / r for r in range(1, 1001))
    assert cdf[0] == pytest.approx(1 / harmonic) and cdf[1] - cdf[0] == pytest.approx(0.5 / harmonic)
    assert len(set(scale.vocabulary(1000, 0))) == 1000


@pytest.mark.slow  # two child processes import torch and sentence-transformers: about a minute on 2 busy cores
def test_a_tiny_size_runs_end_to_end_and_prints_its_lines(tmp_path):
    words = scale.vocabulary(500, 13)
    tokenizer = tmp_path / "tokenizer"
    build_tokenizer(words, max_length=64).save_pretrained(tokenizer)
    command = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--passages", "300", "--queries", "12",
               "--lognormal", "3.0,0.4", "--vocabulary", "500", "--tokenizer", str(tokenizer), "--out", str(tmp_path)]
    output = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    lines = output.splitlines()
    assert lines[0].startswith("cpu: ") and "flags:" in lines[0]
    for stage in ("mine", "select"):
        assert re.search(rf"^  stage={stage} N=300 seconds=\d+\.\d peak_rss_gb=\d+\.\d\d result=\{{", output, re.M)
    assert re.search(r"^peak_rss_gb\[300\]=\d+\.\d\d$", output, re.M)
    assert lines[-1] == "ratio[per-passage-1M-vs-100k]=n/a (needs sizes 100000 and 1000000)"
    mined = json.loads(re.search(r"stage=mine .* result=(\{.*\})", output).group(1))
    assert mined["queries"] == 12
    corpus = next((tmp_path / "corpora").iterdir())
    assert sum(1 for _ in open(corpus / "corpus.jsonl")) == 300
    again = subprocess.run(command + ["--stages", ""], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert f"corpus {corpus} (reused" in again  # content-addressed: the same parameters reuse the folder


def test_per_passage_ratio_divides_seconds_per_passage():
    assert scale.per_passage_ratio({100_000: 10.0, 1_000_000: 150.0}) == "1.500"
    assert scale.per_passage_ratio({100_000: 10.0}).startswith("n/a")
