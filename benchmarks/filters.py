"""Do the query filters pay for the queries they remove? Decided on human *train* queries.

Every variant starts from one run folder's generation log and teacher scores (`--run`, the same
generated queries) and runs the preset's mining, scoring and training with one filter setting
changed; the tuned model (a = 1) is evaluated on the human split(s) `--splits` (default train:
SciFact's 809 train queries; never decide on test) beside the base. Printed per variant: the
lists it trains on, nDCG@10 and Recall@100 with the paired per-query difference to the base and
to the preset's own filters, ± standard errors.

Variants: `preset` (retriever filter top-20, teacher ranks the source first, top score above the
25th percentile: the `--run` folder itself, which must have been made with the preset and
`--set`s), `no-teacher-filters`, `no-retriever-filter`, `no-filters`.

    PYTHONPATH=. python benchmarks/filters.py --data ../shared/data/scifact --run RUN --out /tmp/filters \\
        [--variants preset,no-teacher-filters,no-retriever-filter,no-filters] [--splits train] [--set KEY=VALUE]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import human_sets, kept_lists, run_pipeline, stage_seconds  # noqa: E402

from corpustune.cli.stage import read_checked_corpus  # noqa: E402
from corpustune.config import resolve_config  # noqa: E402
from corpustune.evaluate.compare import evaluate_models  # noqa: E402
from corpustune.evaluate.paired import aligned, paired_difference  # noqa: E402
from corpustune.hardware import cpu_description  # noqa: E402
from corpustune.layout import RunLayout  # noqa: E402

TEACHER_OFF = ("score.require_positive_first=false", "score.top_score_percentile=null")
RETRIEVER_OFF = ("mine.filter_top_n=null",)
VARIANTS = {
    "preset": (),
    "no-teacher-filters": TEACHER_OFF,
    "no-retriever-filter": RETRIEVER_OFF,
    "no-filters": TEACHER_OFF + RETRIEVER_OFF,
}
MEASURES = ("nDCG@10", "R@100")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--run", type=Path, required=True, help="run folder whose generation log and scores to reuse")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS), type=lambda s: s.split(","))
    parser.add_argument("--splits", default="train", type=lambda s: s.split(","))
    parser.add_argument("--preset", default="laptop")
    parser.add_argument("--set", action="append", default=[], help="any setting, as for `corpustune run --set`")
    args = parser.parse_args()
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    print(f"CPU: {cpu_description()}", flush=True)

    models, lists, train_seconds, passages = {}, {}, {}, None
    for name in args.variants:
        if name == "preset":
            folder = args.run
            config = resolve_config(args.data, args.preset, overrides=tuple(args.set))
        else:
            # the select stage only needs a = 1 here (the tuned model is what is compared)
            overrides = (*args.set, *VARIANTS[name], "select.weights=[0.0, 1.0]", "ablation=[]")
            folder = args.out / name
            config, passages = run_pipeline(args.data, args.preset, overrides, folder, args.run)
        models.setdefault("base", config.train.model)
        models[name] = str(RunLayout(folder).arm_dirs(config.train.loss, main=True)[1])
        lists[name], train_seconds[name] = kept_lists(folder), stage_seconds(folder).get("train", 0.0)
        print(f"{name}: {lists[name]} lists, train stage {train_seconds[name]:.0f} s", flush=True)

    passages = passages or read_checked_corpus(config, echo=False)
    sets = human_sets(args.data, args.splits)
    values = evaluate_models(passages, models, sets, measures=MEASURES)
    reference = "preset" if "preset" in models else None
    for query_set in sets:
        print(f"\n{query_set['name']} ({query_set['num_queries']} queries)")
        for label in models:
            cells = []
            for measure in MEASURES:
                per_query = values[label][query_set["name"]][measure]
                mean = 100 * sum(per_query.values()) / len(per_query)
                cell = f"{measure} {mean:.2f}"
                for against in ("base", reference):
                    if against is not None and label not in ("base", against):
                        difference = paired_difference(*aligned(per_query, values[against][query_set["name"]][measure]))
                        cell += f" ({100 * difference.mean:+.2f} ± {100 * difference.se:.2f} vs {against})"
                cells.append(cell)
            size = f"{lists[label]:4d} lists" if label in lists else "          "
            print(f"  {label:20s} {size}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
