"""Bad input, one row per reproduction of issues 16 and 28: each ends with one clear line (exit 2; exit 1
for `inspect` of a rejected corpus) or with the right result, and never with a traceback.

Each row builds its files in a fresh folder (`{tmp}` in the arguments), runs the command in
process through typer and checks the exit code and a fragment of what it prints.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpustune import __version__
from corpustune.cli import app
from corpustune.errors import InputError
from tests.conftest import TINY_PASSAGES
from tests.llm_server import ScriptedServer
from tests.lock_holder import lock_held_elsewhere
from tests.tiny_models import build_tiny_biencoder, build_tiny_cross_encoder, write_tiny_gguf

ROOT = Path(__file__).resolve().parents[1]
NO_SERVER = ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1"]
"""Generation settings that need no model (the checks under test fail before any request)."""


def corpus_jsonl(records: list[dict] | None = None) -> str:
    records = records if records is not None else [p.to_json() for p in TINY_PASSAGES]
    return "".join(json.dumps(r) + "\n" for r in records)


def beir(qrels: str = "q1\td3\t1\nq2\td6\t2\nq3\td5\t1\n", queries: str | None = None,
         corpus: bool = True) -> dict[str, str]:
    """The files of a BEIR folder `beir/` over the tiny passages."""
    texts = {"q1": "vitamin deficiency in winter", "q2": "do antibiotics cure the flu", "q3": "coffee and the liver"}
    files = {
        "beir/queries.jsonl": queries if queries is not None else corpus_jsonl(
            [{"_id": q, "text": t} for q, t in texts.items()]),
        "beir/qrels/test.tsv": "query-id\tcorpus-id\tscore\n" + qrels,
    }
    return files | ({"beir/corpus.jsonl": corpus_jsonl()} if corpus else {})


def text_folder_with_hidden_entries_and_a_link(tmp: Path) -> None:
    (tmp / "docs" / ".git").mkdir(parents=True)
    (tmp / "docs" / "a.txt").write_text("Aspirin lowers the risk of heart attack.")
    (tmp / "docs" / ".git" / "notes.txt").write_text("not part of the corpus")
    (tmp / "outside.txt").write_text("a file outside the corpus folder")
    (tmp / "docs" / "link.txt").symlink_to(tmp / "outside.txt")


def text_folder_with_a_run_folder(tmp: Path) -> None:
    """docs/ with one document and, in docs/run/, a run folder as a command leaves it (its lock
    and config written by the pipeline's own functions) with a report and a model card."""
    from corpustune.pipeline import save_config
    from corpustune.pipeline.runner import run_lock

    (tmp / "docs" / "run" / "model").mkdir(parents=True)
    (tmp / "docs" / "a.txt").write_text("Aspirin lowers the risk of heart attack.")
    with run_lock(tmp / "docs" / "run"):
        save_config(tmp / "docs" / "run", {"data": {"path": str(tmp / "docs")}})
    (tmp / "docs" / "run" / "report.md").write_text("# corpustune report\n\nnDCG@10 went up.")
    (tmp / "docs" / "run" / "model" / "README.md").write_text("# a sentence-transformers model card")


def text_folder_with_an_unreadable_file(tmp: Path) -> None:
    """docs/b.txt is a Unix socket: opening it fails (ENXIO) even for root, who can read any
    file whatever its permissions."""
    (tmp / "docs").mkdir()
    (tmp / "docs" / "a.txt").write_text("Aspirin lowers the risk of heart attack.")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp / "docs" / "b.txt"))


def gzipped(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


@dataclass(frozen=True)
class Case:
    """One reproduction: `args` (with `{tmp}`), the exit code, a fragment of `stream`, the files
    it needs, environment variables, a context it runs in, and a check of the folder afterwards."""

    name: str
    args: list[str]
    code: int
    fragment: str
    files: dict[str, str | bytes] = field(default_factory=dict)
    stream: str = "stderr"
    env: dict[str, str] = field(default_factory=dict)
    around: Callable[[Path], AbstractContextManager] = lambda tmp: nullcontext()
    setup: Callable[[Path], None] = lambda tmp: None
    check: Callable[[Path, object], None] = lambda tmp, result: None
    needs: str | None = None


def _no_folder(relative: str) -> Callable[[Path, object], None]:
    def check(tmp: Path, result) -> None:
        assert not (tmp / relative).exists(), f"{relative} was left behind"
    return check


def _json_names_rejection(tmp: Path, result) -> None:
    assert "repeats an id" in json.loads(result.stdout)["rejected"]


def _prints_nothing(tmp: Path, result) -> None:
    assert result.stdout == ""


def _one_passage(tmp: Path, result) -> None:
    assert ": 1 passage\n" in result.stdout, result.stdout


def _evaluated_queries(count: int) -> Callable[[Path, object], None]:
    def check(tmp: Path, result) -> None:
        assert json.loads((tmp / "e.json").read_text())["queries"] == count
    return check


def _no_bool_metavar(tmp: Path, result) -> None:
    assert "<bool>" not in result.stdout


def tiny_model(damage: Callable[[Path], object] = lambda model: None, kind: str = "biencoder"):
    """A setup that saves a tiny real model as {tmp}/tiny/model (a sentence-transformers folder,
    or with `kind="cross-encoder"` a sequence classifier), then applies `damage` to its folder."""
    def setup(tmp: Path) -> None:
        texts = [p.full_text() for p in TINY_PASSAGES]
        build = build_tiny_biencoder if kind == "biencoder" else build_tiny_cross_encoder
        model = build(tmp / "tiny" / ("" if kind == "biencoder" else "model"), texts)
        damage(model)
    return setup


def _cut(path: Path, count: int) -> None:
    path.write_bytes(path.read_bytes()[:-count])


def _no_stage_ran(tmp: Path, result) -> None:
    assert not (tmp / "run" / "queries").exists(), "a stage ran"


OFFLINE = {"HF_HUB_OFFLINE": "1"}
RUN_WITHOUT_PACKAGED_MODELS = [
    "--set", "generate.backend={name: openai, model: scripted, base_url: 'http://127.0.0.1:9/v1'}",
    "--set", "mine.dense=[]", "--set", "score.teachers=[{kind: bm25}]",
]
"""`run` settings that name no packaged model (the checks under test fail before any is opened)."""
NOT_A_MODEL = {"c.jsonl": corpus_jsonl(), "notmodel/notes.txt": "not a model"}
DUPLICATE = corpus_jsonl([{"_id": "a", "text": "one text"}, {"_id": "a", "text": "another"}])

CASES = [
    # 1. quotes in TSV / CSV
    Case("tsv-stray-quote-read-literally", ["inspect", "{tmp}/q.tsv", "--tokenizer", "none"], 0, "q.tsv: 4 passages",
         {"q.tsv": 'id\ttitle\ttext\n1\tA\tx\n2\tB\t"open quote\n3\tC\ty\n4\tD\tz\n'}, stream="stdout"),
    Case("csv-unclosed-quote", ["inspect", "{tmp}/q.csv", "--tokenizer", "none"], 1,
         "q.csv: line 3: a quoted field that starts on this line is never closed",
         {"q.csv": 'id,title,text\n1,A,x\n2,B,"open quote\n3,C,y\n4,D,z\n'}),
    # 2. qrels of other ids
    Case("qrels-of-another-corpus", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25", "--out", "{tmp}/e.json"],
         2, "none of its 3 relevant passages is in the corpus", beir(qrels="q1\tx3\t1\nq2\tx6\t2\nq3\tx5\t1\n")),
    Case("qrels-partly-outside-the-corpus",
         ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25", "--out", "{tmp}/e.json"], 0,
         "warning: {tmp}/beir/qrels/test.tsv: 1 of 3 judged passages are not in the corpus (first: ['x6'])",
         beir(qrels="q1\td3\t1\nq2\tx6\t2\nq3\td5\t1\n")),
    # 3. nothing usable
    Case("empty-file", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *NO_SERVER], 2,
         "no passages: the file holds no records", {"c.jsonl": ""}, check=_no_folder("run")),
    Case("only-empty-texts", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *NO_SERVER], 2,
         "every record's 'text' is empty (2 records",
         {"c.jsonl": corpus_jsonl([{"_id": "a", "text": ""}, {"_id": "b", "text": "  "}])}),
    Case("folder-without-text-files", ["generate", "--data", "{tmp}/docs", "--out", "{tmp}/run", *NO_SERVER], 2,
         "no passages: the folder has no .txt, .md, .pdf, .html, .htm or .docx files; ignored 2 files of other types",
         {"docs/notes.rst": "Title\n=====\n", "docs/data.bin": b"\x00\x01\x02"}),
    Case("beir-folder-without-corpus", ["generate", "--data", "{tmp}/beir", "--out", "{tmp}/run", *NO_SERVER], 2,
         "has queries.jsonl or qrels/ like a BEIR folder, but no corpus.jsonl", beir(corpus=False)),
    Case("run-on-an-empty-corpus", ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run"], 2,
         "no passages: the file holds no records", {"c.jsonl": "\n"}, check=_no_folder("run")),
    Case("mine-without-training-queries", ["mine", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--no-dense"], 2,
         "queries.jsonl: no training queries to mine (the generate stage kept none",
         {"c.jsonl": corpus_jsonl(), "run/queries/queries.jsonl": ""}),
    Case("score-without-candidate-lists", ["score", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--teacher", "bm25"],
         2, "candidates.jsonl: no candidate lists to score",
         {"c.jsonl": corpus_jsonl(), "run/queries/queries.jsonl": "", "run/candidates/candidates.jsonl": ""}),
    Case("hidden-entries-and-links-are-skipped-and-counted", ["inspect", "{tmp}/docs", "--tokenizer", "none"], 0,
         "ignored: 1 hidden file or folder, 1 symbolic link (not followed)", stream="stdout",
         setup=text_folder_with_hidden_entries_and_a_link),
    # 4. models
    Case("hub-id-offline", ["evaluate", "--data", "{tmp}/beir", "--model", "BAAI/bge-small-en-v1.5"], 2,
         "BAAI/bge-small-en-v1.5: HF_HUB_OFFLINE is set and the model is not in the local Hugging Face cache",
         beir(), env=OFFLINE),
    Case("gguf-hub-id-offline",
         ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--model", "Qwen/Qwen2.5-0.5B-Instruct-GGUF"], 2,
         "Qwen/Qwen2.5-0.5B-Instruct-GGUF: HF_HUB_OFFLINE is set and the file is not in the local Hugging Face cache",
         {"c.jsonl": corpus_jsonl()}, env=OFFLINE),
    Case("embedding-alias-as-generator", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--model", "minilm"],
         2, "needs a GGUF model file for llama.cpp; use one of qwen-coder-1.5b, qwen-coder-0.5b, smollm2-135m",
         {"c.jsonl": corpus_jsonl()}, check=_no_folder("run/queries")),
    Case("gguf-alias-as-embedding-model", ["evaluate", "--data", "{tmp}/beir", "--model", "smollm2-135m"], 2,
         "'smollm2-135m' is a packaged gguf model", beir()),
    Case("gguf-alias-as-cross-encoder",
         ["score", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--teacher", "cross-encoder:smollm2-135m"], 2,
         "needs a cross-encoder", {"c.jsonl": corpus_jsonl()}),
    Case("not-a-gguf-file", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--model", "{tmp}/m.gguf"], 2,
         "m.gguf: is not a GGUF file", {"c.jsonl": corpus_jsonl(), "m.gguf": "plain text"}),
    # 5. one process per run folder
    Case("second-process-on-one-run-folder", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *NO_SERVER],
         2, "another corpustune process is writing {tmp}/run", {"c.jsonl": corpus_jsonl()},
         around=lambda tmp: lock_held_elsewhere(tmp / "run")),
    # 6. ordinary mistakes
    Case("beir-folder-without-queries", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25"], 2,
         "{tmp}/beir/queries.jsonl: not found", {k: v for k, v in beir().items() if "queries" not in k}),
    Case("set-value-not-yaml", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set", "train.epochs=[1"],
         2, "--set 'train.epochs=[1': the value '[1' is not valid YAML", {"c.jsonl": corpus_jsonl()}),
    Case("max-passages-0", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--max-passages", "0"], 2,
         "invalid settings: generate.max_passages = 0 (from a command-line option): input should be greater than or "
         "equal to 1",
         {"c.jsonl": corpus_jsonl()}),
    Case("negative-temperature", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--temperature", "-1"], 2,
         "generate.temperature = -1.0 (from a command-line option): input should be greater than or equal to 0", {"c.jsonl": corpus_jsonl()}),
    Case("list-size-1", ["mine", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--list-size", "1"], 2,
         "mine.list_size = 1 (from a command-line option): input should be greater than or equal to 2", {"c.jsonl": corpus_jsonl()}),
    Case("damaged-generation-log", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *NO_SERVER], 2,
         "run/cache/generation.log.jsonl: line 2 is damaged (not a JSON object in UTF-8); delete or repair that line",
         {"c.jsonl": corpus_jsonl(), "run/cache/generation.log.jsonl": '{"key": "k"}\n{"key": \n'}),
    Case("out-names-a-file", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/taken", *NO_SERVER], 2,
         "taken: is a file, but --out names the run folder", {"c.jsonl": corpus_jsonl(), "taken": "x"}),
    Case("corrupt-parquet", ["generate", "--data", "{tmp}/c.parquet", "--out", "{tmp}/run", *NO_SERVER], 2,
         "c.parquet: not a readable Parquet file", {"c.parquet": b"PAR1 not really"}, needs="pyarrow"),
    # 7. inputs of later stages are checked first
    Case("run-checks-human-queries-before-the-first-stage", ["run", "--data", "{tmp}/beir", "--out", "{tmp}/run"], 2,
         "{tmp}/beir/queries.jsonl: line 2: malformed JSON", beir(queries='{"_id": "q1", "text": "a"}\n{"_id": "q2",\n'),
         check=_no_folder("run")),
    Case("inspect-checks-queries-and-qrels", ["inspect", "{tmp}/beir", "--tokenizer", "none"], 1,
         "1 query id with qrels but no text in queries.jsonl", beir(qrels="q1\td3\t1\nq9\td1\t1\n")),
    # 8. byte order mark
    Case("csv-with-bom", ["inspect", "{tmp}/c.csv", "--tokenizer", "none"], 0, "c.csv: 1 passage\n",
         {"c.csv": b"\xef\xbb\xbfid,title,text\n1,A,hello there\n"}, stream="stdout"),
    Case("jsonl-with-bom", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none"], 0, "c.jsonl: 1 passage\n",
         {"c.jsonl": b'\xef\xbb\xbf{"_id": "a", "text": "hello there"}\n'}, stream="stdout"),
    # 9. inspect --json
    Case("inspect-json-of-a-rejected-corpus", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none", "--json"], 1,
         "rejected: ", {"c.jsonl": DUPLICATE}, check=_json_names_rejection),
    # 10. ids that qrels cannot hold
    Case("tab-in-an-id", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *NO_SERVER], 2,
         "c.jsonl: line 1: id 'a\\tb' contains a tab, which cannot be written into a qrels file",
         {"c.jsonl": corpus_jsonl([{"_id": "a\tb", "text": "hello there"}])}),
    # 11. values that were coerced or ignored
    Case("list-as-id", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none"], 1,
         "the id ['a'] ('_id') is a list; an id must be text or an integer",
         {"c.jsonl": corpus_jsonl([{"_id": ["a"], "text": "hello there"}])}),
    Case("object-as-text", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *NO_SERVER], 2,
         "record 3 has an object as its 'text' field; it must be text",
         {"c.jsonl": corpus_jsonl([{"_id": 3, "text": {"en": "hello"}}])}),
    Case("count-of-a-type-not-selected",
         ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--count", "qestion=2", *NO_SERVER], 2,
         "generate.counts (--count) names 'qestion', which is not a query type of this run", {"c.jsonl": corpus_jsonl()}),
    Case("evaluate-depth-0", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25", "--depth", "0"], 2,
         "Invalid value for '--depth'", beir()),
    # 12. small ones
    Case("one-passage-is-singular", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none"], 0, "c.jsonl: 1 passage\n",
         {"c.jsonl": corpus_jsonl([{"_id": "a", "text": "hello there"}])}, stream="stdout"),
    Case("null-text-is-skipped-as-empty", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none"], 0,
         "skipped: 1 record with empty text", {"c.jsonl": corpus_jsonl([{"_id": "a", "text": "hi there"},
                                                                         {"_id": "b", "text": None}])}, stream="stdout"),
    Case("csv-separated-by-semicolons", ["inspect", "{tmp}/c.csv", "--tokenizer", "none"], 1,
         "the file seems separated by semicolons", {"c.csv": "id;title;text\n1;A;hello\n"}),
    Case("unknown-preset", ["config", "--preset", "foo"], 2, "unknown preset 'foo'", check=_prints_nothing),
    Case("help-without-bool-metavars", ["generate", "--help"], 0, "--json-mode / --no-json-mode", stream="stdout",
         check=_no_bool_metavar),
    Case("version", ["--version"], 0, f"corpustune {__version__}", stream="stdout"),
    # 13. issue 28: settings (4, 7, 15, 16) and models (14), all refused before the first stage
    Case("repeated-config-merges-in-order",
         ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--config", "{tmp}/a.yaml", "--config",
          "{tmp}/b.yaml", *NO_SERVER], 2, "train.epochs = 0 (from {tmp}/a.yaml): input should be greater than or equal",
         {"c.jsonl": corpus_jsonl(), "a.yaml": "train:\n  epochs: 0\n", "b.yaml": "mine:\n  list_size: 5\n"}),
    Case("bad-value-of-the-second-config-names-it",
         ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--config", "{tmp}/base.yaml", "--config",
          "{tmp}/mine.yaml", *NO_SERVER], 2, "mine.list_size = 1 (from {tmp}/mine.yaml): input should be greater",
         {"c.jsonl": corpus_jsonl(), "base.yaml": "train:\n  epochs: 2\n", "mine.yaml": "mine:\n  list_size: 1\n"}),
    Case("bad-set-value-names-the-set",
         ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--config", "{tmp}/base.yaml", "--set",
          "train.epochs=0", *NO_SERVER], 2,
         "invalid settings: train.epochs = 0 (from --set train.epochs=0): input should be greater than or equal to 1",
         {"c.jsonl": corpus_jsonl(), "base.yaml": "train:\n  epochs: 2\n"}),
    Case("train-list-size-1", ["train", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--list-size", "1"], 2,
         "train.list_size = 1 (from a command-line option): input should be greater than or equal to 2",
         {"c.jsonl": corpus_jsonl()}),
    Case("run-train-list-size-1", ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set", "train.list_size=1"],
         2, "train.list_size = 1 (from --set train.list_size=1): input should be greater than or equal to 2",
         {"c.jsonl": corpus_jsonl()}, check=_no_folder("run")),
    Case("passage-max-tokens-above-the-models-positions",
         ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *RUN_WITHOUT_PACKAGED_MODELS,
          "--set", "train.model={tmp}/tiny/model", "--set", "train.passage_max_tokens=1000"], 2,
         "train.passage_max_tokens = 1000, but the model {tmp}/tiny/model takes at most 64 tokens per text",
         {"c.jsonl": corpus_jsonl()}, setup=tiny_model(), check=_no_stage_ran),
    Case("query-max-tokens-above-the-models-positions",
         ["train", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--model", "{tmp}/tiny/model",
          "--query-max-tokens", "65", "--passage-max-tokens", "64"], 2,
         "train.query_max_tokens = 65, but the model {tmp}/tiny/model takes at most 64", {"c.jsonl": corpus_jsonl()},
         setup=tiny_model()),
    Case("teacher-max-length-above-the-models-positions",
         ["score", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--teacher", "cross-encoder:{tmp}/tiny/model",
          "--max-length", "512"], 2,
         "score.teachers.0.max_length = 512, but the model {tmp}/tiny/model takes at most 128",
         {"c.jsonl": corpus_jsonl()}, setup=tiny_model(kind="cross-encoder")),
    Case("mining-model-max-seq-length-above-its-positions",
         ["mine", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set",
          "mine.dense=[{model: '{tmp}/tiny/model', max_seq_length: 100}]"], 2,
         "mine.dense.0.max_seq_length = 100, but the model {tmp}/tiny/model takes at most 64", {"c.jsonl": corpus_jsonl()},
         setup=tiny_model()),
    Case("evaluate-max-seq-length-above-the-models-positions",
         ["evaluate", "--data", "{tmp}/beir", "--model", "{tmp}/tiny/model", "--max-seq-length", "65"], 2,
         "--max-seq-length = 65, but the model {tmp}/tiny/model takes at most 64", beir(), setup=tiny_model()),
    Case("no-teachers", ["score", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set", "score.teachers=[]"], 2,
         "score.teachers = [] (from --set score.teachers=[]): value error, no teacher: name at least one",
         {"c.jsonl": corpus_jsonl()}),
    Case("select-measure-not-a-measure",
         ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set", "select.measure=nDCG@ten"], 2,
         "select.measure = 'nDCG@ten' (from --set select.measure=nDCG@ten): value error, 'nDCG@ten' is not an "
         "ir-measures measure", {"c.jsonl": corpus_jsonl()}, check=_no_folder("run")),
    Case("evaluate-measures-name-an-unknown-measure",
         ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set", "evaluate.measures=[nDCG@10, Foo@3]"], 2,
         "value error, 'Foo@3' is not an ir-measures measure (NameError: measure not found: Foo)",
         {"c.jsonl": corpus_jsonl()}, check=_no_folder("run")),
    Case("folder-not-a-model-as-student",
         ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", *RUN_WITHOUT_PACKAGED_MODELS,
          "--set", "train.model={tmp}/notmodel"], 2,
         "{tmp}/notmodel: is not a model folder (it has neither config.json nor modules.json), but this needs an "
         "embedding model", NOT_A_MODEL, check=_no_folder("run")),
    Case("folder-not-a-model-as-biencoder-teacher",
         ["score", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--teacher", "biencoder:{tmp}/notmodel"], 2,
         "{tmp}/notmodel: is not a model folder", NOT_A_MODEL),
    Case("folder-not-a-model-to-evaluate",
         ["evaluate", "--data", "{tmp}/beir", "--model", "{tmp}/notmodel", "--out", "{tmp}/e.json"], 2,
         "{tmp}/notmodel: is not a model folder", beir() | NOT_A_MODEL),
    Case("truncated-safetensors-of-the-student",
         ["train", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--model", "{tmp}/tiny/model"], 2,
         "{tmp}/tiny/model/model.safetensors: is ", {"c.jsonl": corpus_jsonl()},
         setup=tiny_model(lambda model: _cut(model / "model.safetensors", 1000))),
    Case("broken-config-json-of-the-evaluated-model",
         ["evaluate", "--data", "{tmp}/beir", "--model", "{tmp}/tiny/model", "--out", "{tmp}/e.json"], 2,
         "{tmp}/tiny/model/config.json: is not valid JSON (line ", beir(),
         setup=tiny_model(lambda model: _cut(model / "config.json", 5))),
    Case("truncated-gguf-generator",
         ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--model", "{tmp}/m.gguf"], 2,
         "m.gguf: is 314 bytes, but its GGUF tensor table needs at least 324 (truncated)", {"c.jsonl": corpus_jsonl()},
         setup=lambda tmp: write_tiny_gguf(tmp / "m.gguf", cut=10), check=_no_folder("run/queries")),
    Case("text-file-starting-with-gguf-as-llm-teacher",
         ["score", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--teacher", "llm:{tmp}/m.gguf"], 2,
         "m.gguf: is GGUF version", {"c.jsonl": corpus_jsonl(), "m.gguf": "GGUF is llama.cpp's format\n"}),
    # issue 28, input data. 1. the run folder is not read as documents
    Case("run-folder-inside-the-text-folder-is-left-out", ["inspect", "{tmp}/docs", "--tokenizer", "none"], 0,
         "ignored: 1 corpustune run folder (first: run)", stream="stdout", setup=text_folder_with_a_run_folder,
         check=_one_passage),
    Case("out-is-the-text-folder", ["generate", "--data", "{tmp}/docs", "--out", "{tmp}/docs", *NO_SERVER], 2,
         "docs: is the run folder (--out) as well as the corpus folder (--data)",
         {"docs/a.txt": "Aspirin lowers the risk of heart attack."}, check=_no_folder("docs/config.yaml")),
    Case("text-folder-that-is-a-run-folder", ["inspect", "{tmp}/docs/run", "--tokenizer", "none"], 1,
         "run: is the run folder (--out) as well as the corpus folder (--data)", setup=text_folder_with_a_run_folder),
    # 3. an evaluation split the folder does not have
    Case("run-evaluate-split-missing", ["run", "--data", "{tmp}/beir", "--out", "{tmp}/run", "--set",
                                        "evaluate.split=tset"], 2,
         "qrels/tset.tsv: no qrels for evaluate.split 'tset'; the folder's splits: test", beir(),
         check=_no_folder("run")),
    Case("run-dev-split-is-the-evaluation-split", ["run", "--data", "{tmp}/beir", "--out", "{tmp}/run", "--set",
                                                   "select.dev_split=test"], 2,
         "select.dev_split is 'test', the evaluation split", beir(), check=_no_folder("run")),
    # 6. repeated judgements; queries without a relevant passage
    Case("qrels-two-grades-for-one-pair", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25"], 2,
         "qrels/test.tsv: lines 2 and 4 judge passage 'd3' for query 'q1' with different grades (1 and 0)",
         beir(qrels="q1\td3\t1\nq2\td6\t2\nq1\td3\t0\nq3\td5\t1\n")),
    Case("qrels-repeated-line-read-once",
         ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25", "--out", "{tmp}/e.json"], 0,
         "3 test queries with qrels; 1 line repeats an earlier judgement (same grade, read once)",
         beir(qrels="q1\td3\t1\nq2\td6\t2\nq1\td3\t1\nq3\td5\t1\n"), stream="stdout",
         check=_evaluated_queries(3)),
    Case("qrels-query-without-relevant-passage-is-skipped",
         ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25", "--out", "{tmp}/e.json"], 0,
         "2 test queries with qrels; skipped 1 query without a relevant passage (every grade 0 or below; first: q2)",
         beir(qrels="q1\td3\t1\nq2\td6\t0\nq2\td1\t-1\nq3\td5\t1\n"), stream="stdout",
         check=_evaluated_queries(2)),
    Case("qrels-without-any-relevant-passage", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25"], 2,
         "qrels/test.tsv: none of its 3 queries has a relevant passage",
         beir(qrels="q1\td3\t0\nq2\td6\t0\nq3\td5\t0\n")),
    # 8. text without a visible character is empty text
    Case("control-and-zero-width-characters-are-empty-text", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none"], 0,
         "skipped: 2 records with empty text or no visible character",
         {"c.jsonl": corpus_jsonl([{"_id": "a", "text": "hi there"},
                                   {"_id": "b", "text": "\u0001\u0002\u0003\u0007\u001b[31m\u0000"},
                                   {"_id": "c", "text": "\u200b\u200c\u200d\u2060\ufeff"}])},
         stream="stdout", check=_one_passage),
    # 11. qrels with a header only
    Case("qrels-header-only-bm25", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25"], 2,
         "qrels/test.tsv: no judgements (the file is empty or holds only its header)", beir(qrels="")),
    Case("qrels-header-only-model", ["evaluate", "--data", "{tmp}/beir", "--model", "minilm"], 2,
         "qrels/test.tsv: no judgements (the file is empty or holds only its header)", beir(qrels="")),
    Case("qrels-header-only-run", ["run", "--data", "{tmp}/beir", "--out", "{tmp}/run"], 2,
         "qrels/test.tsv: no judgements (the file is empty or holds only its header)", beir(qrels=""),
         check=_no_folder("run")),
    # 17. nothing to train on, known before generating
    Case("no-query-types", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set", "generate.types=[]",
                            *NO_SERVER], 2, "generate.types is empty, so no query would be generated",
         {"c.jsonl": corpus_jsonl()}, check=_no_folder("run")),
    Case("every-passage-held-out", ["run", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set",
                                    "generate.heldout_count=6", "--set", "generate.heldout_max_fraction=1"], 2,
         "hold out all 6 sampled passages (generate.max_passages = 400), so none is left to train on",
         {"c.jsonl": corpus_jsonl()}, check=_no_folder("run")),
    Case("no-passage-long-enough", ["generate", "--data", "{tmp}/c.jsonl", "--out", "{tmp}/run", "--set",
                                     "generate.min_passage_chars=1000", *NO_SERVER], 2,
         "none of the 6 passages is eligible for generation (6 shorter than generate.min_passage_chars = 1000",
         {"c.jsonl": corpus_jsonl()}, check=_no_folder("run")),
    # 18. compressed input
    Case("gzip-jsonl-is-read", ["inspect", "{tmp}/c.jsonl.gz", "--tokenizer", "none"], 0, "c.jsonl.gz: 6 passages",
         {"c.jsonl.gz": gzipped(corpus_jsonl())}, stream="stdout"),
    Case("gzip-with-format", ["inspect", "{tmp}/c.gz", "--format", "jsonl", "--tokenizer", "none"], 0,
         "c.gz: 6 passages", {"c.gz": gzipped(corpus_jsonl())}, stream="stdout"),
    Case("gzip-beir-folder", ["evaluate", "--data", "{tmp}/beir", "--retriever", "bm25", "--out", "{tmp}/e.json"], 0,
         "3 test queries with qrels", {f"{k}.gz": gzipped(v) for k, v in beir().items()}, stream="stdout",
         check=_evaluated_queries(3)),
    Case("gzip-beir-folder-split-names", ["run", "--data", "{tmp}/beir", "--out", "{tmp}/run", "--set",
                                          "evaluate.split=tset"], 2,
         "qrels/tset.tsv: no qrels for evaluate.split 'tset'; the folder's splits: test",
         {f"{k}.gz": gzipped(v) for k, v in beir().items()}, check=_no_folder("run")),
    Case("gzip-name-without-format", ["inspect", "{tmp}/c.gz", "--tokenizer", "none"], 1,
         "c.gz: cannot tell the corpus format from the name (no suffix before '.gz')",
         {"c.gz": gzipped(corpus_jsonl())}),
    Case("gzip-truncated", ["inspect", "{tmp}/c.jsonl.gz", "--tokenizer", "none"], 1,
         "c.jsonl.gz: the gzip stream is damaged or truncated", {"c.jsonl.gz": gzipped(corpus_jsonl())[:-12]}),
    Case("zip-archive", ["inspect", "{tmp}/c.jsonl", "--tokenizer", "none"], 1,
         "c.jsonl: is a zip archive, not a text file; unzip it", {"c.jsonl": b"PK\x03\x04" + bytes(range(200))}),
    # 19. a file that cannot be read is skipped, counted and listed
    Case("unreadable-file-in-a-text-folder", ["inspect", "{tmp}/docs", "--tokenizer", "none"], 0,
         "b.txt: cannot be opened or read (no permission, an I/O error, or not a regular file) (OSError: no such "
         "device or address)", stream="stdout",
         setup=text_folder_with_an_unreadable_file, check=_one_passage),
]


@pytest.fixture
def isolated_caches(tmp_path, monkeypatch):
    """Empty corpustune and Hugging Face caches of this test's own."""
    import huggingface_hub

    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input(case: Case, tmp_path, isolated_caches):
    if case.needs:
        pytest.importorskip(case.needs)
    for relative, content in case.files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    case.setup(tmp_path)
    with case.around(tmp_path):
        result = CliRunner().invoke(app, [arg.replace("{tmp}", str(tmp_path)) for arg in case.args], env=case.env)
    output = result.stdout if case.stream == "stdout" else result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert result.exit_code == case.code, result.output
    assert case.fragment.replace("{tmp}", str(tmp_path)) in output, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == (1 if case.code == 2 and "Usage:" not in result.stderr else 0), result.stderr
    case.check(tmp_path, result)


def test_debug_shows_the_traceback(tmp_path):
    result = CliRunner().invoke(app, ["--debug", "evaluate", "--data", str(tmp_path / "absent"), "--retriever", "bm25"])
    assert isinstance(result.exception, InputError) and "no such file or folder" in str(result.exception)


def test_unreachable_hub_fails_at_once(tmp_path):
    """A hub id when the hub does not answer (here: nothing listens at HF_ENDPOINT), in a process of its own."""
    (tmp_path / "c.jsonl").write_text(corpus_jsonl())
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"} | {
        "HF_ENDPOINT": "http://127.0.0.1:9", "HF_HUB_CACHE": str(tmp_path / "hf-cache"), "PYTHONPATH": str(ROOT)}
    completed = subprocess.run(
        [sys.executable, "-m", "corpustune", "train", "--data", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "run"),
         "--model", "BAAI/bge-small-en-v1.5"], capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 2, completed.stderr
    assert completed.stderr.startswith("error: BAAI/bge-small-en-v1.5: the Hugging Face hub cannot be reached (")
    assert "Traceback" not in completed.stderr and len(completed.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_ctrl_c_in_run_is_reported_as_interrupted(tmp_path, tiny_biencoder_path):
    """SIGINT to `corpustune run` in the middle of generation: exit 130, the stage recorded as interrupted."""
    (tmp_path / "c.jsonl").write_text(corpus_jsonl())
    out = tmp_path / "run"
    with ScriptedServer(delay_s=1.0) as server:
        settings = {
            "generate": {"backend": {"name": "openai", "model": "scripted", "base_url": server.base_url,
                                     "max_concurrency": 1}, "types": ["question"], "batch_passages": 1},
            "mine": {"dense": []}, "score": {"teachers": [{"kind": "bm25"}]},
            "train": {"model": str(tiny_biencoder_path), "query_max_tokens": 16, "passage_max_tokens": 32},
        }
        (tmp_path / "settings.yaml").write_text(json.dumps(settings))
        process = subprocess.Popen(
            [sys.executable, "-m", "corpustune", "run", "--data", str(tmp_path / "c.jsonl"), "--out", str(out),
             "--config", str(tmp_path / "settings.yaml")],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=os.environ | {"PYTHONPATH": str(ROOT), "CORPUSTUNE_CACHE": str(tmp_path / "cache")},
            # a test run started in the background (`pytest &`) inherits SIGINT ignored, and so
            # would the child; Ctrl-C is what is tested, so the child gets the default handling
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        deadline = time.monotonic() + 120
        while server.requests == 0 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stdout + stderr
    assert "[1/8] generate   interrupted after" in stdout and "FAILED" not in stdout
    assert "interrupted" in stderr.splitlines() and "Traceback" not in stderr
    timings = json.loads((out / "timings.json").read_text())
    assert [t["status"] for t in timings["stages"]] == ["interrupted"]
