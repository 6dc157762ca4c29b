"""PDF, HTML and DOCX files in a text folder: passages with their source in the id, main text only,
and every file that yields no text counted and listed with its reason (inspect, run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpustune.cli import app
from corpustune.data.corpus import CorpusSpec, ReadReport, read_passages
from tests.document_samples import (
    ARTICLE,
    BAD_FILES,
    DOCX_PARAGRAPHS,
    GOOD_FILES,
    MARKDOWN,
    NAVIGATION,
    PDF_PAGES,
    text_pdf,
    write_sample_folder,
)
from tests.llm_server import ScriptedServer
from tests.tiny_models import build_tiny_biencoder
from tests.train_fixtures import one_thread  # noqa: F401  (fixture used by the run test's mark)

pytest.importorskip("pypdf", reason="needs the docs extra: pip install 'corpustune[docs]'")
pytest.importorskip("fpdf", reason="needs fpdf2 (dev extra) to write the test PDFs")


@pytest.fixture(scope="module")
def samples(tmp_path_factory) -> Path:
    return write_sample_folder(tmp_path_factory.mktemp("documents") / "docs")


def test_good_files_become_passages_with_their_source_and_bad_files_are_counted(samples):
    report = ReadReport()
    passages = {p.id: p.text for p in read_passages(CorpusSpec(path=samples), report)}
    assert sorted(passages) == ["notes.md", "page.html", "report.docx", "report.pdf#p1", "report.pdf#p2"]
    assert [passages["report.pdf#p1"], passages["report.pdf#p2"]] == PDF_PAGES
    assert passages["notes.md"] == MARKDOWN.strip()
    # the page's main text only: the article, not the navigation, sidebar or footer
    page = passages["page.html"]
    assert all(text in page for text in ARTICLE)
    assert not any(word in page for word in [*NAVIGATION, "Copyright", "houseplants"]), page
    assert passages["report.docx"] == " ".join(DOCX_PARAGRAPHS + ["panel output monocrystalline high"])
    assert {bad.path: bad.reason for bad in report.bad_files} == BAD_FILES
    assert report.bad_counts() == {"encrypted": 1, "no-text-layer": 1, "unreadable": 1}
    assert report.kept == 5 and "3 files yield no text (1 encrypted, 1 no-text-layer, 1 unreadable)" in report.summary()


def test_a_long_page_is_split_with_overlap_and_keeps_its_page_in_the_id(tmp_path):
    words = [f"w{i}" for i in range(25)]
    (tmp_path / "long.pdf").write_bytes(text_pdf(["short first page", " ".join(words)]))
    passages = read_passages(CorpusSpec(path=tmp_path, chunk_words=10, chunk_overlap=2))
    assert [p.id for p in passages] == ["long.pdf#p1", "long.pdf#p2#0", "long.pdf#p2#1", "long.pdf#p2#2"]
    assert passages[1].text.split() == words[:10] and passages[2].text.split() == words[8:18]
    assert passages[3].text.split() == words[16:]


def test_an_empty_page_and_an_empty_document_are_reported_not_dropped(tmp_path):
    (tmp_path / "blank.html").write_text("<html><head><title>Soon</title></head><body><script>load()</script></body></html>")
    (tmp_path / "gaps.pdf").write_bytes(text_pdf(["some text on page one", ""]))
    report = ReadReport()
    passages = read_passages(CorpusSpec(path=tmp_path), report)
    assert [p.id for p in passages] == ["gaps.pdf#p1"]
    assert report.skipped_empty_examples == ["gaps.pdf#p2"]  # the blank page, counted as an empty text
    assert [(bad.path, bad.reason) for bad in report.bad_files] == [("blank.html", "no-text")]


BLANK_PAGE = "<html><head><title>Soon</title></head><body><script>load()</script></body></html>"


def test_entries_not_read_and_documents_without_text_are_one_list_of_the_report(tmp_path):
    (tmp_path / ".draft.txt").write_text("a hidden draft")
    (tmp_path / "notes.rst").write_text("Title\n=====\n")
    (tmp_path / "a.txt").write_text("Aspirin lowers the risk of heart attack.")
    (tmp_path / "blank.html").write_text(BLANK_PAGE)
    report = ReadReport()
    assert [p.id for p in read_passages(CorpusSpec(path=tmp_path), report)] == ["a.txt"]
    assert [(f.path, f.reason, f.read) for f in report.skipped_files] == [
        (".draft.txt", "hidden", False), ("blank.html", "no-text", True), ("notes.rst", "type", False)]
    assert report.ignored_counts() == {"hidden": 1, "type": 1} and report.bad_counts() == {"no-text": 1}
    assert report.summary() == ("1 passage read; 1 file yields no text (1 no-text); ignored 1 hidden file or "
                                "folder, 1 file of another type (first: .draft.txt, notes.rst)")
    result = CliRunner().invoke(app, ["inspect", str(tmp_path), "--tokenizer", "none"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "ignored: 1 hidden file or folder, 1 file of another type (first: .draft.txt, notes.rst)" in lines
    assert "files without text: 1 (1 no-text)" in lines
    assert "  blank.html: no text found in it (no main text in the page)" in lines


def test_a_folder_whose_documents_all_yield_no_text_is_rejected_with_the_reasons(tmp_path):
    (tmp_path / "blank.html").write_text(BLANK_PAGE)
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    result = CliRunner().invoke(app, ["generate", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.splitlines() == [
        f"error: {tmp_path}: no passages: 2 files yield no text (1 unreadable, 1 no-text); fix or replace those "
        f"files (`corpustune inspect {tmp_path}` lists them), or add .txt/.md/.pdf/.html/.htm/.docx files with text"]
    assert not (tmp_path / "run").exists()


def test_inspect_lists_the_passages_of_good_files_and_each_bad_file_with_its_reason(samples):
    result = CliRunner().invoke(app, ["inspect", str(samples), "--tokenizer", "none"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"{samples}: 5 passages" in lines[0]
    for name, count in GOOD_FILES.items():
        assert any(line.split() == [name, str(count)] for line in lines), (name, result.output)
    assert "files without text: 3 (1 encrypted, 1 no-text-layer, 1 unreadable)" in lines
    assert "  locked.pdf: encrypted PDF (a password is needed to read it)" in lines
    assert any(line.startswith("  scan.pdf: PDF without a text layer (scanned or image-only") for line in lines)
    assert any(line.startswith("  broken.docx: not a readable file of its format") for line in lines)

    summary = json.loads(CliRunner().invoke(app, ["inspect", str(samples), "--tokenizer", "none", "--json"]).output)
    assert summary["files"] == GOOD_FILES
    assert {entry["path"]: entry["reason"] for entry in summary["skipped_files"]} == BAD_FILES
    assert summary["skipped_counts"] == {"encrypted": 1, "no-text-layer": 1, "unreadable": 1}


@pytest.mark.usefixtures("one_thread")
def test_run_on_a_folder_of_documents_completes_and_lists_the_bad_files_first(samples, tmp_path):
    texts = [p.text for p in read_passages(CorpusSpec(path=samples))]
    student = str(build_tiny_biencoder(tmp_path / "student", texts + ["question keywords about what how"]))
    run = tmp_path / "run"
    with ScriptedServer() as server:
        config = {
            "generate": {"backend": {"name": "openai", "model": "scripted", "base_url": server.base_url},
                         "types": ["question", "keywords"], "max_passages": None, "heldout_count": 1,
                         "heldout_max_fraction": 0.3, "few_shot_count": 1},
            "mine": {"dense": [{"model": student}], "depth": 5, "list_size": 3, "filter_top_n": None},
            "score": {"teachers": [{"kind": "bm25"}], "require_positive_first": False, "top_score_percentile": None},
            "train": {"model": student, "loss": "combined", "list_size": 3, "queries_per_step": 4, "epochs": 1,
                      "query_max_tokens": 16, "passage_max_tokens": 32, "dev_fraction": 0.2},
            "select": {"weights": [0.0, 1.0]},
        }
        (tmp_path / "tiny.yaml").write_text(json.dumps(config))
        result = CliRunner().invoke(app, ["run", "--data", str(samples), "--out", str(run),
                                          "--config", str(tmp_path / "tiny.yaml")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    lines = result.output.splitlines()
    assert "5 passages read; 3 files yield no text (1 encrypted, 1 no-text-layer, 1 unreadable)" in lines[0]
    assert lines[1].startswith("  broken.docx: ") and lines[2].startswith("  locked.pdf: ")
    assert "[8/8] report     done" in result.output
    assert (run / "model" / "model.safetensors").exists() and (run / "report.html").exists()
    sources = {json.loads(line)["source_id"] for line in (run / "queries" / "queries.jsonl").open()}
    assert sources <= {"notes.md", "page.html", "report.docx", "report.pdf#p1", "report.pdf#p2"} and sources
