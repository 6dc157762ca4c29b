"""What a dry run cannot measure in a short calibration, taken from a measured run.

The kept fractions come from the laptop preset's SciFact run of 2026-12-06 (docs/ladder.md, "R3 a
subset of the types per passage": 400 passages, 1 query for each of 2 types a training passage and
all 6 a held-out one): 860 generated queries kept 441; the retriever filter kept 351 of 397 training
queries. The teacher's positive-first filter, off in the laptop preset, kept 886 of 957 lists in
the 150-passage run of 2026-12-03 (the top-score filter keeps 1 - percentile / 100 of what is left,
by its definition). Where the run folder already holds a stage's outputs, the dry run counts them
instead.
"""

KEPT_PER_CALL = 441 / 860
"""Generated queries (one per sample) that pass the filters (passage copies, example copies,
length, duplicates)."""

RETRIEVER_FILTER_KEPT = 351 / 397
"""Training queries whose source passage is in some retriever's top `filter_top_n`."""

POSITIVE_FIRST_KEPT = 886 / 957
"""Lists whose source passage the teacher ranks first."""

DISTINCT_PAIR_PASSAGES = 2009 / 2808
"""Distinct passages per scored pair, for teachers that embed each distinct text once (bi-encoders).
The queries of one source passage have nearly the same candidates, and lists are scored in query
order, source by source: the laptop run of 2026-12-06 scored 351 lists of 8 from about 270 source
passages (1.3 lists per source), 2,808 pairs holding 2,009 distinct passages (0.72; with 3 queries
for each of 6 types, 7.1 lists per source, it was 0.31). The calibration's lists share nothing."""

DISTINCT_SLOT_FRACTION = 0.97
"""Distinct passages per list slot in a training step (each is encoded once per step). The lists of
the laptop run of 2026-12-06 (351 lists, about 1.3 per source passage) drawn at random in steps of
32 have 0.97 of their slots distinct (mean over 2,000 simulated steps; 0.91 measured in the
150-passage run of 2026-12-03, 7 lists per source). The calibration step shares nothing."""

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

JUDGE_POOL_PAIRS = 536 / 40
"""Pooled (held-out query, passage) pairs per held-out query that the teachers grade in the select
stage (`select.judge: teacher`): the source passage and the top 10 of each of 3 weights overlap
mostly. The SciFact run of 2026-12-06 (260 passages, 2 types each) pooled 536 pairs for 40 held-out
queries; cranfield's of the same day 416 for 31 (13.4 both)."""

JUDGE_DISTINCT_PASSAGES = 343 / 536
"""Distinct passages per pooled pair, for bi-encoder teachers: the held-out queries of one source
passage (its types) pool nearly the same passages. 343 of the 536 above (cranfield: 241 of 416)."""
