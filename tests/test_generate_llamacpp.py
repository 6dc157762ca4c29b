"""The llama.cpp backend with the packaged SmolLM2-135M: real passages, real server, kill + resume."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from corpustune.data.atomic import read_jsonl_log
from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.data.lines import iter_jsonl
from corpustune.generate.config import BackendConfig, GenerateConfig
from corpustune.generate.runner import run_generation
from corpustune.layout import RunLayout
from corpustune.models import resolve_model
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.models.resolve import is_available
from tests.conftest import shared_dataset

pytest.importorskip("llama_cpp")
if not is_available(PACKAGED_MODELS["smollm2-135m"]):
    pytest.skip("the packaged smollm2-135m model is not installed", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
TYPES = "title,web_fewshot"


def kept(run: Path) -> list[dict]:
    return [record for _, record in iter_jsonl(run / "queries" / "queries.jsonl")]


def check_structure(run: Path, passage_ids: set[str], types: list[str], max_words: int) -> None:
    stats = json.loads((run / "queries" / "stats.json").read_text())
    for name in types:
        entry = stats["types"][name]
        assert entry["generated"] == entry["kept"] + sum(entry["dropped"].values())
    generated = sum(stats["types"][n]["generated"] + stats["heldout_types"][n]["generated"] for n in types)
    assert generated == len(passage_ids) * len(types)
    for query in kept(run):
        assert query["source_id"] in passage_ids and query["type"] in types
        assert query["_id"] == f"{query['source_id']}:{query['type']}:0"
        assert query["generator"] == "llamacpp:smollm2-135m" and query["prompt_version"]
        assert 0 < len(query["text"].split()) <= max_words and "\n" not in query["text"]


@pytest.mark.slow
def test_smollm2_on_real_scifact_passages(tmp_path):
    passages = read_passages(CorpusSpec(path=shared_dataset("scifact")))
    config = GenerateConfig(
        backend=BackendConfig(model="smollm2-135m", n_threads=2), types=tuple(TYPES.split(",")),
        max_passages=3, heldout_count=0, max_new_tokens=24, passage_max_chars=600,
    )
    result = run_generation(passages, config, tmp_path, show_progress=False)
    assert result.generated_calls == 3 * 2
    assert len(_sampled(tmp_path)) == 3
    check_structure(tmp_path, _sampled(tmp_path), TYPES.split(","), 25)
    log = list(read_jsonl_log(RunLayout(tmp_path).generation_log))
    assert all(0 < r["completion_tokens"] <= 24 and r["prompt_tokens"] > 100 for r in log)


def _sampled(run: Path) -> set[str]:
    return {r["passage_id"] for r in read_jsonl_log(RunLayout(run).generation_log)}


def cli(data: Path, out: Path) -> list[str]:
    return [
        sys.executable, "-m", "corpustune", "generate", "--data", str(data), "--out", str(out),
        "--backend", "llamacpp", "--model", "smollm2-135m", "--types", TYPES, "--max-new-tokens", "8",
        "--threads", "1", "--heldout", "0",
    ]


@pytest.mark.slow
def test_kill_and_resume_gives_the_same_output(tmp_path, tiny_passages):
    data = tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps(p.to_json()) + "\n" for p in tiny_passages))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    reference = tmp_path / "reference"
    subprocess.run(cli(data, reference), check=True, env=env, capture_output=True, timeout=600)

    resumed = tmp_path / "resumed"
    log_path = RunLayout(resumed).generation_log
    process = subprocess.Popen(cli(data, resumed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        if log_path.exists() and len(list(read_jsonl_log(log_path))) >= 2:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    finished = _sampled(resumed)
    assert 0 < len(finished) < len(tiny_passages), "the kill should land mid-run"

    subprocess.run(cli(data, resumed), check=True, env=env, capture_output=True, timeout=600)
    counts = json.loads((resumed / "queries" / "DONE.json").read_text())["counts"]
    assert counts["reused_records"] == len(finished)
    assert counts["generated_calls"] == (len(tiny_passages) - len(finished)) * 2
    log = list(read_jsonl_log(log_path))
    pairs = [(r["passage_id"], r["type"]) for r in log]
    assert len(pairs) == len(set(pairs)) == len(tiny_passages) * 2  # no passage generated twice
    assert kept(resumed) == kept(reference)
    check_structure(resumed, {p.id for p in tiny_passages}, TYPES.split(","), 25)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_openai_backend_against_llama_cpp_server(tmp_path, tiny_passages):
    pytest.importorskip("llama_cpp.server")
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", resolve_model("smollm2-135m"), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", "2", "--model_alias", "smollm2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        config = GenerateConfig(
            backend=BackendConfig(name="openai", model="smollm2", base_url=f"http://127.0.0.1:{port}/v1",
                                  max_concurrency=2, timeout_s=120, max_retries=2, backoff_s=0.5),
            types=tuple(TYPES.split(",")), heldout_count=0, max_new_tokens=12, max_passages=3,
        )
        result = run_generation(tiny_passages, config, tmp_path, show_progress=False)
        assert result.generated_calls == 3 * 2
        log = list(read_jsonl_log(RunLayout(tmp_path).generation_log))
        assert len(log) == 6 and all(0 < r["completion_tokens"] <= 12 and r["prompt_tokens"] > 50 for r in log)
        for query in kept(tmp_path):
            assert query["generator"] == "openai:smollm2" and query["text"].strip() == query["text"]
    finally:
        server.terminate()
        server.wait(timeout=30)
