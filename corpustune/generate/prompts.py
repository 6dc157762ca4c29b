"""Chat messages for query generation.

The passage comes first in the user message and the type's task after it, so that the prompts of
all types for one passage share a long common prefix: llama.cpp (and vLLM's prefix cache) then
read the passage once per passage instead of once per type.

Few-shot examples come in one of two layouts: "queries" shows only the example queries (fewer
tokens, and a small model has no example passage whose topic it could copy); "passages" shows each
example query under its passage (the layout of prompt version v1).
"""

from __future__ import annotations

import hashlib
import random
from typing import Literal

from corpustune.data.records import Passage
from corpustune.generate.types import Example, QueryType

FewShotLayout = Literal["queries", "passages"]
PROMPT_VERSIONS: dict[str, str] = {"passages": "v1", "queries": "v2"}
"""Prompt version per few-shot layout of the per-type prompts; JSON mode's prompt is v1 in both."""
SYSTEM = (
    "You write search queries for documents. Follow the task exactly and reply with the requested "
    "text only, on a single line, without explanations."
)

Message = dict[str, str]


def stable_seed(*parts: object) -> int:
    """A 31-bit seed derived from the parts; the same in every process (unlike `hash`)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def passage_text(passage: Passage, max_chars: int) -> str:
    """Title and text on separate lines, cut to `max_chars` characters."""
    text = f"{passage.title}\n{passage.text}" if passage.title else passage.text
    return text[:max_chars].strip()


def pick_examples(query_type: QueryType, count: int, seed: int, passage_id: str) -> list[Example]:
    """`count` examples drawn without replacement, seeded per (seed, passage, type)."""
    pool = list(query_type.examples)
    if count <= 0 or not pool:
        return []
    rng = random.Random(stable_seed(seed, passage_id, query_type.name, "examples"))
    return rng.sample(pool, min(count, len(pool)))


def prompt_version(layout: FewShotLayout, json_mode: bool) -> str:
    """The version of the prompts a generation with this few-shot layout (and mode) sends."""
    return PROMPT_VERSIONS["passages" if json_mode else layout]


def type_messages(
    passage: Passage, query_type: QueryType, examples: list[Example], max_chars: int, layout: FewShotLayout = "queries"
) -> list[Message]:
    """Messages asking for one query of `query_type` about `passage`, examples in `layout`."""
    label = query_type.label
    parts = [f"Passage:\n{passage_text(passage, max_chars)}", f"Task: {query_type.instructions}"]
    # examples without a passage (the user's own queries) can only be shown as queries
    if examples and layout == "passages" and all(e.passage for e in examples):
        shots = "\n\n".join(f"Passage: {e.passage}\n{label}: {e.query}" for e in examples)
        parts.append(f"Examples for other passages:\n\n{shots}")
    elif examples:
        shots = "\n".join(f"{label}: {e.query}" for e in examples)
        parts.append(f"Examples written for other passages (form only, not topic):\n{shots}")
    parts.append(f"Now write the {label.lower()} for the passage at the top.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def json_messages(
    passage: Passage, query_types: list[QueryType], examples: dict[str, list[Example]], max_chars: int
) -> list[Message]:
    """Messages asking for every type at once as one JSON object keyed by type name."""
    lines = []
    for query_type in query_types:
        shape = f"a list of at most {query_type.max_items} strings" if query_type.max_items else "a string"
        line = f'- "{query_type.name}" ({shape}): {query_type.instructions}'
        shots = examples.get(query_type.name) or []
        if shots:
            line += " For example: " + "; ".join(f'"{e.query}"' for e in shots)
        lines.append(line)
    keys = ", ".join(f'"{t.name}"' for t in query_types)
    content = "\n\n".join(
        [
            f"Passage:\n{passage_text(passage, max_chars)}",
            "Task: write search queries for the passage above, one of each kind below, in your own "
            "words (do not copy sentences from the passage).\n" + "\n".join(lines),
            f"Reply with one JSON object whose keys are {keys}, and nothing else.",
        ]
    )
    return [{"role": "system", "content": SYSTEM.replace(", on a single line", "")}, {"role": "user", "content": content}]
