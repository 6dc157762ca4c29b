"""Cleaning and filtering of generated queries, on hand-made outputs."""

from __future__ import annotations

import pytest

from corpustune.generate.postprocess import TypeStats, clean, copy_fraction, jaccard, parse_json_output, select
from corpustune.generate.types import load_types

QUESTION, CLAIM, KEYWORDS, TITLE = load_types(["question", "claim", "keywords", "title"])
PASSAGE = (
    "Zinc lozenges taken within a day of the first symptoms shortened the common cold by about two days "
    "in adults, according to a pooled analysis of seven trials."
)


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Does zinc shorten colds?  \nExplanation: because", "Does zinc shorten colds?"),
        ('\n\n"Does zinc shorten colds?"', "Does zinc shorten colds?"),
        ("Question: Does zinc shorten colds?", "Does zinc shorten colds?"),
        ("**Question:** “Does zinc shorten colds?”", "Does zinc shorten colds?"),
        ("Search query: 'zinc colds'", "zinc colds"),
        ("1. Does zinc   shorten colds?", "Does zinc shorten colds?"),
        ("```\nDoes zinc shorten colds?\n```", "Does zinc shorten colds?"),
        ("", ""),
    ],
)
def test_clean_question(raw, expected):
    assert clean(raw, QUESTION) == expected


def test_clean_keywords_splits_dedupes_and_caps_at_five():
    raw = "Keywords: zinc, common cold; Zinc , lozenges, adults, trials, meta-analysis."
    assert clean(raw, KEYWORDS) == "zinc, common cold, lozenges, adults, trials"


def test_parse_json_output_lists_strings_missing_and_garbage():
    raw = 'Sure! {"question": "does zinc help colds?", "keywords": ["zinc", "colds", "zinc", ""]} done'
    parsed = parse_json_output(raw, [QUESTION, KEYWORDS, CLAIM])
    assert parsed == {"question": "does zinc help colds?", "keywords": "zinc, colds", "claim": None}
    assert parse_json_output("not json {", [QUESTION]) == {"question": None}


def test_copy_fraction_against_hand_counted_trigrams():
    # query trigrams: (zinc lozenges taken) in, (lozenges taken daily) not, (taken daily work) not
    assert copy_fraction("zinc lozenges taken daily work", PASSAGE, 3) == pytest.approx(1 / 3)
    assert copy_fraction("shortened the common cold by about two days", PASSAGE, 3) == 1.0
    assert copy_fraction("zinc colds", PASSAGE, 3) == 0.0  # too short to judge


def test_jaccard_hand_computed():
    assert jaccard("zinc for colds", "colds and zinc") == pytest.approx(2 / 4)


def test_select_reasons_in_order():
    texts = [
        (QUESTION, "Does zinc shorten a cold?"),
        (CLAIM, ""),
        (QUESTION, "Why?"),
        (TITLE, " ".join(["word"] * 30)),
        (CLAIM, "Zinc lozenges taken within a day of the first symptoms shortened the common cold"),
        (QUESTION, "does zinc shorten a cold"),
        (TITLE, "Zinc shorten a cold does"),
        (QUESTION, "Which minerals help the immune system of adults?"),
        (QUESTION, "how many coral reefs were lost"),
    ]
    shown = [""] * 8 + ["The reef lost coral.\nhow many coral reefs were lost?"]
    verdicts = select(texts, PASSAGE, examples=shown)
    assert [v.reason for v in verdicts] == [
        None, "empty", "too_short", "too_long", "passage_copy", "duplicate", "near_duplicate", None, "example_copy"
    ]


def test_type_stats_counts_and_examples():
    stats = TypeStats()
    for verdict in select([(QUESTION, "Does zinc work?"), (QUESTION, ""), (QUESTION, "Is zinc safe for kids?")], PASSAGE):
        stats.add(verdict)
    summary = stats.to_json()
    assert summary["generated"] == 3 and summary["kept"] == 2 and summary["dropped"] == {"empty": 1}
    assert summary["mean_words"] == pytest.approx((3 + 5) / 2) and summary["kept_fraction"] == pytest.approx(2 / 3, abs=1e-4)
