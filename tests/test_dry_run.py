"""`corpustune run --dry-run`: the stages with what each would do and reuse, their work, a time
estimate from a short calibration, and nothing written to the run folder. Queries come from a
scripted OpenAI-compatible server; mining, teaching and training use tiny in-code models."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpustune.cli import app
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query
from corpustune.pipeline.runner import Pipeline, Stage, StageResult
from tests.conftest import TINY_PASSAGES
from tests.llm_server import ScriptedServer
from tests.train_fixtures import one_thread  # noqa: F401  (fixture used by pytestmark)

pytestmark = pytest.mark.usefixtures("one_thread")
STAGES = ("generate", "mine", "score", "train", "ablation", "select", "evaluate", "report")


def write_corpus(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(p.to_json()) + "\n" for p in TINY_PASSAGES))
    write_queries(folder / "queries.jsonl", [Query("h1", "aspirin heart"), Query("h2", "coffee liver")])
    write_qrels(folder / "qrels" / "test.tsv", {"h1": {"d1": 1}, "h2": {"d5": 1}})
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def table(output: str) -> dict[str, list[str]]:
    """Stage name -> the cells of its row (split on runs of 2+ spaces)."""
    import re

    rows = {}
    for line in output.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] in STAGES and len(cells) >= 4:
            rows[cells[0]] = cells
    return rows


def invoke(*arguments: str) -> str:
    result = CliRunner().invoke(app, list(arguments))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_dry_run_plans_counts_and_estimates_without_writing(tmp_path, tiny_biencoder_path):
    data, run = write_corpus(tmp_path / "data"), tmp_path / "run"
    model = str(tiny_biencoder_path)
    with ScriptedServer() as server:
        config = {
            "generate": {"backend": {"name": "openai", "model": "scripted", "base_url": server.base_url},
                         "types": ["question", "keywords"], "max_passages": None, "heldout_count": 1,
                         "few_shot_count": 1, "default_count": 1},  # one request per passage and type
            "mine": {"dense": [{"model": model}], "depth": 6, "list_size": 4, "filter_top_n": None},
            "score": {"teachers": [{"kind": "bm25"}, {"kind": "biencoder", "model": model, "max_length": 32}],
                      "require_positive_first": False, "top_score_percentile": None},
            "train": {"model": model, "loss": "combined", "list_size": 4, "queries_per_step": 4, "epochs": 2,
                      "query_max_tokens": 16, "passage_max_tokens": 32, "dev_fraction": 0.2},
            "select": {"weights": [0.0, 0.5, 1.0]},
        }
        (tmp_path / "tiny.yaml").write_text(json.dumps(config))
        arguments = ["run", "--data", str(data), "--out", str(run), "--config", str(tmp_path / "tiny.yaml")]

        output = invoke(*arguments, "--dry-run")
        assert not run.exists(), "a dry run must not make the run folder"
        assert server.requests == 2, "the calibration generates for one passage, each type once"
        rows = table(output)
        assert list(rows) == list(STAGES) and {row[1] for row in rows.values()} == {"run"}
        assert "6 of 6 passages (1 held out) x 2 types: 12 calls" in rows["generate"][3]
        assert "3 interpolation weights (0, 0.5, 1)" in rows["select"][3]
        assert "2 epochs x" in rows["train"][3] and "total: about" in output and "calibration:" in output
        assert re.search(r"^memory: about \d+\.\d\d GB at peak, in (mine|train|select|evaluate) \(.*corpus \d+\.\d\d GB"
                         r".*\); available now: (\d+\.\d GB|unknown)$", output, re.M), output
        assert re.search(r"^disk: about \d+\.\d\d GB written under .*\(.*embedding cache \d+\.\d\d GB.*\); "
                         r"free there: \d+\.\d GB$", output, re.M), output

        invoke(*arguments)
        requests, before = server.requests, snapshot(run)
        output = invoke(*arguments, "--dry-run")
        assert snapshot(run) == before and server.requests == requests
        rows = table(output)
        assert {row[1] for row in rows.values()} == {"skip"}
        assert "total: about 0.0 s" in output
        assert "memory: no corpus-wide stage runs" in output and "disk: about 0.00 GB written" in output

        # a filter setting: scoring reruns from the score cache, the stages after it follow
        output = invoke(*arguments, "--set", "score.top_score_percentile=10", "--dry-run")
        assert snapshot(run) == before
        rows = table(output)
        assert [rows[name][1] for name in STAGES] == ["skip", "skip", "rerun"] + ["after"] * 5
        assert "teacher scores from the score cache" in rows["score"][2]

        # one of the two types a training passage: 5 training passages x 1 and the held-out one x 2
        output = invoke(*arguments, "--set", "generate.types_per_passage=1", "--dry-run")
        assert "6 of 6 passages (1 held out) x 1 of 2 types (held out: all): 7 calls" in table(output)["generate"][3]


def test_plan_tells_skip_run_rerun_resume_and_after_apart(tmp_path):
    def stage(name: str, after: tuple[str, ...] = (), value: int = 1) -> Stage:
        def work(run_dir, settings, inputs):
            (run_dir / name / "out.txt").write_text(str(settings["value"]))
            return StageResult([f"{name}/out.txt"])
        return Stage(name, work, {"value": value}, after=after)

    run = tmp_path / "run"
    assert [p.action for p in Pipeline(run, [stage("a"), stage("b", ("a",))]).plan()] == ["run", "run"]
    assert not run.exists()
    Pipeline(run, [stage("a"), stage("b", ("a",))], echo=lambda line: None).run()
    assert [p.action for p in Pipeline(run, [stage("a"), stage("b", ("a",))]).plan()] == ["skip", "skip"]
    assert [p.action for p in Pipeline(run, [stage("a"), stage("b", ("a",), 2)]).plan()] == ["skip", "rerun"]
    (run / "b" / "out.txt").write_text("edited")
    plan = Pipeline(run, [stage("a"), stage("b", ("a",))]).plan()
    assert plan[1].action == "rerun" and plan[1].reason == "its outputs were changed"
    (run / "b" / "out.txt").write_text("1")
    fingerprint = json.loads((run / "b" / "DONE.json").read_text())["fingerprint"]
    (run / "b" / "DONE.json").unlink()  # killed: started with these settings, not finished
    assert Pipeline(run, [stage("a"), stage("b", ("a",))]).plan()[1].action == "resume"
    (run / "b" / "STARTED.json").write_text(json.dumps({"fingerprint": "other", "started_at": 0}))
    assert Pipeline(run, [stage("a"), stage("b", ("a",))]).plan()[1].action == "run"
    assert fingerprint != "other"
