"""`corpustune train` end to end on a tiny run folder, plus the run-folder checks and data splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from corpustune.cli import app
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from corpustune.train.batching import load_scored_examples, make_batch, split_by_source
from tests.conftest import TINY_PASSAGES
from tests.train_fixtures import (
    QUERIES,
    one_thread,  # noqa: F401  (fixture used by pytestmark)
    tiny_examples,
    tiny_passage_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def make_run(root: Path, examples=None) -> tuple[Path, Path]:
    """A run folder with queries and scored lists, and a BEIR corpus with human train qrels."""
    run, data = root / "run", root / "data"
    examples = examples or tiny_examples()
    types = ["question", "keywords"]
    write_queries(run / "queries" / "queries.jsonl",
                  [Query(q, text, types[n % 2], source) for n, (q, text, source) in enumerate(QUERIES)])
    (run / "scores").mkdir(parents=True)
    (run / "scores" / "scores.jsonl").write_text("".join(
        json.dumps({"query_id": e.query_id, "positive_id": e.passage_ids[0], "passage_ids": list(e.passage_ids),
                    "scores": list(e.teacher_scores)}) + "\n" for e in examples))
    data.mkdir()
    (data / "corpus.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in TINY_PASSAGES))
    write_queries(data / "queries.jsonl", [Query(q, text) for q, text, _ in QUERIES])
    write_qrels(data / "qrels" / "train.tsv", {q: {source: 1} for q, _, source in QUERIES})
    return run, data


def test_train_command_writes_a_loadable_model_with_prompts(tiny_biencoder_path, tmp_path):
    from sentence_transformers import SentenceTransformer

    run, data = make_run(tmp_path)
    result = CliRunner().invoke(app, [
        "train", "--run", str(run), "--data", str(data), "--model", str(tiny_biencoder_path), "--epochs", "2",
        "--loss", "combined",
        "--queries-per-step", "4", "--list-size", "3", "--learning-rate", "1e-3",
        "--query-prompt", "query ", "--passage-prompt", "passage ", "--query-max-tokens", "16",
        "--passage-max-tokens", "24",
    ])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "8 training and 2 dev queries" in result.output  # 10 queries over 6 sources: 1 source to dev
    model = SentenceTransformer(str(RunLayout(run).arm_dirs("combined", main=True)[1]), device="cpu")
    assert model.prompts == {"query": "query ", "document": "passage "}
    card = (RunLayout(run).arm_dirs("combined", main=True)[1] / "README.md").read_text()
    assert "listwise" in card and '"list_size": 3' in card and "training queries | 8" in card
    base = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    text = ["aspirin heart"]
    assert not np.allclose(model.encode(text), base.encode(text))
    log = [json.loads(line) for line in (RunLayout(run).train_dir / "combined" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]  # 8 queries, 4 per step, 2 epochs
    assert all(r["distinct_passages"] <= r["passage_slots"] for r in log if "loss" in r)


def test_human_qrels_baseline_trains_infonce_only(tiny_biencoder_path, tmp_path):
    run, data = make_run(tmp_path)
    args = ["train", "--run", str(run), "--data", str(data), "--model", str(tiny_biencoder_path),
            "--human-split", "train", "--epochs", "1", "--queries-per-step", "5", "--passage-max-tokens", "32"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    log = [json.loads(line) for line in (RunLayout(run).human_baseline_dir("train") / "log.jsonl").read_text().splitlines()]
    assert all(r["listwise"] is None and r["infonce"] > 0 for r in log if "loss" in r)
    result = CliRunner().invoke(app, args + ["--loss", "listwise"])
    assert result.exit_code == 2 and "use --loss infonce with --human-split" in result.stderr


def test_run_folder_errors_name_the_line(tmp_path):
    examples = tiny_examples()
    run, _ = make_run(tmp_path)
    write_qrels(run / "queries" / "qrels" / "heldout.tsv", {"hq": {examples[2].passage_ids[1]: 1}})
    with pytest.raises(InputError, match=r"scores.jsonl: line 1: held-out passages"):
        load_scored_examples(run, tiny_passage_map(), 20)
    (run / "queries" / "qrels" / "heldout.tsv").unlink()
    passages = tiny_passage_map()
    del passages["d6"]
    with pytest.raises(InputError, match=r"line \d+: passage ids \['d6'\] are not in the corpus"):
        load_scored_examples(run, passages, 20)
    loaded, report = load_scored_examples(run, tiny_passage_map(), 3)
    assert len(loaded) == 10 and report.truncated == 10 and all(len(e.passage_ids) == 3 for e in loaded)
    assert loaded[0].group == "d1"


def test_dev_split_keeps_each_source_on_one_side():
    train, dev = split_by_source(tiny_examples(), 0.34, seed=1)
    assert {e.group for e in train}.isdisjoint({e.group for e in dev})
    assert len({e.group for e in dev}) == 3 and len(train) + len(dev) == 10


def test_batch_encodes_each_distinct_passage_once():
    batch = make_batch(tiny_examples())
    assert sorted(batch.passage_ids) == ["d1", "d2", "d3", "d4", "d5", "d6"]
    ids = np.array(batch.passage_ids)
    for q, example in enumerate(tiny_examples()):
        assert list(ids[batch.list_index[q].numpy()]) == list(example.passage_ids)
