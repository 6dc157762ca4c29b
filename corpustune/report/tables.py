"""The report's tables as plain (header, rows) string grids, shared by the HTML and Markdown
renderers so both show the same numbers. Cells are raw text; each renderer escapes them."""

from __future__ import annotations

from dataclasses import dataclass

from corpustune.pipeline.runner import format_seconds
from corpustune.report.schema import ARM_LABELS, ReportData


@dataclass(frozen=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    numeric: frozenset[int] = frozenset()  # column indices to right-align


def _points(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def metrics_tables(data: ReportData) -> dict[str, Table]:
    """One table per measure. Rows: evaluation sets. Columns: each arm x100, then tuned - base."""
    arms = data.arms()
    with_delta = "tuned" in arms and "base" in arms
    header = ["evaluation", "queries"] + [ARM_LABELS.get(arm, arm) for arm in arms]
    header += ["tuned - base"] if with_delta else []
    tables = {}
    for measure in data.measures():
        rows = []
        for evaluation in data.evaluations:
            values = {arm: evaluation.results.get(arm, {}).get(measure) for arm in arms}
            row = [evaluation.label, str(evaluation.num_queries)] + [_points(values[arm]) for arm in arms]
            if with_delta:
                base, tuned = values["base"], values["tuned"]
                row.append("" if base is None or tuned is None else f"{100 * (tuned - base):+.2f}")
            rows.append(row)
        tables[measure] = Table(header, rows, frozenset(range(1, len(header))))
    return tables


def filters_table(data: ReportData) -> Table:
    rows = []
    for count in data.filters:
        total = count.kept + count.dropped
        share = f"{100 * count.dropped / total:.1f} %" if total else ""
        rows.append([count.stage, count.filter, count.query_type or "all", str(count.kept), str(count.dropped), share])
    return Table(["stage", "filter", "query type", "kept", "dropped", "dropped share"], rows, frozenset({3, 4, 5}))


def examples_table(data: ReportData) -> Table:
    rows = [[example.type, example.text, example.passage_title or (example.passage_id or "")]
            for example in data.examples]
    return Table(["type", "query", "source passage"], rows)


def timings_table(data: ReportData) -> Table:
    rows = [[timing.stage, timing.status, format_seconds(timing.seconds)] for timing in data.timings]
    if data.timings:
        rows.append(["total", "", format_seconds(sum(t.seconds for t in data.timings))])
    return Table(["stage", "status", "time"], rows, frozenset({2}))


def settings_table(data: ReportData) -> Table:
    return Table(["setting", "value"], [[key, value] for key, value in data.settings.items()])
