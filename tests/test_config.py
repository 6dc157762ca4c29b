"""Run settings: presets, YAML files, --set overrides, and the commented config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from corpustune.cli import app
from corpustune.config import parse_override, preset_names, resolve_config
from corpustune.errors import InputError


@pytest.mark.parametrize("preset", preset_names())
def test_printed_config_reads_back_to_the_same_settings(preset, tmp_path):
    printed = CliRunner().invoke(app, ["config", "--preset", preset, "--data", "corpus.jsonl"])
    assert printed.exit_code == 0, printed.output
    assert "# Passages (title + text) are cut to this many characters in the prompt." in printed.output
    (tmp_path / "run.yaml").write_text(printed.output)
    assert resolve_config(None, None, [tmp_path / "run.yaml"]) == resolve_config(Path("corpus.jsonl"), preset)


def test_layers_apply_in_order(tmp_path):
    (tmp_path / "mine.yaml").write_text("train:\n  epochs: 7\n  list_size: 5\n")
    config = resolve_config(Path("c.jsonl"), "laptop", [tmp_path / "mine.yaml"],
                            ("train.epochs=2", "ablation=[infonce]"))
    assert (config.train.epochs, config.train.list_size, config.ablation) == (2, 5, ("infonce",))
    assert config.generate.backend.model == "qwen-coder-0.5b"
    assert resolve_config(Path("c.jsonl")).train.learning_rate == 2e-4


def test_bad_settings_name_the_file_and_the_field(tmp_path):
    (tmp_path / "bad.yaml").write_text("train:\n  epochz: 3\n")
    with pytest.raises(InputError, match=r"invalid settings: train\.epochz = 3 \(from .*bad\.yaml\): no such setting"):
        resolve_config(Path("c.jsonl"), None, [tmp_path / "bad.yaml"])
    with pytest.raises(InputError, match="unknown preset 'fast'; choose one of laptop, laptop-long, paper"):
        resolve_config(Path("c.jsonl"), "fast")
    with pytest.raises(InputError, match="expected key.path=value"):
        parse_override("train.epochs")
    with pytest.raises(InputError, match="no corpus given"):
        resolve_config(None, "laptop")


def test_config_files_merge_in_order_the_later_winning(tmp_path):
    (tmp_path / "a.yaml").write_text("train:\n  epochs: 7\n  list_size: 5\nmine:\n  list_size: 9\n")
    (tmp_path / "b.yaml").write_text("train:\n  epochs: 3\n")
    config = resolve_config(Path("c.jsonl"), "laptop", [tmp_path / "a.yaml", tmp_path / "b.yaml"])
    assert (config.train.epochs, config.train.list_size, config.mine.list_size) == (3, 5, 9)
    swapped = resolve_config(Path("c.jsonl"), "laptop", [tmp_path / "b.yaml", tmp_path / "a.yaml"])
    assert swapped.train.epochs == 7


@pytest.mark.parametrize(("files", "overrides", "expected"), [
    ({"a.yaml": "train:\n  epochs: 0\n", "b.yaml": "mine:\n  list_size: 5\n"}, (),
     "train.epochs = 0 (from {tmp}/a.yaml): input should be greater than or equal to 1"),
    ({"a.yaml": "mine:\n  list_size: 5\n", "b.yaml": "mine:\n  list_size: 1\n"}, (),
     "mine.list_size = 1 (from {tmp}/b.yaml): input should be greater than or equal to 2"),
    ({"a.yaml": "train:\n  epochs: 4\n"}, ("train.epochs=0",),
     "train.epochs = 0 (from --set train.epochs=0): input should be greater than or equal to 1"),
    ({"a.yaml": "train:\n  epochs: 0\n"}, ("train.epochs=2", "mine.list_size=5"),
     None),  # a bad value that a later source replaces is no error
    ({"a.yaml": "score:\n  teachers: [{kind: bm25}]\n"}, ("score.teachers=[{kind: bm26}]",),
     "score.teachers.0.kind = 'bm26' (from --set score.teachers=[{kind: bm26}]): input should be"),
])
def test_an_invalid_value_names_the_source_that_set_it(files, overrides, expected, tmp_path):
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    paths = [tmp_path / name for name in files]
    if expected is None:
        resolve_config(Path("c.jsonl"), "laptop", paths, overrides)
        return
    with pytest.raises(InputError) as raised:
        resolve_config(Path("c.jsonl"), "laptop", paths, overrides)
    assert expected.replace("{tmp}", str(tmp_path)) in str(raised.value)
    assert str(raised.value).count("(from ") == 1


def test_a_preset_extends_another_and_changes_only_what_it_names(tmp_path, monkeypatch):
    (tmp_path / "base.yaml").write_text("train:\n  epochs: 2\n  list_size: 5\nmine:\n  list_size: 5\n")
    (tmp_path / "longer.yaml").write_text("extends: base\ntrain:\n  epochs: 4\n")
    (tmp_path / "loop-a.yaml").write_text("extends: loop-b\n")
    (tmp_path / "loop-b.yaml").write_text("extends: loop-a\n")
    (tmp_path / "orphan.yaml").write_text("extends: gone\n")
    monkeypatch.setattr("corpustune.config.PRESETS_DIR", tmp_path)
    config = resolve_config(Path("c.jsonl"), "longer")
    assert (config.train.epochs, config.train.list_size, config.mine.list_size) == (4, 5, 5)
    with pytest.raises(InputError, match="presets extend each other in a loop: loop-a -> loop-b -> loop-a"):
        resolve_config(Path("c.jsonl"), "loop-a")
    with pytest.raises(InputError, match=r"orphan\.yaml: extends unknown preset 'gone'"):
        resolve_config(Path("c.jsonl"), "orphan")


def test_laptop_long_is_the_laptop_preset_with_more_passages():
    laptop, longer = resolve_config(Path("c.jsonl"), "laptop"), resolve_config(Path("c.jsonl"), "laptop-long")
    assert (laptop.generate.max_passages, longer.generate.max_passages) == (400, 600)
    assert longer.generate.model_copy(update={"max_passages": laptop.generate.max_passages}) == laptop.generate
    assert longer.model_copy(update={"generate": laptop.generate}) == laptop


def test_the_laptop_preset_trains_the_papers_loss_on_every_list_from_a_subset_of_types():
    laptop = resolve_config(Path("c.jsonl"), "laptop")
    teachers = [(t.kind, t.model) for t in laptop.score.teachers]
    assert teachers == [("bm25", None), ("biencoder", "bge-small")]
    assert (laptop.score.require_positive_first, laptop.score.top_score_percentile) == (False, None)
    assert (laptop.train.loss, laptop.train.epochs, laptop.train.listwise_weight, laptop.train.infonce_weight) == (
        "combined", 3, 1.0, 0.1)
    assert (laptop.generate.default_count, laptop.generate.types_per_passage) == (1, 2)
    # the generator reads about what the student reads of a passage (256 tokens), not the default 2,048 characters
    assert laptop.generate.passage_max_chars == 1100 < resolve_config(Path("c.jsonl")).generate.passage_max_chars


def test_max_passages_left_unset_is_capped_by_the_training_budget():
    # 6 built-in types x 1 query, 64 queries a step: 100 + ceil(4 x 100 x 64 / 6) = 100 + 4,267
    assert resolve_config(Path("c.jsonl")).generate.max_passages == 4367
    # 6 types x 2 queries, 8 queries a step, 10 held out: 10 + ceil(4 x 100 x 8 / 12) = 10 + 267
    smaller = resolve_config(Path("c.jsonl"), None, (), ("generate.default_count=2", "train.queries_per_step=8",
                                                         "generate.heldout_count=10"))
    assert smaller.generate.max_passages == 277


def test_a_given_max_passages_wins_over_the_cap_and_presets_keep_theirs(tmp_path):
    assert resolve_config(Path("c.jsonl"), None, (), ("generate.max_passages=12",)).generate.max_passages == 12
    assert resolve_config(Path("c.jsonl"), None, (), ("generate.max_passages=null",)).generate.max_passages is None
    presets = {name: resolve_config(Path("c.jsonl"), name).generate.max_passages for name in preset_names()}
    assert presets == {"laptop": 400, "laptop-long": 600, "paper": 100000}
    # The saved config (RUN/config.yaml) reads back to the same cap, as a value that was given.
    (tmp_path / "saved.yaml").write_text("generate:\n  max_passages: 4367\ntrain:\n  queries_per_step: 8\n")
    assert resolve_config(Path("c.jsonl"), None, [tmp_path / "saved.yaml"]).generate.max_passages == 4367
