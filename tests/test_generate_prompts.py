"""Query type declarations and the prompts built from them."""

from __future__ import annotations

import pytest

from corpustune.data.records import Passage
from corpustune.errors import InputError
from corpustune.generate.config import GenerateConfig
from corpustune.generate.prompts import json_messages, passage_text, pick_examples, prompt_version, type_messages
from corpustune.generate.runner import type_keys
from corpustune.generate.types import BUILTIN_TYPES, configured_types, load_type, load_types, read_example_queries

PASSAGE = Passage("p1", "Zinc lozenges shortened colds by about two days in adults. " * 3, "Zinc and colds")


def test_builtin_types_load_with_own_examples():
    types = load_types(BUILTIN_TYPES)
    assert [t.name for t in types] == list(BUILTIN_TYPES)
    by_name = {t.name: t for t in types}
    assert by_name["web"].examples == ()  # the zero-shot web query
    assert all(len(by_name[n].examples) >= 5 for n in BUILTIN_TYPES if n != "web")
    assert by_name["keywords"].max_items == 5
    assert len({t.fingerprint() for t in types}) == len(types)


def test_user_type_from_yaml(tmp_path):
    path = tmp_path / "faq.yaml"
    path.write_text(
        "name: faq\nlabel: FAQ entry\ninstructions: Write an FAQ heading.\nmax_words: 12\n"
        "examples:\n  - passage: Cats sleep a lot.\n    query: Why do cats sleep so much?\n"
    )
    query_type = load_type(str(path))
    assert (query_type.name, query_type.label, query_type.max_words, len(query_type.examples)) == ("faq", "FAQ entry", 12, 1)


@pytest.mark.parametrize(
    "text, message",
    [
        ("name: x\nlabel: X\n", "lacks instructions"),
        ("name: x\nlabel: X\ninstructions: y\ncolour: red\n", "unknown keys \\['colour'\\]"),
        ("name: x\nlabel: X\ninstructions: y\nexamples:\n  - passage: a\n", "example 1 needs both"),
        ("- a list\n", "must be a YAML mapping"),
    ],
)
def test_bad_type_files_name_the_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(InputError, match=message) as error:
        load_type(str(path))
    assert str(path) in str(error.value)


def test_unknown_and_repeated_types():
    with pytest.raises(InputError, match="unknown query type 'nope'.*question"):
        load_type("nope")
    with pytest.raises(InputError, match="given twice"):
        load_types(["question", "question"])


def test_examples_are_seeded_per_passage_and_type():
    question = load_type("question")
    first = pick_examples(question, 3, seed=1, passage_id="p1")
    assert first == pick_examples(question, 3, seed=1, passage_id="p1")
    assert len(first) == 3 and len(set(first)) == 3 and set(first) <= set(question.examples)
    draws = {tuple(pick_examples(question, 3, seed=s, passage_id="p1")) for s in range(10)}
    assert len(draws) > 1
    assert pick_examples(load_type("web"), 3, seed=1, passage_id="p1") == []
    assert len(pick_examples(question, 99, seed=1, passage_id="p1")) == len(question.examples)


def test_type_prompt_puts_passage_first_and_shares_the_prefix():
    question, title = load_type("question"), load_type("title")
    shots = pick_examples(question, 2, seed=0, passage_id="p1")
    messages = type_messages(PASSAGE, question, shots, max_chars=80, layout="passages")
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    assert user.startswith("Passage:\n" + passage_text(PASSAGE, 80))
    assert len(passage_text(PASSAGE, 80)) <= 80 and passage_text(PASSAGE, 80).startswith("Zinc and colds\nZinc")
    assert question.instructions in user and user.endswith("Now write the question for the passage at the top.")
    assert all(f"Question: {e.query}" in user for e in shots)
    other = type_messages(PASSAGE, title, [], max_chars=80)[1]["content"]
    prefix = "Passage:\n" + passage_text(PASSAGE, 80)
    assert other.startswith(prefix) and "Examples" not in other


def test_json_prompt_names_every_type_and_list_shape():
    types = load_types(["question", "keywords"])
    content = json_messages(PASSAGE, types, {"question": [], "keywords": []}, 2048)[1]["content"]
    assert '"question" (a string)' in content and '"keywords" (a list of at most 5 strings)' in content
    assert content.endswith('keys are "question", "keywords", and nothing else.')


def test_queries_layout_shows_the_example_queries_without_their_passages():
    question = load_type("question")
    shots = pick_examples(question, 3, seed=0, passage_id="p1")
    user = type_messages(PASSAGE, question, shots, max_chars=80)[1]["content"]
    assert all(f"Question: {e.query}" in user for e in shots)
    assert not any(e.passage in user or e.passage[:40] in user for e in shots)
    assert user.startswith("Passage:\n" + passage_text(PASSAGE, 80)) and "Passage:" not in user[1:]
    with_passages = type_messages(PASSAGE, question, shots, max_chars=80, layout="passages")[1]["content"]
    assert all(e.passage in with_passages for e in shots) and len(user) < len(with_passages)


def test_the_layout_changes_the_cache_key_of_type_prompts_only():
    types = load_types(["question", "title"])
    queries, passages = GenerateConfig(types=("question", "title")), GenerateConfig(
        types=("question", "title"), few_shot_layout="passages")
    assert GenerateConfig().few_shot_layout == "queries"
    assert prompt_version("passages", json_mode=False) == "v1" != prompt_version("queries", json_mode=False)
    assert set(type_keys(queries, types).values()).isdisjoint(type_keys(passages, types).values())
    as_json = [c.model_copy(update={"json_mode": True}) for c in (queries, passages)]
    assert type_keys(as_json[0], types) == type_keys(as_json[1], types)  # JSON mode shows queries only anyway


def test_example_queries_read_from_text_and_beir_jsonl(tmp_path):
    text = tmp_path / "mine.txt"
    text.write_text("zinc  and colds\n\n   \nvitamin d dose for adults\n")
    assert read_example_queries(text) == ("zinc and colds", "vitamin d dose for adults")
    beir = tmp_path / "mine.jsonl"
    beir.write_text('{"_id": "1", "text": "zinc and colds"}\n\n{"_id": "2", "text": "vitamin d dose"}\n')
    assert read_example_queries(beir) == ("zinc and colds", "vitamin d dose")


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.txt", "\n  \n", "holds no example query"),
        ("bad.jsonl", '{"text": "fine"}\n{"text": \n', "bad.jsonl, line 2: not valid JSON"),
        ("notext.jsonl", '{"_id": "1"}\n', 'notext.jsonl, line 1: a query needs a non-empty "text"'),
        ("missing.txt", None, "cannot read the example queries"),
    ],
)
def test_bad_example_query_files_name_the_file_and_line(tmp_path, name, content, message):
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        configured_types(GenerateConfig(example_queries=str(path)))


def test_example_queries_add_a_type_shown_as_queries_in_every_layout(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("zinc lozenges for a cold\nhow long does a cold last\n")
    config = GenerateConfig(types=("question", "claim"), example_queries=str(path), counts={"examples": 3})
    types = configured_types(config)
    assert [t.name for t in types] == ["question", "claim", "examples"]
    assert config.type_names() == ("question", "claim", "examples")
    assert config.queries_per_passage() == 1 + 1 + 3
    examples = types[-1]
    assert [e.query for e in examples.examples] == ["zinc lozenges for a cold", "how long does a cold last"]
    for layout in ("queries", "passages"):
        content = type_messages(PASSAGE, examples, list(examples.examples), 500, layout)[1]["content"]
        assert content.startswith("Passage:\nZinc and colds\n")
        assert "Query: zinc lozenges for a cold\nQuery: how long does a cold last" in content
        assert "Passage: \n" not in content  # no empty example passage
    # other queries in the file are another type, with another cache key; the built-in types keep theirs
    keys = type_keys(config, types)
    path.write_text("zinc lozenges for a cold\n")
    changed = type_keys(config, configured_types(config))
    assert changed["examples"] != keys["examples"]
    assert {n: changed[n] for n in ("question", "claim")} == {n: keys[n] for n in ("question", "claim")}
    assert keys["question"] == type_keys(GenerateConfig(types=("question", "claim")), load_types(("question", "claim")))["question"]


def test_a_user_type_named_examples_clashes_with_example_queries(tmp_path):
    declaration = tmp_path / "examples.yaml"
    declaration.write_text("name: examples\nlabel: Example\ninstructions: Write one.\n")
    queries = tmp_path / "mine.txt"
    queries.write_text("a query\n")
    with pytest.raises(InputError, match="already has a type named 'examples'"):
        configured_types(GenerateConfig(types=(str(declaration),), example_queries=str(queries)))


def test_editing_the_example_queries_file_changes_the_generate_stage_inputs(tmp_path):
    from corpustune.config import resolve_config
    from corpustune.pipeline.stages import build_stages

    queries = tmp_path / "mine.txt"
    queries.write_text("zinc lozenges for a cold\n")
    config = resolve_config(tmp_path, "laptop", overrides=(f"generate.example_queries={queries}",))

    def generate_inputs():
        return next(s for s in build_stages(config, [PASSAGE]) if s.name == "generate").inputs

    before = generate_inputs()
    queries.write_text("how long does a cold last\n")
    assert generate_inputs() != before


def test_types_per_passage_scales_the_planned_queries_and_excludes_json_mode():
    every = GenerateConfig(default_count=3)
    assert every.queries_per_passage() == 3 * len(BUILTIN_TYPES)
    subset = GenerateConfig(default_count=3, types_per_passage=2, counts={"title": 6})
    # each type is in a passage's subset with probability 2 / 6
    assert subset.queries_per_passage() == pytest.approx((3 * 5 + 6) * 2 / 6)
    assert GenerateConfig(types_per_passage=len(BUILTIN_TYPES) + 1).queries_per_passage() == len(BUILTIN_TYPES)
    with pytest.raises(ValueError, match="json_mode"):
        GenerateConfig(types_per_passage=2, json_mode=True)
