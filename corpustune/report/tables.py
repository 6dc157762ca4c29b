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
    """One table per measure. Rows: evaluation sets. Columns: each arm x100, then tuned - base and
    published - base (paired per query, ± its standard error, x100) where the data has them."""
    arms = data.arms()
    deltas = [arm for arm in ("tuned", "published") if arm in arms and "base" in arms]
    header = ["evaluation", "queries"] + [ARM_LABELS.get(arm, arm) for arm in arms]
    header += [f"{ARM_LABELS.get(arm, arm)} - base" for arm in deltas]
    tables = {}
    for measure in data.measures():
        rows = []
        for evaluation in data.evaluations:
            values = {arm: evaluation.results.get(arm, {}).get(measure) for arm in arms}
            row = [evaluation.label, str(evaluation.num_queries)] + [_points(values[arm]) for arm in arms]
            for arm in deltas:
                row.append(_difference(evaluation, arm, measure, values))
            rows.append(row)
        tables[measure] = Table(header, rows, frozenset(range(1, len(header))))
    return tables


def _difference(evaluation, arm: str, measure: str, values: dict) -> str:
    paired = evaluation.paired.get(arm, {}).get(measure)
    if paired is not None:
        return f"{100 * paired.mean:+.2f} ± {100 * paired.se:.2f}"
    base, ours = values["base"], values[arm]
    return "" if base is None or ours is None else f"{100 * (ours - base):+.2f}"


def interpolation_table(data: ReportData) -> Table:
    """Rows: query sets; columns: the measure x100 at each interpolation weight."""
    publication = data.publication
    if publication is None or not publication.curves:
        return Table(["query set"], [])
    weights = sorted({a for curve in publication.curves for a, _ in curve.points})
    rows = []
    for curve in publication.curves:
        values = dict(curve.points)
        rows.append([curve.name + (" (decides)" if curve.deciding else "")]
                    + [_points(values.get(a)) for a in weights])
    return Table(["query set"] + [f"a = {a:g}" for a in weights], rows, frozenset(range(1, len(weights) + 1)))


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
