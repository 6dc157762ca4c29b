"""The OpenAI-compatible backend against a local server that injects faults, and the runner's
resume behaviour around it (nothing finished is lost, nothing finished is generated again)."""

from __future__ import annotations

import pytest

from corpustune.data.atomic import read_jsonl_log
from corpustune.data.beir import read_qrels
from corpustune.data.lines import iter_jsonl
from corpustune.generate.backends.base import Request, Sampling
from corpustune.generate.backends.openai import GenerationServerError, OpenAIBackend
from corpustune.generate.config import BackendConfig, GenerateConfig
from corpustune.generate.runner import run_generation
from corpustune.layout import RunLayout
from tests.llm_server import ScriptedServer

TYPES = ("question", "title", "keywords")


def config_for(server: ScriptedServer, **changes) -> GenerateConfig:
    backend = BackendConfig(
        name="openai", model="scripted", base_url=server.base_url, max_concurrency=3,
        timeout_s=0.5, max_retries=4, backoff_s=0.01, max_backoff_s=0.05,
    )
    return GenerateConfig(backend=backend, **{"types": TYPES, **changes})


def queries(run) -> list[dict]:
    return [record for _, record in iter_jsonl(run / "queries" / "queries.jsonl")]


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, tiny_passages):
    """The reference: the same generation against a server without faults."""
    out = tmp_path_factory.mktemp("clean")
    with ScriptedServer() as server:
        run_generation(tiny_passages, config_for(server), out, show_progress=False)
        assert server.requests == len(tiny_passages) * len(TYPES)
    return out


def test_reference_run_is_complete(clean_run, tiny_passages):
    kept = queries(clean_run)
    assert len(kept) == len(tiny_passages) * len(TYPES)
    by_id = {q["_id"]: q for q in kept}
    assert by_id["d1:question:0"]["text"] == "question about aspirin and the heart"
    assert by_id["d1:keywords:0"]["text"] == "keywords about aspirin and the heart"
    train, heldout = (read_qrels(clean_run / "queries" / "qrels" / f"{s}.tsv") for s in ("train", "heldout"))
    assert set(train) | set(heldout) == set(by_id) and not set(train) & set(heldout)
    assert all(judged == {by_id[q]["source_id"]: 1} for q, judged in {**train, **heldout}.items())
    # 6 passages x heldout_max_fraction 0.2 -> 1 held-out passage, all of its types
    assert len({by_id[q]["source_id"] for q in heldout}) == 1
    per_type = {t: read_qrels(clean_run / "queries" / "qrels" / f"heldout-{t}.tsv") for t in TYPES}
    assert all(by_id[q]["type"] == t for t, judged in per_type.items() for q in judged)
    assert {q: j for judged in per_type.values() for q, j in judged.items()} == heldout


def test_retries_recover_from_500_429_slow_malformed_and_dropped(tmp_path, clean_run, tiny_passages):
    with ScriptedServer(slow_s=1.5) as server:
        server.faults.extend(["500", "slow", "malformed", "429", "drop", "500", "malformed", "slow"])
        run_generation(tiny_passages, config_for(server), tmp_path, show_progress=False)
        assert server.requests == len(tiny_passages) * len(TYPES) + 8
    assert queries(tmp_path) == queries(clean_run)


def test_exhausted_retries_raise_clear_error_and_keep_finished_work(tmp_path, clean_run, tiny_passages):
    with ScriptedServer() as server:
        config = config_for(server, batch_passages=1)
        server.faults.extend(["ok"] * (2 * len(TYPES)))  # two passages succeed, then the server breaks
        server.always = "500"
        with pytest.raises(GenerationServerError, match=r"failed 5 times \(1 try \+ 4 retries\).*HTTP 500"):
            run_generation(tiny_passages, config, tmp_path, show_progress=False)
    log = list(read_jsonl_log(RunLayout(tmp_path).generation_log))
    assert len({r["passage_id"] for r in log}) == 2 and len(log) == 2 * len(TYPES)
    with ScriptedServer() as server:
        result = run_generation(tiny_passages, config_for(server, batch_passages=1), tmp_path, show_progress=False)
        assert server.requests == (len(tiny_passages) - 2) * len(TYPES)
    assert result.reused_records == 2
    log = list(read_jsonl_log(RunLayout(tmp_path).generation_log))
    keys = [(r["passage_id"], r["type"]) for r in log]
    assert len(keys) == len(set(keys)) == len(tiny_passages) * len(TYPES)
    assert queries(tmp_path) == queries(clean_run)


def test_client_errors_are_not_retried():
    with ScriptedServer() as server:
        server.always = "401"
        backend = OpenAIBackend("scripted", base_url=server.base_url, max_retries=5, backoff_s=0.01)
        messages = ({"role": "user", "content": "Passage:\nx\n\nNow write the query for the passage at the top."},)
        with pytest.raises(GenerationServerError, match="HTTP 401.*API key"):
            backend.generate([Request(messages, 1)], Sampling())
        assert server.requests == 1
        backend.close()


def test_changed_setting_regenerates_only_what_it_affects(tmp_path, tiny_passages):
    with ScriptedServer() as server:
        run_generation(tiny_passages, config_for(server), tmp_path, show_progress=False)
        first = server.requests
        # a new type: only its calls are made; the others are read from the log
        run_generation(tiny_passages, config_for(server, types=(*TYPES, "claim")), tmp_path, show_progress=False)
        assert server.requests - first == len(tiny_passages)
        # a new temperature changes every key: everything is generated again
        run_generation(tiny_passages, config_for(server, temperature=0.5), tmp_path, show_progress=False)
        assert server.requests - first == len(tiny_passages) * (1 + len(TYPES))


def test_json_mode_parses_lists_and_strings(tmp_path, tiny_passages):
    with ScriptedServer() as server:
        run_generation(tiny_passages, config_for(server, json_mode=True), tmp_path, show_progress=False)
        assert server.requests == len(tiny_passages)
    by_id = {q["_id"]: q for q in queries(tmp_path)}
    assert by_id["d2:question:0"]["text"] == "question about running"
    assert by_id["d2:keywords:0"]["text"] == "running, keywords"
    assert by_id["d1:keywords:0"]["text"] == "aspirin, and, keywords"


def test_killed_cli_process_resumes_without_duplicates(tmp_path, clean_run, tiny_passages):
    """SIGKILL a real `corpustune generate` process mid-run, re-run it: same output, no repeats."""
    import json
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps(p.to_json()) + "\n" for p in tiny_passages))
    out = tmp_path / "run"
    log_path = RunLayout(out).generation_log
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with ScriptedServer(delay_s=0.3) as server:
        command = [
            sys.executable, "-m", "corpustune", "generate", "--data", str(data), "--out", str(out),
            "--backend", "openai", "--model", "scripted", "--base-url", server.base_url, "--types", ",".join(TYPES),
            "--concurrency", "3", "--batch-passages", "1",
            # one request per type, every type (the laptop preset asks for 2 of them a passage)
            "--set", "generate.default_count=1", "--set", "generate.types_per_passage=null",
        ]
        process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            if log_path.exists() and len(list(read_jsonl_log(log_path))) >= 2 * len(TYPES):
                break
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        finished = {r["passage_id"] for r in read_jsonl_log(log_path)}
        assert 0 < len(finished) < len(tiny_passages), "the kill should land mid-run"
        before = server.requests
        subprocess.run(command, check=True, env=env, capture_output=True, timeout=120)
        # the in-flight passage (if any) is the only work done twice; finished passages are not
        assert server.requests - before == (len(tiny_passages) - len(finished)) * len(TYPES)
    log = list(read_jsonl_log(log_path))
    pairs = [(r["passage_id"], r["type"]) for r in log]
    assert len(pairs) == len(set(pairs)) == len(tiny_passages) * len(TYPES)
    assert queries(out) == queries(clean_run)
    assert json.loads((out / "queries" / "DONE.json").read_text())["counts"]["reused_records"] == len(finished)


def test_rebuilding_the_queries_from_the_log_writes_the_same_outputs(tmp_path, clean_run, tiny_passages):
    """Queries rebuilt from the log alone (no call made) are byte for byte the first run's, stats
    included, so the stages that read them stay up to date."""
    import shutil

    from corpustune.pipeline.fingerprint import hash_path

    out = tmp_path / "run"
    shutil.copytree(clean_run, out)
    layout = RunLayout(out)
    outputs = (layout.queries_file, layout.qrels_dir, layout.query_stats)  # the generate stage's outputs
    first = [hash_path(path) for path in outputs]
    shutil.rmtree(layout.queries_dir)
    with ScriptedServer() as server:
        result = run_generation(tiny_passages, config_for(server), out, show_progress=False)
        assert server.requests == 0
    assert result.generated_calls == 0 and result.reused_records == len(tiny_passages)
    assert [hash_path(path) for path in outputs] == first


def test_example_queries_add_their_type_and_only_its_calls(tmp_path, tiny_passages):
    examples = tmp_path / "examples.txt"
    examples.write_text("zinc lozenges for a cold\nhow long does a cold last\n")
    run = tmp_path / "run"
    with ScriptedServer() as server:
        run_generation(tiny_passages, config_for(server), run, show_progress=False)
        first = server.requests
        run_generation(tiny_passages, config_for(server, example_queries=str(examples)), run, show_progress=False)
        assert server.requests - first == len(tiny_passages)  # one call a passage, the other types from the log
    written = [q for q in queries(run) if q["type"] == "examples"]
    assert {q["source_id"] for q in written} == {p.id for p in tiny_passages}
    assert all(q["text"].startswith("query about ") for q in written)


def generated_types(run) -> dict[str, set[str]]:
    """Source passage -> the types of its kept and dropped queries (all that the outputs used)."""
    found: dict[str, set[str]] = {}
    dropped = [record for _, record in iter_jsonl(RunLayout(run).dropped_queries)]
    for record in queries(run) + dropped:
        found.setdefault(record["source_id"], set()).add(record["type"])
    return found


def test_types_per_passage_gives_each_training_passage_its_own_subset(tmp_path, tiny_passages):
    run = tmp_path / "run"
    with ScriptedServer() as server:
        run_generation(tiny_passages, config_for(server, types_per_passage=2), run, show_progress=False)
        # 6 passages, 1 held out (every type), 5 in training (2 types each)
        assert server.requests == 3 + 5 * 2
        subset = generated_types(run)
        heldout = {q["source_id"] for q in queries(run) if q["_id"] in read_qrels(RunLayout(run).heldout_qrels)}
        assert len(heldout) == 1 and all(subset[p] == set(TYPES) for p in heldout)
        training = {p: types for p, types in subset.items() if p not in heldout}
        assert len(training) == 5 and all(len(types) == 2 for types in training.values())
        assert len({frozenset(types) for types in training.values()}) > 1  # drawn per passage
        # a fourth type changes a passage's subset only by taking a place in it, and the outputs
        # hold only each passage's own types although the log holds more
        run_generation(tiny_passages, config_for(server, types=(*TYPES, "claim"), types_per_passage=2), run,
                       show_progress=False)
        widened = generated_types(run)
        for passage, types in training.items():
            assert widened[passage] == types or ("claim" in widened[passage] and len(widened[passage] & types) == 1)
        assert any(widened[p] != types for p, types in training.items())
        # every type for every passage afterwards: only the calls not in the log are made
        before = server.requests
        run_generation(tiny_passages, config_for(server, types=(*TYPES, "claim")), run, show_progress=False)
        asked = {p: training[p] | widened[p] for p in training}
        # (the held-out passage got every type, claim too, in the run before)
        assert server.requests - before == sum(4 - len(types) for types in asked.values())
    assert generated_types(run) == {p.id: {*TYPES, "claim"} for p in tiny_passages}
