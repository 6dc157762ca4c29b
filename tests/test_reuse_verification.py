"""One verification rule for what the pipeline reuses (issue 28, items 2, 5, 9, 10, 12, 13): a cache
entry or checkpoint is checked against the seal written with it, and a bad one is named, moved
aside and computed again; a resumed training log holds each step once; stage output digests
cover content, not timings or cache hits; a stage command refuses upstream outputs changed since
their DONE.json (the toy-stage mechanics are in test_pipeline.py). Tiny in-code models; real
caches, teachers and loops."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from corpustune.config import RunConfig
from corpustune.data.atomic import write_jsonl_atomic
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query
from corpustune.layout import RunLayout
from corpustune.parallel import Context
from corpustune.pipeline import Pipeline, read_done
from corpustune.pipeline.stages import build_stages
from corpustune.retrieve.encode import EmbeddingCache, encode, load_encoder
from corpustune.teach.cache import ScoreCache
from corpustune.teach.lexical import BM25Teacher
from corpustune.teach.scorer import score_pairs
from corpustune.train.checkpoint import latest_checkpoint, save_checkpoint
from corpustune.train.config import TrainConfig
from corpustune.train.trainer import Trainer
from tests.conftest import TINY_PASSAGES
from tests.test_train_checkpoint import small_training
from tests.test_run_folder_contract import tiny_config  # noqa: F401  (fixture)
from tests.train_fixtures import one_thread, tiny_examples, tiny_passage_map  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("one_thread")
TEXTS = [p.full_text() for p in TINY_PASSAGES] * 2  # 12 rows, as in the issue


def _random_rows(rows: int):
    def damage(path: Path) -> None:
        with open(path, "wb") as handle:  # a valid .npy of the right dtype: only the seal can tell
            np.save(handle, np.random.default_rng(0).standard_normal((rows, 32)).astype(np.float32))
    return damage


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_seal(path: Path) -> None:
    path.with_name(path.name + ".seal.json").unlink()


EMBEDDING_DAMAGE = {
    "random values, right shape": _random_rows(12),
    "3 of 12 rows": _random_rows(3),
    "truncated": _truncate,
    "one flipped byte": _flip_last_byte,
    "no seal": _drop_seal,
}


@pytest.mark.parametrize("damage", EMBEDDING_DAMAGE.values(), ids=EMBEDDING_DAMAGE.keys())
def test_a_damaged_embedding_cache_entry_is_named_moved_aside_and_encoded_again(tmp_path, tiny_biencoder_path,
                                                                                caplog, damage):
    model = load_encoder(str(tiny_biencoder_path), device="cpu")
    cache = EmbeddingCache(tmp_path / "embeddings")
    # a copy: the entry comes back memory-mapped, and the damage below edits the file in place (the
    # pipeline itself only ever replaces an entry by renaming, which leaves live mappings intact)
    first = np.array(cache.encode(model, TEXTS))
    path = cache.path(model, TEXTS)
    assert model.get_embedding_dimension() == 32 and path.exists()
    damage(path)
    with caplog.at_level(logging.WARNING):
        again = cache.encode(model, TEXTS)
    reference = encode(model, TEXTS)  # independent of the cache
    np.testing.assert_allclose(again, reference, rtol=0, atol=1e-6)
    np.testing.assert_allclose(first, reference, rtol=0, atol=1e-6)
    assert str(path) in caplog.text and "moved aside" in caplog.text
    assert path.with_name(path.name + ".corrupt").exists()
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the new entry is sealed and read back without a word
        np.testing.assert_array_equal(cache.encode(model, TEXTS), again)
    assert "moved aside" not in caplog.text


def test_a_biencoder_teacher_does_not_preset_passages_from_a_damaged_corpus_entry(tmp_path, tiny_biencoder_path):
    from corpustune.teach.biencoder import BiEncoderTeacher

    cache = EmbeddingCache(tmp_path / "embeddings")
    corpus = [p.full_text() for p in TINY_PASSAGES]
    teacher = BiEncoderTeacher(str(tiny_biencoder_path), corpus=corpus, embedding_cache=cache, device="cpu",
                               precision="fp32")
    cache.encode(teacher.encoder, corpus, prompt=teacher.passage_prompt)
    _random_rows(len(corpus))(cache.path(teacher.encoder, corpus, prompt=teacher.passage_prompt))
    pairs = [("aspirin heart", text) for text in corpus]
    scores = teacher.score(pairs)
    assert not teacher.corpus_reused
    queries = encode(teacher.encoder, ["aspirin heart"], normalize=True)
    passages = encode(teacher.encoder, corpus, normalize=True)
    np.testing.assert_allclose(scores, passages @ queries[0], rtol=0, atol=1e-5)


def test_an_edited_or_garbled_teacher_score_is_scored_again_and_moved_aside(tmp_path, caplog):
    teacher = BM25Teacher(TINY_PASSAGES)
    pairs = [("aspirin heart", p.full_text()) for p in TINY_PASSAGES]
    cache = ScoreCache(tmp_path / "scores")
    first = score_pairs(pairs, teacher, cache, Context(), chunk_size=2)
    cache.close()
    log = tmp_path / "scores" / "part-0.jsonl"
    lines = log.read_text().splitlines()
    edited = json.loads(lines[0]) | {"s": 99.0}  # same key, another score, the old check
    lines[0] = json.dumps(edited)
    lines.insert(2, "{not json")
    log.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.WARNING):
        again = score_pairs(pairs, teacher, ScoreCache(tmp_path / "scores"), Context(), chunk_size=2)
    np.testing.assert_array_equal(again, first)
    np.testing.assert_allclose(first, teacher.score(pairs), rtol=0, atol=0)
    assert f"{log}: lines 1, 3" in caplog.text
    aside = (tmp_path / "scores" / "part-0.jsonl.corrupt").read_text().splitlines()
    assert aside == [json.dumps(edited), "{not json"]
    # the log holds every pair once more, all checked: a third run reuses them all silently
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        ScoreCache(tmp_path / "scores").load()
    assert "moved aside" not in caplog.text and len(ScoreCache(tmp_path / "scores").load()) == len(pairs)


def _damage_json(path: Path) -> None:
    path.write_text(path.read_text().replace("1", "7", 1))


CHECKPOINT_DAMAGE = {
    "truncated model.safetensors": ("model.safetensors", _truncate),
    "flipped byte in model.safetensors": ("model.safetensors", _flip_last_byte),
    "truncated training_state.pt": ("training_state.pt", _truncate),
    "damaged loop.json": ("loop.json", _damage_json),
    "missing rng.json": ("rng.json", Path.unlink),
    "no seal": ("SEAL.json", Path.unlink),
}


@pytest.mark.parametrize("name, damage", CHECKPOINT_DAMAGE.values(), ids=CHECKPOINT_DAMAGE.keys())
def test_a_damaged_checkpoint_is_moved_aside_and_not_resumed(tmp_path, caplog, name, damage):
    model, optimizer, scheduler = small_training()
    folder = save_checkpoint(tmp_path, model, optimizer, scheduler, {"global_step": 1})
    assert latest_checkpoint(tmp_path) == folder
    damage(folder / name)
    with caplog.at_level(logging.WARNING):
        assert latest_checkpoint(tmp_path) is None
    assert str(folder) in caplog.text and "training starts again from step 0" in caplog.text
    assert (tmp_path / "checkpoint-1.corrupt").is_dir() and not folder.exists()
    # the next checkpoint is written and found as usual; the damaged one stays for inspection
    assert latest_checkpoint(tmp_path) is None
    written = save_checkpoint(tmp_path, model, optimizer, scheduler, {"global_step": 2})
    assert latest_checkpoint(tmp_path) == written
    assert (tmp_path / "checkpoint-1.corrupt").is_dir()


class Stop(Exception):
    """Stands for a kill after a step (the trainer keeps what it logged and checkpointed)."""


def _trainer(model_path: Path, out: Path, stop_after: int | None = None) -> Trainer:
    config = TrainConfig(model=str(model_path), epochs=2, queries_per_step=2, query_max_tokens=16,
                         passage_max_tokens=24, teacher_temperature=0.1, checkpoint_every_steps=2,
                         eval_every_steps=3)

    def stop(trainer, result) -> None:
        if stop_after is not None and trainer.state.global_step == stop_after:
            raise Stop

    examples = tiny_examples()
    return Trainer(config, examples[:8], examples[8:], tiny_passage_map(), out / "train", out / "model",
                   callbacks=[stop], show_progress=False)


def _steps(out: Path) -> list[tuple]:
    """(step, kind) of every training-log record, in order."""
    records = [json.loads(line) for line in (out / "train" / "log.jsonl").read_text().splitlines()]
    return [(r["step"], "dev" if "dev_loss" in r else "train") for r in records]


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "model.safetensors"))


RESUME_DAMAGE = {
    "resume": None,
    "damaged checkpoint: fresh start": "checkpoints/checkpoint-4/model.safetensors",
    "damaged best model so far: fresh start": "best/model.safetensors",
}


@pytest.mark.parametrize("damaged", RESUME_DAMAGE.values(), ids=RESUME_DAMAGE.keys())
def test_a_resumed_run_logs_each_step_once_and_ends_with_the_uninterrupted_model(tiny_biencoder_path, tmp_path,
                                                                                  caplog, damaged):
    plain, stopped = tmp_path / "plain", tmp_path / "stopped"
    _trainer(tiny_biencoder_path, plain).train()
    with pytest.raises(Stop):  # killed after step 5: the last checkpoint is step 4, steps 5 is lost
        _trainer(tiny_biencoder_path, stopped, stop_after=5).train()
    checkpoints = stopped / "train" / "checkpoints"
    assert (checkpoints / "latest").read_text().strip() == "checkpoint-4"
    assert Counter(_steps(stopped))[(5, "train")] == 1
    if damaged:
        _flip_last_byte(stopped / "train" / damaged)
    with caplog.at_level(logging.WARNING):
        _trainer(tiny_biencoder_path, stopped).train()
    assert ("checkpoint-4" in caplog.text) == (damaged is not None)
    if damaged:
        assert f"{stopped / 'train' / Path(damaged).parts[0]}" in caplog.text
        assert "training starts again from step 0" in caplog.text
    assert _steps(stopped) == _steps(plain)  # each step and dev evaluation once, in order
    assert len(set(_steps(plain))) == len(_steps(plain)) and (8, "train") in _steps(plain)
    a, b = _weights(plain), _weights(stopped)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _hand_made_queries(run: Path) -> None:
    """Training queries put in the run folder by hand (no generate DONE record)."""
    queries = [Query(f"q{i}", text, type="keywords", source_id=source) for i, (source, text) in enumerate(
        [("d1", "aspirin heart attack"), ("d2", "running lung capacity"), ("d3", "vitamin d winter"),
         ("d4", "sleep memory children"), ("d5", "coffee liver disease"), ("d6", "antibiotics flu virus")])]
    write_queries(RunLayout(run).queries_file, queries)
    write_qrels(RunLayout(run).train_qrels, {q.id: {q.source_id: 1} for q in queries})


def test_mine_and_score_digests_cover_the_lists_not_their_timings_or_cache_hits(tmp_path, tiny_biencoder_path,
                                                                               monkeypatch):
    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    corpus, run = tmp_path / "corpus.jsonl", tmp_path / "run"
    write_jsonl_atomic(corpus, (p.to_json() for p in TINY_PASSAGES))
    _hand_made_queries(run)
    config = RunConfig.model_validate({
        "data": {"path": str(corpus)},
        "mine": {"dense": [{"model": str(tiny_biencoder_path)}], "depth": 6, "list_size": 4, "filter_top_n": None},
        "score": {"teachers": [{"kind": "bm25"}], "require_positive_first": False, "top_score_percentile": None},
    })
    layout = RunLayout(run)
    digests, stats = Counter(), []
    for attempt in range(2):  # the second attempt reads the embedding and score caches of the first
        pipeline = Pipeline(run, build_stages(config, list(TINY_PASSAGES)), echo=lambda line: None)
        for stage in ("mine", "score"):
            pipeline.run_stage(stage, fresh=True)
            digests[stage, read_done(run, {"mine": "candidates", "score": "scores"}[stage]).outputs_digest] += 1
        stats.append(json.loads(layout.scores_stats.read_text())["scoring"])
    assert stats[0]["cached_pairs"] == 0 and stats[1]["scored_pairs"] == 0  # the stats differ ...
    assert sorted(digests.values()) == [2, 2]  # ... the digests downstream stages depend on do not


def test_train_refuses_a_scores_file_cut_after_the_score_stage_wrote_it(tmp_path, tiny_biencoder_path, monkeypatch):
    """The issue's reproduction: `scores.jsonl` cut to fewer lists, then `corpustune train`."""
    from typer.testing import CliRunner

    from corpustune.cli import app

    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    corpus, run, settings = tmp_path / "corpus.jsonl", tmp_path / "run", tmp_path / "tiny.yaml"
    write_jsonl_atomic(corpus, (p.to_json() for p in TINY_PASSAGES))
    _hand_made_queries(run)
    settings.write_text(json.dumps({
        "mine": {"dense": [{"model": str(tiny_biencoder_path)}], "depth": 6, "list_size": 4, "filter_top_n": None},
        "score": {"teachers": [{"kind": "bm25"}], "require_positive_first": False, "top_score_percentile": None},
        "train": {"model": str(tiny_biencoder_path), "list_size": 4, "queries_per_step": 2, "epochs": 1,
                  "query_max_tokens": 16, "passage_max_tokens": 24},
    }))
    common = ["--data", str(corpus), "--out", str(run), "--config", str(settings)]
    for stage in ("mine", "score"):
        result = CliRunner().invoke(app, [stage, *common])
        assert result.exit_code == 0, result.output
    scores = RunLayout(run).scores_file
    lines = scores.read_text().splitlines()
    assert len(lines) == 6
    scores.write_text("\n".join(lines[:4]) + "\n")
    result = CliRunner().invoke(app, ["train", *common])
    assert result.exit_code == 2, result.output
    assert f"error: {scores} was changed after the score stage wrote it" in " ".join(result.output.split())
    assert not RunLayout(run).train_dir.exists()


def test_mine_refuses_a_query_edited_after_generation_and_run_restores_it(tmp_path, tiny_config, monkeypatch):
    """The issue's reproduction: one query's text edited (same id), `RUN/candidates/` deleted,
    `corpustune mine`, then `corpustune run`."""
    import shutil

    from typer.testing import CliRunner

    from corpustune.cli import app
    from tests.llm_server import ScriptedServer
    from tests.test_run_folder_contract import invoke, statuses, write_corpus

    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    data, run = write_corpus(tmp_path / "data"), tmp_path / "run"
    layout = RunLayout(run)
    with ScriptedServer() as server:
        settings = ["--data", str(data), "--out", str(run), "--config", str(tiny_config(server)),
                    "--text-field", "body"]
        invoke("generate", *settings)
        invoke("mine", *settings)
        original = layout.queries_file.read_text()
        records = [json.loads(line) for line in original.splitlines()]
        records[0]["text"] = "an edited query about something else"
        layout.queries_file.write_text("".join(json.dumps(r) + "\n" for r in records))
        shutil.rmtree(layout.candidates_dir)
        result = CliRunner().invoke(app, ["mine", *settings])
        assert result.exit_code == 2, result.output
        message = " ".join(result.output.split())
        assert f"error: {layout.queries_file} was changed after the generate stage wrote it" in message
        assert "rerun the generate stage" in message and not layout.candidates_dir.exists()
        requests = server.requests
        output = " ".join(invoke("run", *settings).split())
        assert server.requests == requests  # the query comes back from the generation log
    assert f"{layout.queries_file} changed since DONE.json recorded it" in output
    assert layout.queries_file.read_text() == original
    assert statuses(run)["generate"] == statuses(run)["mine"] == "done"
