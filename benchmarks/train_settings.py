"""Which training setting pays? Decided on human *train* queries, on the same lists.

Every variant starts from one run folder's generation log and teacher scores (`--run`), so it
trains on the very lists of that run, with the settings of `--variant NAME:KEY=VALUE[;KEY=VALUE]`
changed (any `corpustune run --set` key; repeat the option for more variants). The tuned model
(a = 1) is evaluated on the human split(s) `--splits` (default train: SciFact's 809 train queries;
never decide on test) beside the base and the run's own model (`preset`). Printed per variant:
its lists, train-stage seconds, nDCG@10 and Recall@100 with the paired per-query difference to
the base and to the preset, ± standard errors.

    PYTHONPATH=. python benchmarks/train_settings.py --data ../shared/data/scifact --run RUN --out /tmp/settings \\
        --variant "tau-0.05:train.infonce_temperature=0.05" \\
        --variant "combined-tau-0.05:train.loss=combined;train.infonce_temperature=0.05" [--splits train]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _runs import compare_variants, variant_parser  # noqa: E402


def parse_variant(text: str) -> tuple[str, tuple[str, ...]]:
    """'NAME:KEY=VALUE;KEY=VALUE' -> (NAME, (KEY=VALUE, ...)); exits naming the malformed text."""
    name, separator, settings = text.partition(":")
    overrides = tuple(part.strip() for part in settings.split(";") if part.strip())
    name = name.strip()
    if not separator or name in ("", "preset") or not overrides or not all("=" in o for o in overrides):
        sys.exit(f"--variant {text!r}: write NAME:KEY=VALUE[;KEY=VALUE] (NAME not 'preset'), "
                 "e.g. 'tau-0.05:train.infonce_temperature=0.05'")
    return name, overrides


def main() -> None:
    parser = variant_parser(__doc__)
    parser.add_argument("--variant", action="append", default=[], type=parse_variant, required=True,
                        help="NAME:KEY=VALUE[;KEY=VALUE], repeatable")
    args = parser.parse_args()
    names = [name for name, _ in args.variant]
    if len(set(names)) != len(names):
        sys.exit(f"--variant names repeat: {names}")
    compare_variants(args, {"preset": (), **dict(args.variant)})


if __name__ == "__main__":
    main()
