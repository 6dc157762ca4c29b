"""Held-out synthetic queries that a passage of the corpus can answer, decided without any model.

A small generator sometimes writes a query about one of its prompt's few-shot examples instead
of its passage ("What is the principle of non-refoulement?" for a passage on microfilming). No
passage answers it, so it only adds noise to a comparison of models. A held-out query is kept
when it shares at least `min_overlap` content words (lower-cased, stemmed, stopwords removed)
with its source passage and no more with any of the few-shot examples its prompt showed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from corpustune.data.records import Passage, Query

_WORD = re.compile(r"[^\W_]+", re.UNICODE)


class ContentWords:
    """Lower-cased, stemmed words of a text without English stopwords (bm25s's list, PyStemmer)."""

    def __init__(self) -> None:
        import Stemmer
        from bm25s.stopwords import STOPWORDS_EN

        self._stem = Stemmer.Stemmer("english").stemWords
        self._stopwords = frozenset(STOPWORDS_EN)

    def __call__(self, text: str) -> set[str]:
        words = [w for w in _WORD.findall(text.lower()) if w not in self._stopwords]
        return set(self._stem(words))


@dataclass
class AnswerableReport:
    """How many held-out queries were kept, and why the others were dropped (with examples)."""

    kept: int = 0
    no_overlap: int = 0
    example_leak: int = 0
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"kept": self.kept, "dropped_no_overlap": self.no_overlap, "dropped_example_leak": self.example_leak,
                "dropped_examples": self.examples}


def answerable_queries(queries: Iterable[Query], passages: Mapping[str, Passage],
                       examples_for: Mapping[str, list[str]], min_overlap: int = 1,
                       report: AnswerableReport | None = None) -> set[str]:
    """Ids of the queries that pass the test; `examples_for` maps a query id to the texts (passage
    and query) of the few-shot examples its prompt showed (empty when none)."""
    words = ContentWords()
    report = report if report is not None else AnswerableReport()
    kept = set()
    for query in queries:
        source = passages.get(query.source_id or "")
        query_words = words(query.text)
        own = len(query_words & words(source.full_text())) if source is not None else 0
        leak = max((len(query_words & words(text)) for text in examples_for.get(query.id, [])), default=0)
        if own < min_overlap:
            report.no_overlap += 1
        elif leak > own:
            report.example_leak += 1
        else:
            kept.add(query.id)
            report.kept += 1
            continue
        if len(report.examples) < 5:
            report.examples.append(f"{query.id}: {query.text!r}")
    return kept
