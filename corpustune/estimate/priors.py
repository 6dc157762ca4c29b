"""What a dry run cannot measure in a short calibration, taken from a measured run.

Each number comes from the laptop preset's SciFact run (README, "The laptop preset on SciFact"):
600 generation calls kept 313 queries; the retriever filter kept 169 of 251 training queries;
the teacher's positive-first filter kept 152 of those 169 lists (the top-score filter keeps
1 - percentile / 100 of what is left, by its definition). Where the run folder already holds a
stage's outputs, the dry run counts them instead.
"""

KEPT_PER_CALL = 313 / 600
"""Generated queries that pass the filters (passage copies, example copies, length, duplicates)."""

RETRIEVER_FILTER_KEPT = 169 / 251
"""Training queries whose source passage is in some retriever's top `filter_top_n`."""

POSITIVE_FIRST_KEPT = 152 / 169
"""Lists whose source passage the teacher ranks first."""

DISTINCT_PAIR_PASSAGES = 0.6
"""Distinct passages per scored pair, for teachers that embed each distinct text once (bi-encoders).
The queries of one source passage (its query types) have nearly the same candidates, and lists
are scored in query order, source by source: the SciFact run scored 169 lists of 8 from 80 source
passages (2.1 lists per source), which leaves roughly 0.6 of the pairs with a passage not embedded
already. The calibration's lists share nothing."""

DISTINCT_SLOT_FRACTION = 0.85
"""Distinct passages per list slot in a training step (each is encoded once per step). The SciFact
run trained on 103 lists from 80 source passages in steps of 32 drawn at random, so a step holds
two lists of one source now and then: about 0.85 of its slots are distinct. The calibration step
shares nothing."""

GRAD_CACHE_FACTOR = 4 / 3
"""A step whose texts exceed one chunk encodes them twice (once without a graph, once with
backward): three units of work (forward, forward, backward at twice a forward) for four."""

FORWARD_SHARE = 1 / 3
"""Share of a training step's time that a forward pass without gradients takes (dev loss,
teacher-temperature calibration): backward costs about twice the forward."""

QUERY_TOKENS = 24
"""Tokens of a synthetic query with its special tokens (SciFact run: 6 to 20 words per type)."""

REPORT_SECONDS = 15.0
"""The report stage: figures and two files (about 10 s on the 2-core machine)."""
