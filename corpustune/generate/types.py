"""Query types as data: each type is a YAML declaration with instructions and few-shot examples.

The six built-in types live in `corpustune/generate/types/*.yaml`; a user adds a type by passing
the path of their own YAML file wherever a type name is accepted. A file of the user's own example
queries (`generate.example_queries`) adds one more type, `examples`, whose prompt shows them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from corpustune.errors import InputError

BUILTIN_FOLDER = Path(__file__).resolve().parent / "types"
BUILTIN_TYPES = ("question", "claim", "title", "keywords", "web", "web_fewshot")


@dataclass(frozen=True, slots=True)
class Example:
    """A few-shot example: a passage and a query of this type written for it."""

    passage: str
    query: str


@dataclass(frozen=True, slots=True)
class QueryType:
    """One kind of query the generator is asked for.

    `min_words` / `max_words` bound the kept queries (whitespace words); `max_items` > 0 makes
    the output a comma-separated list cut to that many items (keyword queries).
    """

    name: str
    label: str
    instructions: str
    description: str = ""
    examples: tuple[Example, ...] = ()
    min_words: int = 2
    max_words: int = 40
    max_items: int = 0

    def fingerprint(self) -> str:
        """Hash of everything that changes the prompt or the filters, for cache keys."""
        payload = json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def load_type_file(path: str | Path) -> QueryType:
    """Read one type declaration; errors name the file, the field and the fix."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise InputError(f"{path}: cannot read the query type declaration: {error}") from error
    if not isinstance(data, dict):
        raise InputError(f"{path}: a query type must be a YAML mapping with name, label and instructions")
    missing = [key for key in ("name", "label", "instructions") if not str(data.get(key) or "").strip()]
    if missing:
        raise InputError(f"{path}: the query type lacks {', '.join(missing)}; add them as top-level keys")
    known = {"name", "label", "instructions", "description", "examples", "min_words", "max_words", "max_items"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InputError(f"{path}: unknown keys {unknown}; allowed keys are {sorted(known)}")
    examples = []
    for index, example in enumerate(data.get("examples") or []):
        if not isinstance(example, dict) or not example.get("passage") or not example.get("query"):
            raise InputError(f"{path}: example {index + 1} needs both `passage` and `query`")
        examples.append(Example(passage=str(example["passage"]).strip(), query=str(example["query"]).strip()))
    try:
        bounds = {key: int(data[key]) for key in ("min_words", "max_words", "max_items") if key in data}
    except (TypeError, ValueError) as error:
        raise InputError(f"{path}: min_words, max_words and max_items must be integers ({error})") from error
    return QueryType(
        name=str(data["name"]).strip(),
        label=str(data["label"]).strip(),
        instructions=" ".join(str(data["instructions"]).split()),
        description=str(data.get("description") or "").strip(),
        examples=tuple(examples),
        **bounds,
    )


def load_type(name_or_path: str) -> QueryType:
    """A built-in type by name, or a user type from a `.yaml`/`.yml` path."""
    if name_or_path.endswith((".yaml", ".yml")) or Path(name_or_path).is_file():
        return load_type_file(name_or_path)
    path = BUILTIN_FOLDER / f"{name_or_path}.yaml"
    if not path.exists():
        raise InputError(
            f"unknown query type {name_or_path!r}; built-in types are {', '.join(BUILTIN_TYPES)}, "
            f"or give the path of your own YAML declaration"
        )
    return load_type_file(path)


def load_types(names: list[str] | tuple[str, ...]) -> list[QueryType]:
    """Load several types; two types with the same name are an error."""
    types = [load_type(name) for name in names]
    seen: set[str] = set()
    for query_type in types:
        if query_type.name in seen:
            raise InputError(f"query type {query_type.name!r} is given twice; each type name must be unique")
        seen.add(query_type.name)
    return types


EXAMPLES_TYPE = "examples"
"""The name of the type that `generate.example_queries` adds."""
EXAMPLES_INSTRUCTIONS = (
    "Write one search query that this passage answers, in the form, style and length of the example queries: "
    "they are real queries of the people who search this collection. Reply with the query only."
)


def read_example_queries(path: str | Path) -> tuple[str, ...]:
    """The queries of `path`: a BEIR queries.jsonl (`.jsonl`: one object a line with a `text` field)
    or plain text (one query a line). Blank lines are no queries; errors name the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"{path}: cannot read the example queries: {error}") from error
    queries = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if path.suffix == ".jsonl":
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise InputError(f"{path}, line {number}: not valid JSON ({error.msg}); write one JSON object a "
                                 "line, or give a .txt file with one query a line") from error
            text = record.get("text") if isinstance(record, dict) else None
            if not isinstance(text, str) or not text.strip():
                raise InputError(f'{path}, line {number}: a query needs a non-empty "text" field (BEIR queries.jsonl)')
            line = text
        queries.append(" ".join(line.split()))
    if not queries:
        raise InputError(f"{path}: holds no example query; write one query a line (or a BEIR queries.jsonl)")
    return tuple(queries)


def examples_type(path: str | Path) -> QueryType:
    """The `examples` type: queries written like the user's example queries in `path`, which its
    prompt shows as examples without passages (Promptagator's premise: a few real queries of a
    collection tell the generator what its users ask)."""
    return QueryType(
        name=EXAMPLES_TYPE,
        label="Query",
        instructions=EXAMPLES_INSTRUCTIONS,
        description="a query written like the user's example queries (generate.example_queries)",
        examples=tuple(Example(passage="", query=query) for query in read_example_queries(path)),
    )


def configured_types(generate) -> list[QueryType]:
    """The query types a generate config asks for: `generate.types`, then the `examples` type when
    `generate.example_queries` names a file."""
    types = load_types(generate.types)
    if generate.example_queries is not None:
        if EXAMPLES_TYPE in {t.name for t in types}:
            raise InputError(f"generate.types already has a type named {EXAMPLES_TYPE!r}, the name of the type that "
                             "generate.example_queries adds; rename your type")
        types.append(examples_type(generate.example_queries))
    return types
