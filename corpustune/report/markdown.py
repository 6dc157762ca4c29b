"""Render ReportData as Markdown: the same tables as the HTML page, figures linked as PNG files
next to it. Cells are escaped so user text cannot break a table or inject HTML."""

from __future__ import annotations

from html import escape

from corpustune.report.schema import ReportData
from corpustune.report.tables import (
    Table,
    examples_table,
    filters_table,
    interpolation_table,
    metrics_tables,
    settings_table,
    timings_table,
)


def md_cell(text: str) -> str:
    """One table cell: HTML-escaped, pipes and backslashes escaped, whitespace runs made single."""
    flat = " ".join(text.split())
    return escape(flat, quote=False).replace("\\", "\\\\").replace("|", "\\|")


def table_md(table: Table, empty: str) -> str:
    if not table.rows:
        return f"_{empty}_"
    align = ["---:" if index in table.numeric else "---" for index in range(len(table.header))]
    lines = ["| " + " | ".join(md_cell(cell) for cell in table.header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(md_cell(cell) for cell in row) + " |" for row in table.rows]
    return "\n".join(lines)


def render_markdown(data: ReportData, metrics_image: str | None, loss_image: str | None,
                    interpolation_image: str | None = None) -> str:
    """The report as Markdown; image arguments are relative paths of the PNGs (None = none)."""
    parts = [f"# {md_cell(data.title)}: {md_cell(data.dataset)}"]
    if data.model is not None:
        parts.append("## Tuned model")
        origin = f", tuned from `{md_cell(data.model.base_model)}`" if data.model.base_model else ""
        parts.append(f"Saved at `{md_cell(data.model.path)}`{origin}. Load it with sentence-transformers:")
        parts.append(f"```python\n{data.model.load_snippet()}\n```")
    if data.publication is not None:
        parts.append("## Published model")
        parts.append(md_cell(data.publication.verdict))
        if interpolation_image:
            parts.append(f"![retrieval quality against the interpolation weight]({interpolation_image})")
        parts.append(table_md(interpolation_table(data), ""))
    parts.append("## Base vs tuned")
    parts.append("Metric values x 100; human queries use the dataset's qrels, synthetic ones the held-out "
                 "passages' own queries.")
    if metrics_image:
        parts.append(f"![retrieval metrics per evaluation set and model]({metrics_image})")
    for measure, table in metrics_tables(data).items():
        parts.append(f"### {md_cell(measure)} x 100")
        parts.append(table_md(table, ""))
    if not data.evaluations:
        parts.append("_no evaluation results_")
    parts.append("## Training")
    parts.append(f"![training and dev loss curves]({loss_image})" if loss_image else "_no training curves recorded_")
    parts += [f"{md_cell(c.arm)}: best checkpoint {md_cell(c.best)}" for c in data.training if c.best]
    parts.append("## Kept and dropped per filter")
    parts.append(table_md(filters_table(data), "no filter counts recorded"))
    parts.append("## Query examples")
    parts.append(table_md(examples_table(data), "no query examples recorded"))
    parts.append("## Time per stage")
    parts.append(table_md(timings_table(data), "no timings recorded"))
    if data.settings:
        parts.append("## Settings")
        parts.append(table_md(settings_table(data), ""))
    if data.notes:
        parts.append("## Notes")
        parts.append("\n".join(f"- {md_cell(note)}" for note in data.notes))
    return "\n\n".join(parts) + "\n"
