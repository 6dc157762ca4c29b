"""The paper's teacher filters, normalization and ensemble maths against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from corpustune.teach import filters
from corpustune.teach.config import ScoreConfig
from corpustune.teach.ensemble import combine, combine_flat
from corpustune.teach.stage import apply_filters


def test_positive_first_keeps_lists_whose_positive_scores_highest_ties_included():
    lists = [np.array([3.0, 1.0, 2.0]), np.array([1.0, 3.0]), np.array([2.0, 2.0, 0.0])]
    assert filters.positive_first(lists).tolist() == [True, False, True]


def test_top_score_threshold_is_linear_interpolated_percentile():
    # tops 1, 2, 3, 4, 5: the 25th percentile sits at position 0.25 * 4 = 1 -> 2.0
    lists = [np.array([t, 0.0]) for t in (5.0, 1.0, 3.0, 2.0, 4.0)]
    keep, threshold = filters.high_top_score(lists, 25.0)
    assert threshold == 2.0
    assert keep.tolist() == [True, False, True, True, True]
    # tops 1, 2, 3, 4: position 0.75 -> 1 + 0.75 * (2 - 1) = 1.75
    _, threshold = filters.high_top_score([np.array([t]) for t in (1.0, 2.0, 3.0, 4.0)], 25.0)
    assert threshold == 1.75


def test_percentile_min_max_clips_to_unit_interval():
    values = np.arange(101, dtype=np.float64)  # percentiles equal the values themselves
    low, high = filters.percentile_bounds([values[:50], values[50:]], 1.0, 99.0)
    assert (low, high) == (1.0, 99.0)
    normalized = filters.min_max(np.array([0.0, 1.0, 50.0, 99.0, 100.0]), low, high)
    assert normalized.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert filters.min_max(np.array([1.0, 2.0]), 2.0, 2.0).tolist() == [0.0, 1.0]


def test_per_list_normalizations():
    assert filters.per_list_zscore(np.array([1.0, 2.0, 3.0])) == pytest.approx([-1.224744871, 0.0, 1.224744871])
    assert filters.per_list_zscore(np.array([4.0, 4.0])).tolist() == [0.0, 0.0]
    assert filters.per_list_min_max(np.array([2.0, 4.0, 3.0])).tolist() == [0.0, 1.0, 0.5]


def test_combine_weights_per_list_zscores():
    teacher_a = [np.array([1.0, 2.0, 3.0])]
    teacher_b = [np.array([10.0, 0.0, 5.0])]
    (combined,) = combine([teacher_a, teacher_b], [1.0, 0.5], "zscore")
    z = 1.224744871
    assert combined == pytest.approx([-z + 0.5 * z, 0.0 - 0.5 * z, z + 0.0])
    (single,) = combine([teacher_a], [3.0], "zscore")
    assert single.tolist() == [1.0, 2.0, 3.0]


def test_apply_filters_reports_each_filters_removals():
    lists = [
        np.array([0.9, 0.1]),  # top 0.9
        np.array([0.2, 0.8]),  # positive not first
        np.array([0.5, 0.4]),  # top 0.5
        np.array([0.7, 0.0]),  # top 0.7
        np.array([0.3, 0.3]),  # top 0.3 (tie keeps)
    ]
    keep, report = apply_filters(lists, ScoreConfig(top_score_percentile=25.0))
    # survivors' tops 0.9, 0.5, 0.7, 0.3 -> 25th percentile at 0.75 between 0.3 and 0.5 = 0.45
    assert report["top_score_threshold"] == pytest.approx(0.45)
    assert keep.tolist() == [True, False, True, True, False]
    assert report["removed_positive_not_first"] == 1
    assert report["removed_low_top_score"] == 1
    assert report["kept"] == 3
    keep, report = apply_filters(lists, ScoreConfig(require_positive_first=False, top_score_percentile=None))
    assert keep.all() and report["kept"] == 5


def test_combine_flat_equals_combine_of_the_lists_cut_by_hand():
    bm25 = np.array([3.0, 1.0, 2.0, 7.0, 5.0, 5.5, 9.0, 8.0, 1.0])
    dense = np.array([0.2, 0.9, 0.4, 0.1, 0.3, 0.8, 0.5, 0.6, 0.7])
    lengths = [3, 2, 4]
    by_hand = [[bm25[0:3], bm25[3:5], bm25[5:9]], [dense[0:3], dense[3:5], dense[5:9]]]
    for normalization in ("zscore", "minmax"):
        flat = combine_flat([bm25, dense], lengths, [1.0, 0.5], normalization)
        expected = combine(by_hand, [1.0, 0.5], normalization)
        assert [len(s) for s in flat] == lengths
        for got, want in zip(flat, expected):
            np.testing.assert_array_equal(got, want)
