"""First-stage retrieval shared by mining and evaluation: dense, BM25 and their fusion.

A run is `dict[query_id, dict[passage_id, score]]`, the shape ir-measures and TREC files use.
"""

Run = dict[str, dict[str, float]]
