"""Render ReportData as one self-contained HTML page: inline CSS, figures as base64 PNG data URIs,
no scripts, no external requests. Every piece of user text goes through `html.escape`, and a
Content-Security-Policy forbids scripts and non-inline resources as a second line of defence."""

from __future__ import annotations

import base64
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

CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'none'"
_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1100px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin-top: 2rem; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.5rem 0; font-size: 0.9rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 0.5rem 0; }
pre { background: #f6f6f6; padding: 0.75rem; overflow-x: auto; }
p.empty { color: #777; font-style: italic; }
"""


def image_tag(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{encoded}" alt="{escape(alt)}">'


def table_html(table: Table, empty: str) -> str:
    if not table.rows:
        return f'<p class="empty">{escape(empty)}</p>'
    head = "".join(f"<th>{escape(cell)}</th>" for cell in table.header)
    body = []
    for row in table.rows:
        cells = "".join(f'<td class="num">{escape(cell)}</td>' if index in table.numeric else f"<td>{escape(cell)}</td>"
                        for index, cell in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(data: ReportData, metrics_png: bytes | None, loss_png: bytes | None,
                interpolation_png: bytes | None = None) -> str:
    """The page as a string; the PNGs come from `plots` (None = section says there is no data)."""
    parts = [f"<h1>{escape(data.title)}: {escape(data.dataset)}</h1>"]
    if data.model is not None:
        parts.append("<h2>Tuned model</h2>")
        parts.append(f"<p>Saved at <code>{escape(data.model.path)}</code>"
                     + (f", tuned from <code>{escape(data.model.base_model)}</code>" if data.model.base_model else "")
                     + ". Load it with sentence-transformers:</p>")
        parts.append(f"<pre><code>{escape(data.model.load_snippet())}</code></pre>")
    if data.publication is not None:
        parts.append("<h2>Published model</h2>")
        parts.append(f"<p>{escape(data.publication.verdict)}</p>")
        if interpolation_png is not None:
            parts.append(image_tag(interpolation_png, "retrieval quality against the interpolation weight"))
        parts.append(table_html(interpolation_table(data), ""))
    parts.append("<h2>Base vs tuned</h2>")
    parts.append("<p>Metric values x 100; human queries use the dataset's qrels, synthetic ones the held-out "
                 "passages' own queries.</p>")
    if metrics_png is not None:
        parts.append(image_tag(metrics_png, "bar chart of retrieval metrics per evaluation set and model"))
    for measure, table in metrics_tables(data).items():
        parts.append(f"<h3>{escape(measure)} x 100</h3>")
        parts.append(table_html(table, ""))
    if not data.evaluations:
        parts.append('<p class="empty">no evaluation results</p>')
    parts.append("<h2>Training</h2>")
    if loss_png is not None:
        parts.append(image_tag(loss_png, "training and dev loss curves"))
    else:
        parts.append('<p class="empty">no training curves recorded</p>')
    for curves in data.training:
        if curves.best:
            parts.append(f"<p>{escape(curves.arm)}: best checkpoint {escape(curves.best)}</p>")
    parts.append("<h2>Kept and dropped per filter</h2>")
    parts.append(table_html(filters_table(data), "no filter counts recorded"))
    parts.append("<h2>Query examples</h2>")
    parts.append(table_html(examples_table(data), "no query examples recorded"))
    parts.append("<h2>Time per stage</h2>")
    parts.append(table_html(timings_table(data), "no timings recorded"))
    if data.settings:
        parts.append("<h2>Settings</h2>")
        parts.append(table_html(settings_table(data), ""))
    if data.notes:
        parts.append("<h2>Notes</h2><ul>" + "".join(f"<li>{escape(note)}</li>" for note in data.notes) + "</ul>")
    title = escape(f"{data.title}: {data.dataset}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>{title}</title>'
            f"<style>{_STYLE}</style></head>\n<body>\n" + "\n".join(parts) + "\n</body></html>\n")
