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

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import compare_variants, variant_parser  # noqa: E402

TEACHER_OFF = ("score.require_positive_first=false", "score.top_score_percentile=null")
RETRIEVER_OFF = ("mine.filter_top_n=null",)
VARIANTS = {
    "preset": (),
    "no-teacher-filters": TEACHER_OFF,
    "no-retriever-filter": RETRIEVER_OFF,
    "no-filters": TEACHER_OFF + RETRIEVER_OFF,
}


def main() -> None:
    parser = variant_parser(__doc__)
    parser.add_argument("--variants", default=",".join(VARIANTS), type=lambda s: s.split(","))
    args = parser.parse_args()
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        sys.exit(f"unknown variants {unknown}; choose from {sorted(VARIANTS)}")
    compare_variants(args, {name: VARIANTS[name] for name in args.variants})


if __name__ == "__main__":
    main()
