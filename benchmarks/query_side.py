"""Query-side tuning against tuning both sides, at equal data: human qrels and training time.

Two run folders trained on the very same lists (the second a copy of the first's upstream
stages, trained with `--set train.tune=query`): each arm's tuned model is evaluated beside the
base model on the human splits of the BEIR folder, with paired per-query differences to the base
and their standard errors, plus the training wall time of each (sum of the logged step seconds and
the whole train stage). The query-tuned models reuse the base model's corpus embeddings.

    PYTHONPATH=. python benchmarks/query_side.py --data ../shared/data/scifact \\
        --both RUN --query RUN-QUERY --arms infonce,combined --splits test,train
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from corpustune.data.beir import load_split
from corpustune.data.corpus import CorpusSpec, read_passages
from corpustune.evaluate.compare import evaluate_models, summarize
from corpustune.layout import RunLayout


def training_seconds(run: Path, arm: str, main: bool) -> tuple[float, float | None]:
    """(sum of the logged optimizer-step seconds, the train stage's wall time when recorded)."""
    work = RunLayout(run).arm_dirs(arm, main=main)[0]
    steps = sum(json.loads(line).get("seconds", 0.0) for line in (work / "log.jsonl").read_text().splitlines())
    timings = RunLayout(run).root / "timings.json"
    stages = json.loads(timings.read_text())["stages"] if main and timings.exists() else []
    stage = next((s.get("computed_seconds") or s["seconds"] for s in stages if s["stage"] == "train"), None)
    return steps, stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--both", type=Path, required=True, help="run folder trained with tune: both")
    parser.add_argument("--query", type=Path, required=True, help="run folder trained with tune: query")
    parser.add_argument("--arms", default="infonce", help="comma-separated; the first is the runs' main arm")
    parser.add_argument("--splits", default="test")
    parser.add_argument("--base", default="minilm")
    args = parser.parse_args()
    passages = read_passages(CorpusSpec(path=args.data))
    sets = []
    for split in args.splits.split(","):
        if (args.data / "qrels" / f"{split}.tsv").exists():
            queries, qrels = load_split(args.data, split)
            sets.append({"name": f"{args.data.name} {split}", "source": "human", "role": split, "query_type": None,
                         "queries": queries, "qrels": qrels, "num_queries": len(qrels)})
    arms = args.arms.split(",")
    models = {"base": args.base}
    for index, arm in enumerate(arms):
        for tune, run in (("both", args.both), ("query", args.query)):
            models[f"{arm}/{tune}"] = str(RunLayout(run).arm_dirs(arm, main=index == 0)[1])
    values = evaluate_models(passages, models, sets, measures=("nDCG@10", "R@100"))
    for summary in summarize(sets, values, ("nDCG@10", "R@100")):
        print(f"\n{summary['name']} ({summary['num_queries']} queries)")
        for label, results in summary["results"].items():
            paired = summary["paired"].get(label, {})
            cells = [f"{m} {100 * v:.2f}" + (f" ({100 * paired[m]['mean']:+.2f} ± {100 * paired[m]['se']:.2f})"
                                              if m in paired else "") for m, v in results.items()]
            print(f"  {label:18s} " + "  ".join(cells))
    print("\ntraining wall time (sum of step seconds; train stage)")
    for index, arm in enumerate(arms):
        for tune, run in (("both", args.both), ("query", args.query)):
            steps, stage = training_seconds(run, arm, main=index == 0)
            print(f"  {arm}/{tune}: steps {steps:.1f} s" + (f"; stage {stage:.1f} s" if stage else ""))


if __name__ == "__main__":
    main()
