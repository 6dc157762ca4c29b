"""`corpustune run`: generate -> mine -> score -> train -> evaluate -> report in one run folder."""

from __future__ import annotations

import time
from pathlib import Path

from corpustune.cli.options import RunFolder, SettingsOptions, print_table, with_settings_options
from corpustune.layout import RunLayout


@with_settings_options
def command(out: RunFolder = Path("runs/corpustune"), *, settings: SettingsOptions) -> None:
    """Run the whole pipeline; finished stages and finished work inside a stage are skipped."""
    from corpustune.data.corpus import ReadReport, read_passages
    from corpustune.pipeline import Pipeline, save_config
    from corpustune.pipeline.stages import build_stages

    started = time.perf_counter()
    resolved = settings.resolve()
    report = ReadReport()
    passages = read_passages(resolved.data, report)
    print(f"{resolved.data.path}: {report.summary()}")
    for bad in report.bad_files:
        print(f"  {bad.describe()}")
    save_config(out, resolved)
    Pipeline(out, build_stages(resolved, passages)).run()
    _print_summary(out, time.perf_counter() - started)


def _print_summary(out: Path, seconds: float) -> None:
    """Every model on every query set, the published model's paired difference to the base
    (per query, ± its standard error), and what was published."""
    import json

    layout = RunLayout(out)
    results_path = layout.eval_results
    if results_path.exists():
        results = json.loads(results_path.read_text())
        arms = list(results["models"])
        rows = []
        for evaluated in results["sets"]:
            for measure in next(iter(evaluated["results"].values())):
                paired = evaluated.get("paired", {}).get("published", {}).get(measure)
                difference = "" if paired is None else f"{100 * paired['mean']:+.2f} ± {100 * paired['se']:.2f}"
                rows.append([evaluated["name"], str(evaluated["num_queries"]), measure]
                            + [f"{100 * evaluated['results'][arm][measure]:.2f}" for arm in arms] + [difference])
        print_table(["query set", "queries", "measure"] + arms + ["published - base"], rows)
        print(results.get("verdict", ""))
    print(f"finished in {seconds / 60:.1f} min; report: {layout.report_html}")
    print(f"published model: {layout.model_dir}  (load it with SentenceTransformer(\"{layout.model_dir}\"))")
