"""Teachers: score (query, passage) pairs; the teacher filters and normalization of the method.

Every teacher follows `Teacher` (see `base.py`): `score(pairs) -> np.ndarray`, higher = more
relevant, deterministic for a given pair.
"""
