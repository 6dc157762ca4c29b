"""The R4 rung's "user's own queries": N queries of a decision set, as a BEIR queries.jsonl for
`corpustune run --example-queries` (issue 32).

The queries are the N judged ones of the split (and `--ids` parity) with the smallest sha256 of
their id: a fixed, seed-free pick that every rerun repeats. Evaluate the run with
`benchmarks/ladder.py --exclude-queries FILE`, so that no example query is ever evaluated.

    PYTHONPATH=. python benchmarks/example_queries.py --data ../shared/data/scifact --split train --count 8 \\
        --out examples.jsonl
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ladder import decision_queries  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--split", default="train")
    parser.add_argument("--ids", choices=["all", "odd", "even"], default="all")
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    if args.split == "test" or args.ids == "even":
        sys.exit("example queries come from a decision set (SciFact --split train, cranfield --ids odd), never a report set")
    queries, _ = decision_queries(args.data, args.split, args.ids)
    picked = sorted(queries, key=lambda q: hashlib.sha256(q.encode()).hexdigest())[: args.count]
    args.out.write_text("".join(json.dumps({"_id": q, "text": queries[q].text}) + "\n" for q in picked))
    print(f"{args.out}: {len(picked)} queries of {args.data.name} {args.split} ({args.ids} ids)")


if __name__ == "__main__":
    main()
