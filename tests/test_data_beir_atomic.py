"""BEIR queries/qrels reading and the crash-safe writers."""

from __future__ import annotations

import json

import pytest

from corpustune.data.atomic import JsonlAppender, atomic_open, read_jsonl_log, write_json_atomic
from corpustune.data.beir import load_split, read_qrels, read_queries, write_qrels
from corpustune.errors import InputError


def test_qrels_header_and_graded_scores(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td3\t1\n")
    assert read_qrels(path) == {"q1": {"d1": 2, "d2": 0}, "q2": {"d3": 1}}
    write_qrels(tmp_path / "copy.tsv", read_qrels(path))
    assert read_qrels(tmp_path / "copy.tsv") == read_qrels(path)


def test_qrels_bad_line_is_named(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("q1\td1\t1\nq1 d2 1\n")
    with pytest.raises(InputError, match=r"test\.tsv: line 2: expected 3 tab-separated fields"):
        read_qrels(path)


def test_split_needs_query_texts(tmp_path):
    (tmp_path / "qrels").mkdir()
    (tmp_path / "qrels" / "test.tsv").write_text("q1\td1\t1\nq9\td1\t1\n")
    (tmp_path / "queries.jsonl").write_text(json.dumps({"_id": "q1", "text": "hi"}) + "\n")
    with pytest.raises(InputError, match=r"1 query id with qrels but no text .*\['q9'\]"):
        load_split(tmp_path, "test")
    with pytest.raises(InputError, match=r"no qrels for split 'dev'; available splits: \['test'\]"):
        load_split(tmp_path, "dev")


def test_duplicate_query_id(tmp_path):
    path = tmp_path / "queries.jsonl"
    path.write_text('{"_id": "q", "text": "a"}\n{"_id": "q", "text": "b"}\n')
    with pytest.raises(InputError, match=r"line 2: query id 'q' appears twice"):
        read_queries(path)


def test_appender_cuts_a_torn_tail_and_keeps_finished_lines(tmp_path):
    path = tmp_path / "log.jsonl"
    with JsonlAppender(path) as log:
        log.append_many([{"i": 0}, {"i": 1}])
    with open(path, "a") as handle:
        handle.write('{"i": 2, "partial')
    assert [r["i"] for r in read_jsonl_log(path)] == [0, 1]
    with JsonlAppender(path) as log:
        log.append_many([{"i": 2}])
    assert [r["i"] for r in read_jsonl_log(path)] == [0, 1, 2]


def test_atomic_write_leaves_old_file_on_failure(tmp_path):
    path = tmp_path / "out.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with atomic_open(path) as handle:
            handle.write('{"a": 2, "half')
            raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]
