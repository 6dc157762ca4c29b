"""Which interpolation weight to publish, decided on held-out queries with their noise in view.

Given per-query values of one measure for each weight a of a grid (a = 0 is the base model), the
rule picks the *smallest* a whose mean is within one standard error of the best mean, the
standard error being that of the paired per-query difference to the best weight. Smaller a keeps
more of the base model, so among weights the data cannot tell apart the rule prefers the one
that changes least. When that is a = 0, no weight beats the base by more than the standard error
of its difference: the gate publishes the base model unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from corpustune.evaluate.paired import PairedDifference, paired_difference


@dataclass(frozen=True)
class Selection:
    """The chosen weight and the evidence: each weight's mean, and its paired difference to the
    best weight and to the base (a = 0)."""

    weight: float
    best: float
    means: dict[float, float]
    versus_best: dict[float, PairedDifference]
    versus_base: dict[float, PairedDifference]

    @property
    def keeps_base(self) -> bool:
        return self.weight == 0.0

    def to_json(self) -> dict:
        return {
            "weight": self.weight, "best": self.best, "keeps_base": self.keeps_base,
            "curve": [{"weight": a, "mean": self.means[a], "versus_best": self.versus_best[a].to_json(),
                       "versus_base": self.versus_base[a].to_json()} for a in sorted(self.means)],
        }


def choose_weight(per_query: Mapping[float, np.ndarray]) -> Selection:
    """Apply the rule to `per_query`: weight -> (n,) values on the same n queries, 0.0 included."""
    if 0.0 not in per_query:
        raise ValueError("the grid must include weight 0 (the base model)")
    weights = sorted(per_query)
    means = {a: float(np.mean(per_query[a])) for a in weights}
    best = max(weights, key=lambda a: (means[a], -a))  # ties go to the smaller weight
    versus_best = {a: paired_difference(per_query[a], per_query[best]) for a in weights}
    versus_base = {a: paired_difference(per_query[a], per_query[0.0]) for a in weights}
    chosen = next(a for a in weights if versus_best[a].mean >= -versus_best[a].se)
    return Selection(chosen, best, means, versus_best, versus_base)
