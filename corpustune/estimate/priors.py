"""What a dry run cannot measure in a short calibration, taken from a measured run.

The kept fractions come from the laptop preset's SciFact run of 2026-12-03 (docs/results.md, "laptop
on SciFact: Intel Xeon with AMX": 3 samples per passage and type): 2,700 generated queries kept
1,244; the retriever filter kept 957 of 1,120 training queries; the teacher's positive-first filter
kept 886 of those 957 lists (the top-score filter keeps 1 - percentile / 100 of what is left, by its
definition). Where the run folder already holds a stage's outputs, the dry run counts them instead.
"""

KEPT_PER_CALL = 1244 / 2700
"""Generated queries (one per sample) that pass the filters (passage copies, example copies,
length, duplicates)."""

RETRIEVER_FILTER_KEPT = 957 / 1120
"""Training queries whose source passage is in some retriever's top `filter_top_n`."""

POSITIVE_FIRST_KEPT = 886 / 957
"""Lists whose source passage the teacher ranks first."""

DISTINCT_PAIR_PASSAGES = 0.31
"""Distinct passages per scored pair, for teachers that embed each distinct text once (bi-encoders).
The queries of one source passage (its query types and samples) have nearly the same candidates,
and lists are scored in query order, source by source: the SciFact run of 2026-12-03 (3 queries
per type) scored 957 lists of 8 from 135 source passages (7.1 lists per source), 7,656 pairs per
teacher holding 2,363 distinct passages (0.31; with 1 query per type, 2.1 lists per source, it was
about 0.6). The calibration's lists share nothing."""

DISTINCT_SLOT_FRACTION = 0.91
"""Distinct passages per list slot in a training step (each is encoded once per step). The SciFact
run of 2026-12-03 trained on 590 lists from 135 source passages in steps of 32 drawn at random,
so a step holds several lists of one source now and then: 0.91 of the slots of its 57 steps were
distinct (0.85 with 103 lists from 80 sources on 2026-12-02). The calibration step shares
nothing."""

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
