"""The run report: `RUN/report.html` (self-contained) and `RUN/report.md` from a `ReportData`.

    from corpustune.report import ReportData, write_report
    write_report(run_dir, ReportData(dataset="scifact", evaluations=[...], ...))
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from corpustune.data.atomic import atomic_open, write_text_atomic
from corpustune.layout import RunLayout
from corpustune.report.collect import stage_timings
from corpustune.report.html import render_html
from corpustune.report.markdown import render_markdown
from corpustune.report.plots import interpolation_figure, loss_figure, metrics_figure
from corpustune.report.schema import (
    DevPoint,
    EvalSet,
    FilterCount,
    ModelInfo,
    QueryExample,
    ReportData,
    StageTiming,
    TrainingCurves,
    TrainPoint,
    load_report_data,
)


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    figures: tuple[Path, ...]


def write_report(run_dir: str | os.PathLike, data: ReportData) -> ReportPaths:
    """Write `RUN/report.html`, `RUN/report.md` and the PNGs the Markdown links to
    (`RUN/report_files/*.png`), each atomically."""
    layout = RunLayout(run_dir)
    metrics_png, loss_png = metrics_figure(data), loss_figure(data.training)
    interpolation_png = interpolation_figure(data.publication)
    figures, names = [], {}
    for name, png in (("metrics.png", metrics_png), ("losses.png", loss_png), ("interpolation.png", interpolation_png)):
        if png is not None:
            path = layout.report_files / name
            with atomic_open(path, "wb") as handle:
                handle.write(png)
            figures.append(path)
            names[name] = layout.relative(path)
    html_path, md_path = layout.report_html, layout.report_markdown
    write_text_atomic(html_path, render_html(data, metrics_png, loss_png, interpolation_png))
    write_text_atomic(md_path, render_markdown(data, names.get("metrics.png"), names.get("losses.png"),
                                               names.get("interpolation.png")))
    return ReportPaths(html_path, md_path, tuple(figures))


__all__ = [
    "DevPoint", "EvalSet", "FilterCount", "ModelInfo", "QueryExample", "ReportData", "ReportPaths",
    "StageTiming", "TrainPoint", "TrainingCurves", "load_report_data", "stage_timings", "write_report",
]
