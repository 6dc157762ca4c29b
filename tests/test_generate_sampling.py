"""Seeded passage sampling, skips and the held-out set."""

from __future__ import annotations

from corpustune.data.records import Passage
from corpustune.generate.sampling import sample_passages

PASSAGES = [Passage(f"p{i}", f"passage number {i} about topic {i % 7}") for i in range(50)] + [
    Passage("short", "tiny"),
    Passage("copy", "Passage  number 3 about TOPIC 3"),
]


def test_skips_are_counted_and_named():
    sample = sample_passages(PASSAGES, seed=0, min_chars=10, heldout_count=0)
    assert sample.eligible == 50 and sample.skipped_short == 1 and sample.skipped_duplicate == 1
    assert sample.skipped_examples == ["short (short)", "copy (duplicate text)"]
    assert {p.id for p in sample.passages} == {f"p{i}" for i in range(50)}


def test_seeded_order_independent_of_input_order_and_prefix_stable():
    a = sample_passages(PASSAGES, seed=3, max_passages=10, heldout_count=0)
    b = sample_passages(list(reversed(PASSAGES[:50])), seed=3, max_passages=10, heldout_count=0)
    assert [p.id for p in a.passages] == [p.id for p in b.passages]
    larger = sample_passages(PASSAGES, seed=3, max_passages=20, heldout_count=0)
    assert [p.id for p in larger.passages[:10]] == [p.id for p in a.passages]
    other = sample_passages(PASSAGES, seed=4, max_passages=10, heldout_count=0)
    assert [p.id for p in other.passages] != [p.id for p in a.passages]


def test_heldout_is_capped_by_fraction_and_stable():
    sample = sample_passages(PASSAGES, seed=1, max_passages=40, heldout_count=100, heldout_max_fraction=0.2)
    assert len(sample.heldout_ids) == 8
    assert sample.heldout_ids == {p.id for p in sample.passages[:8]}
    fewer = sample_passages(PASSAGES, seed=1, max_passages=40, heldout_count=5)
    assert fewer.heldout_ids < sample.heldout_ids and len(fewer.heldout_ids) == 5


def test_duplicate_test_keeps_digests_not_normalized_copies():
    # 400 distinct passages of 20,000 characters (8 MB of text): keeping a normalized copy of each
    # text would allocate about as much again; digests take a few kilobytes a hundred passages.
    import tracemalloc

    passages = [Passage(f"p{i}", (f"word{i} " * 2500).upper()) for i in range(400)]
    tracemalloc.start()
    try:
        sample = sample_passages(passages, seed=0, heldout_count=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    text_bytes = sum(len(p.text) for p in passages)
    assert sample.eligible == 400
    assert peak < text_bytes / 20, f"sampling allocated {peak:,} bytes for {text_bytes:,} bytes of text"


def test_duplicate_key_ignores_case_and_spacing_only():
    from corpustune.generate.sampling import text_key

    assert text_key("A  b\tC\n") == text_key("a b c")
    assert text_key("a b c") != text_key("a bc")
