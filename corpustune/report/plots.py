"""Report figures as PNG bytes, drawn with matplotlib's Agg canvas (no pyplot, no global backend).

`loss_figure`: train loss per optimizer step and dev loss per epoch (or step), one line per arm.
`metrics_figure`: one panel per measure, grouped bars (x = evaluation set, bar = arm), values x100.
`interpolation_figure`: the deciding measure against the interpolation weight, one line per set.
Each returns None when there is nothing to draw.
"""

from __future__ import annotations

import io

from corpustune.report.schema import ARM_LABELS, Publication, ReportData, TrainingCurves

_DPI = 100


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return buffer.getvalue()


def loss_figure(training: list[TrainingCurves]) -> bytes | None:
    """Two panels, 10 x 3.6 inches: train loss vs step; dev loss vs epoch (or step if all have one)."""
    if not any(curves.train or curves.dev for curves in training):
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 3.6), layout="constrained")
    train_axes, dev_axes = figure.subplots(1, 2)
    dev_points = [point for curves in training for point in curves.dev]
    by_step = bool(dev_points) and all(point.step is not None for point in dev_points)
    for curves in training:
        label = ARM_LABELS.get(curves.arm, curves.arm)
        if curves.train:
            points = sorted(curves.train, key=lambda p: p.step)
            train_axes.plot([p.step for p in points], [p.train_loss for p in points], label=label, linewidth=1.2)
        if curves.dev:
            xs = [p.step if by_step else p.epoch for p in curves.dev]
            pairs = sorted((x, p.dev_loss) for x, p in zip(xs, curves.dev) if x is not None)
            dev_axes.plot([x for x, _ in pairs], [y for _, y in pairs], marker="o", label=label, linewidth=1.2)
    train_axes.set(title="training loss", xlabel="optimizer step", ylabel="loss")
    dev_axes.set(title="dev loss", xlabel="optimizer step" if by_step else "epoch", ylabel="loss")
    for axes in (train_axes, dev_axes):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend(fontsize=8)
    return _png(figure)


def _value_range(values: list[float]) -> tuple[float, float]:
    """y-limits (x100 scale) that make differences of a point visible: 10-point steps around the data."""
    low = max(0.0, 10 * ((min(values) - 5) // 10))
    high = min(100.0, 10 * -(-(max(values) + 4) // 10))
    return low, max(high, low + 10)


def metrics_figure(data: ReportData) -> bytes | None:
    """One panel per measure; within it one group of bars per evaluation set, one bar per arm.
    The y-axis is cut to the data's range (stated in the axis label) so small gains are visible."""
    measures, arms, evaluations = data.measures(), data.arms(), data.evaluations
    if not measures or not evaluations:
        return None
    from matplotlib.figure import Figure

    width_inches = max(6.0, 1.1 * len(evaluations) * len(measures) + 2)
    figure = Figure(figsize=(min(width_inches, 16), 4.6), layout="constrained")
    panels = figure.subplots(1, len(measures), squeeze=False)[0]
    bar_width = 0.8 / len(arms)
    for axes, measure in zip(panels, measures):
        values = []
        for index, arm in enumerate(arms):
            positions, heights = [], []
            for group, evaluation in enumerate(evaluations):
                value = evaluation.results.get(arm, {}).get(measure)
                if value is not None:
                    positions.append(group - 0.4 + bar_width * (index + 0.5))
                    heights.append(100 * value)
            values += heights
            bars = axes.bar(positions, heights, bar_width, label=ARM_LABELS.get(arm, arm))
            if len(evaluations) * len(arms) <= 30:
                axes.bar_label(bars, fmt="%.1f", fontsize=6, padding=2, rotation=90)
        low, high = _value_range(values)
        axes.set_xticks(range(len(evaluations)), [e.label for e in evaluations], rotation=20, ha="right", fontsize=8)
        axes.set(title=measure, ylim=(low, high),
                 ylabel=f"{measure} x 100" + (f" (axis starts at {low:.0f})" if low > 0 else ""))
        axes.grid(axis="y", alpha=0.3)
    figure.legend(*panels[0].get_legend_handles_labels(), loc="outside upper center", ncols=len(arms), fontsize=8)
    return _png(figure)


def interpolation_figure(publication: Publication | None) -> bytes | None:
    """8 x 4 inches: measure x100 against a in (1 - a) * base + a * tuned, one line per query set
    (the deciding set drawn thicker), a dashed line at the published weight."""
    if publication is None or not publication.curves:
        return None
    from matplotlib.figure import Figure

    figure = Figure(figsize=(8, 4), layout="constrained")
    axes = figure.subplots()
    for curve in publication.curves:
        points = sorted(curve.points)
        axes.plot([a for a, _ in points], [100 * v for _, v in points], marker="o", label=curve.name,
                  linewidth=2.6 if curve.deciding else 1.0)
    axes.axvline(publication.weight, linestyle="--", color="grey", linewidth=1)
    axes.set(title=f"interpolation base -> tuned (published: a = {publication.weight:g})",
             xlabel="a  (0 = base, 1 = tuned)", ylabel=f"{publication.measure} x 100")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    return _png(figure)
