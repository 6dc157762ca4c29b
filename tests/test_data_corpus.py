"""Corpus readers: every format, and every kind of bad input with its exact error."""

from __future__ import annotations

import json

import pytest

from corpustune.data.chunking import split_words
from corpustune.data.corpus import CorpusSpec, ReadReport, read_passages
from corpustune.data.inspect import inspect_corpus
from corpustune.data.records import Passage
from corpustune.data.visible import has_visible_text
from corpustune.errors import InputError


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_beir_folder_reads_id_title_text(tmp_path):
    write_jsonl(tmp_path / "corpus.jsonl", [{"_id": 7, "title": "T", "text": "body"}, {"_id": "b", "text": "x"}])
    passages = read_passages(CorpusSpec(path=tmp_path))
    assert passages == [Passage("7", "body", "T"), Passage("b", "x", "")]


def test_jsonl_with_configured_field_names(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"doc": "a1", "heading": "H", "body": "words here"}])
    spec = CorpusSpec(path=path, id_field="doc", title_field="heading", text_field="body")
    assert read_passages(spec) == [Passage("a1", "words here", "H")]


def test_jsonl_falls_back_to_plain_id_field(tmp_path):
    path = write_jsonl(tmp_path / "docs.jsonl", [{"id": "x", "text": "t"}])
    assert read_passages(CorpusSpec(path=path))[0].id == "x"


@pytest.mark.parametrize("suffix,delimiter", [(".csv", ","), (".tsv", "\t")])
def test_delimited_files(tmp_path, suffix, delimiter):
    path = tmp_path / f"docs{suffix}"
    path.write_text(
        delimiter.join(["id", "title", "text"]) + "\n"
        + delimiter.join(["1", "First", '"multi\nline text"' if suffix == ".csv" else "plain text"]) + "\n"
        + delimiter.join(["2", "", "second"]) + "\n",
        encoding="utf-8",
    )
    passages = read_passages(CorpusSpec(path=path))
    assert [p.id for p in passages] == ["1", "2"]
    assert passages[0].title == "First"
    assert passages[0].text == ("multi\nline text" if suffix == ".csv" else "plain text")


def test_csv_record_without_text_names_line(tmp_path):
    path = tmp_path / "docs.csv"
    path.write_text("id,body\n1,hello\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"docs\.csv: line 2: record '1' has no 'text' field .*--text-field"):
        read_passages(CorpusSpec(path=path))


def test_parquet(tmp_path):
    pyarrow = pytest.importorskip("pyarrow")
    import pyarrow.parquet as parquet

    table = pyarrow.table({"_id": ["p1", "p2"], "title": ["", "T"], "text": ["one", "two"]})
    parquet.write_table(table, tmp_path / "docs.parquet")
    assert read_passages(CorpusSpec(path=tmp_path / "docs.parquet")) == [Passage("p1", "one"), Passage("p2", "two", "T")]


def test_text_folder_ids_and_overlapping_chunks(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "short.md").write_text("# Note\nshort file", encoding="utf-8")
    (tmp_path / "sub" / "long.txt").write_text(" ".join(f"w{i}" for i in range(10)), encoding="utf-8")
    (tmp_path / "ignored.pdf").write_bytes(b"%PDF")
    passages = read_passages(CorpusSpec(path=tmp_path, chunk_words=4, chunk_overlap=1))
    assert [p.id for p in passages] == ["short.md", "sub/long.txt#0", "sub/long.txt#1", "sub/long.txt#2"]
    assert passages[0].text == "# Note\nshort file"
    assert [p.text for p in passages[1:]] == ["w0 w1 w2 w3", "w3 w4 w5 w6", "w6 w7 w8 w9"]


def test_split_words_covers_every_word_once_plus_overlap():
    words = [f"t{i}" for i in range(23)]
    chunks = split_words(" ".join(words), size=5, overlap=2)
    assert all(len(c.split()) <= 5 for c in chunks)
    rebuilt = chunks[0].split() + [w for c in chunks[1:] for w in c.split()[2:]]
    assert rebuilt == words


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"_id": "a", "text": "ok"}\n{"_id": "b", "text": \n', encoding="utf-8")
    with pytest.raises(InputError, match=r"corpus\.jsonl: line 2: malformed JSON"):
        read_passages(CorpusSpec(path=path))


def test_record_without_id_is_named(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"title": "no id", "text": "y"}])
    with pytest.raises(InputError, match=r"c\.jsonl: line 2: record has no id \(looked for '_id' or 'id'; fields: \['text', 'title'\]\)"):
        read_passages(CorpusSpec(path=path))


def test_record_without_text_is_named(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "title": "only a title"}])
    with pytest.raises(InputError, match=r"c\.jsonl: line 1: record 'a' has no 'text' field"):
        read_passages(CorpusSpec(path=path))


def test_duplicate_ids_are_listed_after_the_whole_file(tmp_path):
    records = [{"_id": i % 3, "text": f"t{i}"} for i in range(9)]
    path = write_jsonl(tmp_path / "c.jsonl", records)
    with pytest.raises(InputError, match=r"6 records repeat an id used earlier; first: '0' \(.*line 4\), '1' \(.*line 5\)"):
        read_passages(CorpusSpec(path=path))


def test_non_utf8_names_file_line_and_byte_offset(tmp_path):
    path = tmp_path / "c.jsonl"
    first = b'{"_id": "a", "text": "fine"}\n'
    path.write_bytes(first + b'{"_id": "b", "text": "caf\xe9"}\n')
    offset = len(first) + len(b'{"_id": "b", "text": "caf')
    with pytest.raises(InputError, match=rf"c\.jsonl: line 2: byte offset {offset} is not valid UTF-8 \(byte 0xe9\)"):
        read_passages(CorpusSpec(path=path))


def test_empty_texts_are_skipped_counted_and_reported(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "x"}, {"_id": "b", "text": "  "}, {"_id": "c", "text": ""}])
    report = ReadReport()
    assert [p.id for p in read_passages(CorpusSpec(path=path), report)] == ["a"]
    assert (report.kept, report.skipped_empty) == (1, 2)
    assert "2 skipped because their text is empty" in report.summary()
    assert "line 2" in report.summary() and "line 3" in report.summary()


@pytest.mark.parametrize(("text", "visible"), [
    ("\u0001\u0002\u0003\u0007\u001b[31m\u0000", False),  # control characters and a colour escape
    ("\u200b\u200c\u200d\u2060\ufeff\u200e", False),  # zero-width characters, byte order mark, direction mark
    ("\u00a0\u3000\u2028\t\r\n", False),  # no-break and ideographic spaces, line separator
    ("\u3164\u2800", False),  # Hangul filler and Braille blank: letters that render as nothing
    ("\u001b]0;title\u0007", False),  # a terminal title sequence
    ("\u001b[31mred\u001b[0m", True),  # coloured text is text
    ("\u200bx", True),
    ("\u00e9", True),
    ("\u0301", True),  # a lone combining accent still shows
])
def test_text_without_a_visible_character_is_empty(text, visible):
    assert has_visible_text(text) is visible


def test_unknown_suffix_and_missing_path(tmp_path):
    (tmp_path / "corpus.xml").write_text("<x/>")
    with pytest.raises(InputError, match="cannot tell the corpus format"):
        read_passages(CorpusSpec(path=tmp_path / "corpus.xml"))
    with pytest.raises(InputError, match="no such file or folder"):
        read_passages(CorpusSpec(path=tmp_path / "absent.jsonl"))


def test_inspect_reports_lengths_skips_and_rejections(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"_id": "a", "text": "ab"}, {"_id": "b", "text": "abcd"}, {"_id": "c", "text": ""}])
    summary = inspect_corpus(CorpusSpec(path=path))
    assert summary["passages"] == 2 and summary["skipped_empty"] == 1 and summary["rejected"] is None
    assert summary["characters"]["p50"] == 3.0 and summary["characters"]["max"] == 4.0
    with open(path, "a") as handle:
        handle.write('{"_id": "a", "text": "dup"}\n')
    assert "1 record repeats an id" in inspect_corpus(CorpusSpec(path=path))["rejected"]
