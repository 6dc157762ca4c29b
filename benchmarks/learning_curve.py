"""What more CPU time buys: the whole pipeline on the first N training passages of one sample.

For each N (ascending) the run folder OUT/n<N> runs the preset with `generate.max_passages = H + N`,
H being the held-out passages (the preset's `heldout_count`; the sample is a prefix of one seeded
shuffle, so every size holds out the same H passages and the training passages of a size are
those of the smaller sizes plus new ones), and trains the preset's main arm plus `--arms`' other
arms (the ablation stage, on the very same lists). Before a size runs, the generation log and the
teacher score cache of the previous size (or `--seed-run`'s) are copied in: a size generates and
scores only its new passages, and since both are content-addressed the results are those of a
fresh run.

Cost of a size = what building it from nothing costs: its sampled passages times the generation
and scoring seconds per sampled passage, plus this size's mining, main-arm training and select
stage. The seconds per passage come from the sizes that generated new passages (the new work
divided by the new passages), so a `--seed-run` whose caches were themselves carried in does not
make generation look free; only when no size generates anything is the seed's own rate used.
Each arm's tuned model (a = 1) and the published model are evaluated beside the base on
the human splits (`--splits`, default train,test: SciFact's 809 train queries are the ones to
decide on, test is reported), with the paired per-query difference to the base and its standard
error. Writes OUT/curve.json, OUT/curve.md and OUT/curve.png.

    PYTHONPATH=. python benchmarks/learning_curve.py --data ../shared/data/scifact --out /tmp/curve \\
        --sizes 100,300,1000 --arms infonce,combined [--seed-run RUN] [--preset laptop] [--set KEY=VALUE]

`--replot` re-costs the sizes already in OUT/curve.json from the stage seconds it holds and rewrites
the table and the PNG, without running anything.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import human_sets, kept_lists, run_pipeline, stage_seconds  # noqa: E402

from corpustune.config import resolve_config  # noqa: E402
from corpustune.evaluate.compare import evaluate_models, summarize  # noqa: E402
from corpustune.hardware import cpu_description  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402

INCREMENTAL_STAGES = ("generate", "score")
"""Stages whose work a size shares with the smaller sizes (their computed seconds are summed)."""
OWN_STAGES = ("mine", "train", "select")
"""Stages a size does from scratch (the ablation arms' training is extra, not counted)."""
MEASURES = ("nDCG@10", "R@100")


def sampled_passages(run: Path) -> int:
    return int(json.loads(RunLayout(run).query_stats.read_text())["passages"]["sampled"])


def run_size(args, size: int, previous: Path | None):
    """Run the pipeline for `size` training passages in OUT/n<size>; returns its folder, config, corpus."""
    probe = resolve_config(args.data, args.preset, overrides=tuple(args.set))
    other_arms = [arm for arm in args.arms if arm != probe.train.loss]
    overrides = tuple(args.set) + (
        f"generate.max_passages={probe.generate.heldout_count + size}",
        # hold out the same H passages at every size (the preset's fraction would cap H at small N)
        "generate.heldout_max_fraction=1.0",
        f"ablation=[{', '.join(other_arms)}]",
    )
    folder = args.out / f"n{size}"
    config, passages = run_pipeline(args.data, args.preset, overrides, folder, previous)
    return folder, config, passages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--sizes", default="100,300,1000", help="training passages per point, ascending")
    parser.add_argument("--arms", default="infonce,combined", type=lambda s: s.split(","))
    parser.add_argument("--splits", default="train,test", type=lambda s: s.split(","))
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--set", action="append", default=[], help="any setting, as for `corpustune run --set`")
    parser.add_argument("--seed-run", type=Path, help="a run folder of the same settings whose log and scores to reuse")
    parser.add_argument("--replot", action="store_true", help="re-cost OUT/curve.json's sizes and redraw; run nothing")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    print(f"CPU: {cpu_description()}", flush=True)

    if args.replot:
        result = json.loads((args.out / "curve.json").read_text())
        write_outputs(args.out, add_costs(result, args.seed_run))
        return
    sets = human_sets(args.data, args.splits)
    points = []
    previous = args.seed_run
    for size in sizes:
        folder, config, passages = run_size(args, size, previous)
        layout, seconds = RunLayout(folder), stage_seconds(folder)
        models = {"base": config.train.model, "published": str(layout.model_dir)}
        for arm in args.arms:
            models[arm] = str(layout.arm_dirs(arm, main=arm == config.train.loss)[1])
        summary = summarize(sets, evaluate_models(passages, models, sets, measures=MEASURES), MEASURES)
        curve = json.loads(layout.select_curve.read_text())
        point = {
            "training_passages": size, "sampled_passages": sampled_passages(folder), "lists": kept_lists(folder),
            "stage_seconds": seconds,
            "published_weight": curve["published_weight"],
            "sets": [{"name": s["name"], "num_queries": s["num_queries"], "results": s["results"],
                      "paired": s["paired"]} for s in summary],
        }
        points.append(point)
        print(json.dumps({k: point[k] for k in ("training_passages", "lists", "stage_seconds", "published_weight")}),
              flush=True)
        previous = folder
    result = {"cpu": cpu_description(), "preset": args.preset, "overrides": args.set, "arms": args.arms,
              "points": points}
    write_outputs(args.out, add_costs(result, args.seed_run))


def add_costs(result: dict, seed_run: Path | None) -> dict:
    """Set each point's `cpu_minutes` (whole pipeline from nothing) and `seconds_per_passage`."""
    new_seconds, new_passages, sampled_before = 0.0, 0, sampled_passages(seed_run) if seed_run else 0
    for point in result["points"]:
        if point["sampled_passages"] > sampled_before:
            new_seconds += sum(point["stage_seconds"].get(s, 0.0) for s in INCREMENTAL_STAGES)
            new_passages += point["sampled_passages"] - sampled_before
        sampled_before = max(sampled_before, point["sampled_passages"])
    if new_passages:
        per_passage = new_seconds / new_passages
    elif seed_run is not None:
        per_passage = sum(stage_seconds(seed_run).get(s, 0.0) for s in INCREMENTAL_STAGES) / sampled_passages(seed_run)
    else:
        raise SystemExit("no size generated new passages and no --seed-run: nothing to cost generation by")
    result["seconds_per_passage"] = per_passage
    for point in result["points"]:
        own = sum(point["stage_seconds"].get(s, 0.0) for s in OWN_STAGES)
        point["cpu_minutes"] = (per_passage * point["sampled_passages"] + own) / 60
    return result


def write_outputs(out: Path, result: dict) -> None:
    (out / "curve.json").write_text(json.dumps(result, indent=1))
    (out / "curve.md").write_text(markdown_table(result))
    plot(result, out / "curve.png")
    print(markdown_table(result))


def markdown_table(result: dict) -> str:
    """One row per size and model: nDCG@10 per set with the paired difference to the base ± s.e."""
    set_names = [s["name"] for s in result["points"][0]["sets"]]
    lines = [f"CPU: {result['cpu']}; preset {result['preset']} {' '.join(result['overrides'])}", "",
             "| training passages | lists | CPU min | model | " + " | ".join(f"{n} nDCG@10" for n in set_names) + " |",
             "|---|---|---|---|" + "---|" * len(set_names)]
    for point in result["points"]:
        for label in ["base", *result["arms"], "published"]:
            cells = []
            for query_set in point["sets"]:
                mean = 100 * query_set["results"][label]["nDCG@10"]
                paired = query_set["paired"].get(label, {}).get("nDCG@10")
                cells.append(f"{mean:.2f}" + (f" ({100 * paired['mean']:+.2f} ± {100 * paired['se']:.2f})"
                                              if paired else ""))
            name = f"published (a = {point['published_weight']:g})" if label == "published" else label
            lines.append(f"| {point['training_passages']} | {point['lists']} | {point['cpu_minutes']:.1f} | {name} | "
                         + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path) -> None:
    """nDCG@10 minus the base (± s.e.) against CPU minutes, one panel per set, one line per arm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    set_names = [s["name"] for s in result["points"][0]["sets"]]
    figure, axes = plt.subplots(1, len(set_names), figsize=(5 * len(set_names), 3.6), squeeze=False)
    minutes = [p["cpu_minutes"] for p in result["points"]]
    for axis, name in zip(axes[0], set_names):
        for label in [*result["arms"], "published"]:
            paired = [next(s for s in p["sets"] if s["name"] == name)["paired"][label]["nDCG@10"]
                      for p in result["points"]]
            axis.errorbar(minutes, [100 * d["mean"] for d in paired], yerr=[100 * d["se"] for d in paired],
                          marker="o", capsize=3, label=label)
        for x, point in zip(minutes, result["points"]):
            axis.annotate(f"{point['lists']} lists", (x, 0), fontsize=7, textcoords="offset points", xytext=(0, -12))
        axis.axhline(0, color="grey", linewidth=0.8)
        axis.set_title(f"{name}: nDCG@10 - base")
        axis.set_xlabel("CPU minutes (whole pipeline)")
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
