"""One run-folder contract for every command: what a change of the corpus reruns, and stage
commands that `corpustune run` continues from. Queries come from a scripted OpenAI-compatible
server on 127.0.0.1; mining, teaching and training use tiny in-code models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpustune.cli import app
from corpustune.data.atomic import read_jsonl_log
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query
from corpustune.layout import RunLayout
from corpustune.pipeline import read_timings
from tests.conftest import TINY_PASSAGES
from tests.llm_server import ScriptedServer
from tests.train_fixtures import one_thread  # noqa: F401  (fixture used by pytestmark)

pytestmark = pytest.mark.usefixtures("one_thread")
TYPES = ["question", "keywords"]


def write_corpus(folder: Path, edited: str | None = None) -> Path:
    """A BEIR folder whose passage text is in the field `body` (not the default `text`); the
    field `text` holds other words, so reading the wrong field gives other passages."""
    records = [{"_id": p.id, "title": p.title, "body": p.text + (" (revised)" if p.id == edited else ""),
                "text": f"placeholder {p.id}"} for p in TINY_PASSAGES]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    # words of the bodies only (not of the titles), so reading the wrong field cannot find them
    write_queries(folder / "queries.jsonl", [Query("h1", "adults over fifty"), Query("h2", "consumption linked")])
    write_qrels(folder / "qrels" / "test.tsv", {"h1": {"d1": 1}, "h2": {"d5": 1}})
    return folder


@pytest.fixture
def tiny_config(tmp_path, tiny_biencoder_path):
    def make(server: ScriptedServer) -> Path:
        model = str(tiny_biencoder_path)
        config = {
            "generate": {"backend": {"name": "openai", "model": "scripted", "base_url": server.base_url,
                                     "max_concurrency": 2},
                         "types": TYPES, "max_passages": None, "heldout_count": 1, "few_shot_count": 1,
                         "default_count": 1},  # one request per passage and type (the laptop preset asks 3)
            "mine": {"dense": [{"model": model}], "depth": 6, "list_size": 4, "filter_top_n": None},
            "score": {"teachers": [{"kind": "bm25"}], "require_positive_first": False, "top_score_percentile": None},
            "train": {"model": model, "loss": "combined", "list_size": 4, "queries_per_step": 4, "epochs": 1,
                      "query_max_tokens": 16, "passage_max_tokens": 32, "dev_fraction": 0.2},
        }
        path = tmp_path / "tiny.yaml"
        path.write_text(json.dumps(config))
        return path
    return make


def invoke(*arguments: str) -> str:
    result = CliRunner().invoke(app, list(arguments))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def statuses(run: Path) -> dict[str, str]:
    return {entry["stage"]: entry["status"] for entry in read_timings(run)["stages"]}


def scoring(run: Path) -> dict[str, int]:
    return json.loads(RunLayout(run).scores_stats.read_text())["scoring"]


def test_a_corpus_change_reruns_what_depends_on_it_and_only_the_edited_passage_is_regenerated(tmp_path, tiny_config):
    data, run = write_corpus(tmp_path / "data"), tmp_path / "run"
    with ScriptedServer() as server:
        base = ["run", "--data", str(data), "--out", str(run), "--config", str(tiny_config(server))]
        invoke(*base, "--set", "data.text_field=body")
        assert set(statuses(run).values()) == {"done"}
        assert server.requests == len(TINY_PASSAGES) * len(TYPES)
        pairs = scoring(run)["scored_pairs"]
        assert pairs > 0 and scoring(run)["cached_pairs"] == 0

        # a filter setting changes nothing the teacher computes: every score comes from the cache
        invoke(*base, "--set", "data.text_field=body", "--set", "score.top_score_percentile=10")
        assert statuses(run)["generate"] == statuses(run)["mine"] == "skipped"
        assert (scoring(run)["scored_pairs"], scoring(run)["cached_pairs"]) == (0, pairs)

        # another reading setting gives other passages: generation and every later stage rerun
        requests = server.requests
        invoke(*base, "--set", "data.text_field=text", "--set", "score.top_score_percentile=10")
        assert set(statuses(run).values()) == {"done"}
        assert server.requests - requests == len(TINY_PASSAGES) * len(TYPES)

        # one edited passage: only its queries are generated again, and BM25 (whose document
        # frequencies changed) scores every pair anew instead of reusing the old statistics
        write_corpus(data, edited="d3")
        requests = server.requests
        invoke(*base, "--set", "data.text_field=body", "--set", "score.top_score_percentile=10")
        assert set(statuses(run).values()) == {"done"}
        assert server.requests - requests == len(TYPES)
        assert scoring(run)["cached_pairs"] == 0 and scoring(run)["scored_pairs"] > 0
    regenerated = [r for r in read_jsonl_log(RunLayout(run).generation_log)][-len(TYPES):]
    assert {r["passage_id"] for r in regenerated} == {"d3"}


def test_stage_commands_take_the_corpus_options_and_run_continues_without_retraining(tmp_path, tiny_config):
    data, run = write_corpus(tmp_path / "data"), tmp_path / "run"
    with ScriptedServer() as server:
        settings = ["--data", str(data), "--out", str(run), "--config", str(tiny_config(server)), "--text-field", "body"]
        for stage in ("generate", "mine", "score", "train"):
            invoke(stage, *settings)
        layout = RunLayout(run)
        tuned = layout.arm_dirs("combined", main=True)[1] / "model.safetensors"
        assert (layout.train_dir / "combined" / "state.json").exists() and tuned.exists()
        trained = tuned.read_bytes()
        requests = server.requests
        output = invoke("run", *settings)
        assert server.requests == requests
    assert statuses(run) == {"generate": "skipped", "mine": "skipped", "score": "skipped", "train": "skipped",
                             "ablation": "done", "select": "done", "evaluate": "done", "report": "done"}, output
    assert tuned.read_bytes() == trained and (layout.model_dir / "model.safetensors").exists()
    results = json.loads(layout.eval_results.read_text())
    assert results["sets"][0]["name"] == "data test" and results["sets"][0]["num_queries"] == 2
    # evaluate reads the same corpus options; without them the corpus has other texts
    evaluated = invoke("evaluate", "--data", str(data), "--text-field", "body", "--retriever", "bm25",
                       "--out", str(tmp_path / "bm25.json"))
    assert "bm25" in evaluated
    body = json.loads((tmp_path / "bm25.json").read_text())["metrics"]["nDCG@10"]
    invoke("evaluate", "--data", str(data), "--retriever", "bm25", "--out", str(tmp_path / "text.json"))
    assert body == 1.0 and json.loads((tmp_path / "text.json").read_text())["metrics"]["nDCG@10"] < 1.0
