"""Run report: tables follow the data, user text is escaped, figures are real PNGs inlined."""

from __future__ import annotations

import base64
import io
import re
import struct

import pytest
from PIL import Image

from corpustune.errors import InputError
from corpustune.report import DevPoint, EvalSet, ReportData, load_report_data, write_report
from corpustune.report.tables import metrics_tables
from tests.report_sample import HOSTILE, sample_report_data

DATA_URI = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG signature and IHDR chunk (independent of any image library)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_metrics_tables_show_every_value_x100_and_the_tuned_gain():
    data = sample_report_data()
    arms = ["base", "tuned", "infonce", "listwise", "combined"]
    assert data.arms() == arms and data.measures() == ["nDCG@10", "R@100"]
    tables = metrics_tables(data)
    assert list(tables) == ["nDCG@10", "R@100"]
    for measure, table in tables.items():
        assert table.header == ["evaluation", "queries", "base", "tuned", "InfoNCE only", "listwise only",
                                "listwise + InfoNCE", "tuned - base"]
        for evaluation, row in zip(data.evaluations, table.rows, strict=True):
            values = [evaluation.results[arm][measure] for arm in arms]
            assert row == [evaluation.label, str(evaluation.num_queries)] + [f"{100 * v:.2f}" for v in values] + [
                f"{100 * (values[1] - values[0]):+.2f}"]


def test_html_is_self_contained_with_two_png_figures(tmp_path):
    paths = write_report(tmp_path, sample_report_data())
    page = paths.html.read_text(encoding="utf-8")
    images = [base64.b64decode(match) for match in DATA_URI.findall(page)]
    assert len(images) == 2 == page.count("<img ")
    # metrics panel width depends on the number of groups; the loss figure is 10 x 3.6 in at 100 dpi
    assert png_size(images[1]) == (1000, 360)
    for png in images:
        width, height = png_size(png)
        pixels = Image.open(io.BytesIO(png)).convert("L")
        assert pixels.size == (width, height)
        dark = sum(1 for value in pixels.getdata() if value < 128)
        assert dark > 0.005 * width * height  # axes, bars, lines and text were drawn
    assert not re.search(r'(src|href)="(?!data:)', page), "no external resources"
    assert "<script" not in page.lower()
    assert [p.name for p in paths.figures] == ["metrics.png", "losses.png"]
    assert [p.read_bytes() for p in paths.figures] == images


def test_user_text_is_escaped_in_html_and_markdown(tmp_path):
    paths = write_report(tmp_path, sample_report_data())
    page = paths.html.read_text(encoding="utf-8")
    assert HOSTILE not in page and "onerror=" not in page.replace("onerror=&quot;", "")
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page
    markdown = paths.markdown.read_text(encoding="utf-8")
    assert "<script" not in markdown and "<img" not in markdown
    for block in re.split(r"\n\n", markdown):
        lines = block.splitlines()
        if lines and lines[0].startswith("| "):
            cells_per_line = {len(re.split(r"(?<!\\)\|", line)) for line in lines}
            assert len(cells_per_line) == 1, f"a table row has a different number of cells:\n{block}"


def test_markdown_links_the_figures_and_shows_how_to_load_the_model(tmp_path):
    paths = write_report(tmp_path, sample_report_data(model_path="runs/x/model"))
    markdown = paths.markdown.read_text(encoding="utf-8")
    for figure in paths.figures:
        assert f"]({figure.relative_to(tmp_path).as_posix()})" in markdown
    assert 'SentenceTransformer("runs/x/model")' in markdown
    assert "SentenceTransformer(&quot;runs/x/model&quot;)" in paths.html.read_text(encoding="utf-8")


def test_empty_report_renders_without_figures(tmp_path):
    paths = write_report(tmp_path, ReportData(dataset="my docs"))
    page = paths.html.read_text(encoding="utf-8")
    assert "<img" not in page and "no evaluation results" in page and paths.figures == ()
    assert "no training curves recorded" in paths.markdown.read_text(encoding="utf-8")


@pytest.mark.parametrize("bad, message", [
    (lambda: EvalSet(name="x", source="human", num_queries=1, results={"tuned": {"nDCG@10": 0.5}}), "base"),
    (lambda: EvalSet(name="x", source="human", num_queries=1, results={"base": {"nDCG@10": 64.5}}), "fractions"),
    (lambda: DevPoint(dev_loss=1.0), "epoch or a step"),
])
def test_invalid_report_data_is_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_report_data_round_trips_through_json_and_bad_files_are_named(tmp_path):
    data = sample_report_data()
    path = tmp_path / "report.json"
    path.write_text(data.model_dump_json())
    assert load_report_data(path) == data
    path.write_text('{"dataset": "x", "evaluations": [{"name": "t"}]}')
    with pytest.raises(InputError, match="report.json"):
        load_report_data(path)
