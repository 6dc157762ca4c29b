"""Turn raw LLM output into clean queries, and decide which ones to keep (with the reason why not).

Pure functions over strings: `clean` trims one output, `parse_json_output` splits a JSON-mode
answer per type, `select` applies the filters to all queries of one passage.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field

from corpustune.generate.types import QueryType

GENERIC_LABELS = ("query", "search query", "web query", "search", "answer", "output", "response", "question",
                  "claim", "title", "keywords", "keyword query")
QUOTE_PAIRS = {'"': '"', "'": "'", "“": "”", "‘": "’", "`": "`", "«": "»", "*": "*", "_": "_"}
LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")
WORD = re.compile(r"\w+", re.UNICODE)
REASONS = ("empty", "too_short", "too_long", "passage_copy", "example_copy", "duplicate", "near_duplicate")


def _label_pattern(query_type: QueryType) -> re.Pattern:
    labels = {query_type.label.lower(), query_type.name.lower().replace("_", " "), *GENERIC_LABELS}
    alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
    return re.compile(rf"^\s*[*#_]*\s*(?:{alternatives})\s*\d*\s*[*_]*\s*[:：\-–—]\s*[*_]*\s*", re.IGNORECASE)


def _strip_quotes(text: str) -> str:
    changed = True
    while changed and len(text) >= 2:
        changed = False
        closing = QUOTE_PAIRS.get(text[0])
        if closing is not None and text.endswith(closing):
            text, changed = text[1:-1].strip(), True
        elif text.startswith("**") and text.endswith("**"):
            text, changed = text[2:-2].strip(), True
    return text


def clean(raw: str, query_type: QueryType) -> str:
    """First non-empty line, without label echoes ('Question:'), list markers and outer quotes.

    Keyword types (`max_items` > 0) become at most `max_items` unique comma-separated items.
    """
    lines = [line.strip() for line in raw.replace("\r", "\n").split("\n")]
    lines = [line for line in lines if line and not line.startswith("```")]
    text = lines[0] if lines else ""
    pattern = _label_pattern(query_type)
    previous = None
    while text != previous:
        previous = text
        text = LIST_MARKER.sub("", text)
        text = _strip_quotes(pattern.sub("", text, count=1).strip())
    text = " ".join(text.split())
    if query_type.max_items:
        text = join_items(re.split(r"[,;]", text), query_type.max_items)
    return text


def join_items(items: list, max_items: int) -> str:
    """Unique, non-empty, quote-stripped items (first `max_items`) joined by ', '."""
    kept: list[str] = []
    for item in items:
        item = _strip_quotes(" ".join(str(item).split()).strip(" ."))
        if item and item.lower() not in {k.lower() for k in kept}:
            kept.append(item)
    return ", ".join(kept[:max_items])


def parse_json_output(raw: str, query_types: list[QueryType]) -> dict[str, str | None]:
    """Per type name, the raw text of a JSON-mode answer (lists joined by ', '), None if absent.

    Tolerates text around the object (the outermost {...} is parsed); an unparsable answer gives
    None for every type.
    """
    start, end = raw.find("{"), raw.rfind("}")
    try:
        data = json.loads(raw[start : end + 1]) if 0 <= start < end else None
    except ValueError:
        data = None
    result: dict[str, str | None] = {}
    for query_type in query_types:
        value = data.get(query_type.name) if isinstance(data, dict) else None
        if isinstance(value, list):
            value = join_items(value, query_type.max_items or len(value))
        result[query_type.name] = None if value is None else str(value)
    return result


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def copy_fraction(query: str, passage: str, n: int) -> float:
    """Fraction of the query's word n-grams that also occur in the passage (0 if it has none)."""
    query_words = words(query)
    if len(query_words) < n:
        return 0.0
    passage_words = words(passage)
    passage_grams = {tuple(passage_words[i : i + n]) for i in range(len(passage_words) - n + 1)}
    grams = [tuple(query_words[i : i + n]) for i in range(len(query_words) - n + 1)]
    return sum(g in passage_grams for g in grams) / len(grams)


def jaccard(a: str, b: str) -> float:
    set_a, set_b = set(words(a)), set(words(b))
    return len(set_a & set_b) / len(set_a | set_b) if set_a or set_b else 1.0


@dataclass(frozen=True, slots=True)
class Verdict:
    text: str
    reason: str | None
    """None when the query is kept, else one of `REASONS`."""


def select(
    texts: list[tuple[QueryType, str]],
    passage: str,
    *,
    examples: list[str] | None = None,
    copy_ngram: int = 3,
    copy_threshold: float = 0.75,
    near_duplicate_jaccard: float = 0.8,
) -> list[Verdict]:
    """Filter the cleaned queries of one passage, in order; earlier queries win duplicate ties.

    `examples[i]` is the few-shot text (example passages and queries) shown in the prompt of
    query i. Drops, first matching reason: empty, fewer words than the type's `min_words`, more
    than its `max_words`, a passage copy (word n-gram containment >= `copy_threshold`), a copy of
    a few-shot example (same containment test, or equal to an example query), an exact duplicate
    (case and punctuation ignored) or a near duplicate (word-set Jaccard >= threshold) of a kept one.
    """
    kept: list[str] = []
    verdicts = []
    examples = examples or [""] * len(texts)
    for (query_type, text), shown in zip(texts, examples):
        count = len(text.split())
        normalized = " ".join(words(text))
        if not normalized:
            reason = "empty"
        elif count < query_type.min_words:
            reason = "too_short"
        elif count > query_type.max_words:
            reason = "too_long"
        elif copy_fraction(text, passage, copy_ngram) >= copy_threshold:
            reason = "passage_copy"
        elif shown and (copy_fraction(text, shown, copy_ngram) >= copy_threshold or _is_example_query(normalized, shown)):
            reason = "example_copy"
        elif any(normalized == " ".join(words(k)) for k in kept):
            reason = "duplicate"
        elif any(jaccard(text, k) >= near_duplicate_jaccard for k in kept):
            reason = "near_duplicate"
        else:
            reason = None
            kept.append(text)
        verdicts.append(Verdict(text, reason))
    return verdicts


def _is_example_query(normalized: str, shown: str) -> bool:
    return any(normalized == " ".join(words(line)) for line in shown.split("\n"))


@dataclass
class TypeStats:
    """What happened to one type's queries."""

    generated: int = 0
    kept: int = 0
    kept_words: int = 0
    dropped: Counter = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, verdict: Verdict, max_examples: int = 3) -> None:
        self.generated += 1
        if verdict.reason is None:
            self.kept += 1
            self.kept_words += len(verdict.text.split())
            return
        self.dropped[verdict.reason] += 1
        shown = self.examples.setdefault(verdict.reason, [])
        if len(shown) < max_examples:
            shown.append(verdict.text)

    def to_json(self) -> dict:
        return {
            "generated": self.generated,
            "kept": self.kept,
            "kept_fraction": round(self.kept / self.generated, 4) if self.generated else 0.0,
            "mean_words": round(self.kept_words / self.kept, 2) if self.kept else 0.0,
            "dropped": {reason: self.dropped[reason] for reason in REASONS if self.dropped[reason]},
            "dropped_examples": self.examples,
        }
