"""Interpolating the tuned student with the base, choosing the weight on held-out queries, and the
gate that publishes the base model when tuning made it worse."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from corpustune.config import RunConfig
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Passage, Query
from corpustune.errors import InputError
from corpustune.evaluate.answerable import AnswerableReport, answerable_queries
from corpustune.evaluate.paired import paired_difference
from corpustune.evaluate.publish import select_run
from corpustune.evaluate.select import choose_weight
from corpustune.layout import RunLayout
from corpustune.train.batching import Example
from corpustune.train.config import TrainConfig
from corpustune.train.interpolate import interpolate_state, interpolated_model
from corpustune.train.trainer import Trainer
from tests.conftest import TINY_PASSAGES, _vocabulary_texts
from tests.tiny_models import build_tiny_biencoder
from tests.train_fixtures import QUERIES, one_thread  # noqa: F401  (fixture used by pytestmark)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_paired_difference_is_the_mean_difference_with_its_standard_error():
    rng = np.random.default_rng(3)
    base, ours = rng.random(40), rng.random(40)
    result = paired_difference(ours, base)
    assert result.mean == pytest.approx(ours.mean() - base.mean(), abs=1e-12)
    assert result.se == pytest.approx(stats.sem(ours - base), rel=1e-12)
    assert result.n == 40 and paired_difference(ours[:1], base[:1]).se == 0.0


def test_the_rule_takes_the_smallest_weight_within_one_standard_error_of_the_best():
    rng = np.random.default_rng(0)
    base = rng.random(200)
    gain = base + 0.05 + 0.01 * rng.standard_normal(200)
    # a = 0.5 and a = 1 both gain; 1 is best by 0.0002, less than the standard error of the
    # paired difference (0.01 / sqrt(200) = 0.0007), so 0.5 is within one standard error of it
    noise = rng.standard_normal(200)
    curve = {0.0: base, 0.5: gain, 1.0: gain + 0.01 * (noise - noise.mean()) / noise.std(ddof=1) + 0.0002}
    selection = choose_weight(curve)
    assert selection.best == 1.0 and selection.weight == 0.5 and not selection.keeps_base
    # pure noise around the base: no weight beats it by more than its standard error
    noisy = {0.0: base, 0.5: np.clip(base + 0.05 * rng.standard_normal(200), 0, 1), 1.0: base.copy()}
    assert choose_weight(noisy).keeps_base
    # a clear loss: the base is best
    worse = {0.0: base, 1.0: base - 0.1}
    assert choose_weight(worse).weight == 0.0 and choose_weight(worse).best == 0.0
    with pytest.raises(ValueError, match="weight 0"):
        choose_weight({1.0: base})


@pytest.fixture(scope="module")
def two_students(tmp_path_factory):
    """Two tiny students of one architecture and vocabulary with different random weights."""
    folder = tmp_path_factory.mktemp("students")
    texts = _vocabulary_texts()
    return build_tiny_biencoder(folder / "a", texts, seed=0), build_tiny_biencoder(folder / "b", texts, seed=1)


def test_interpolated_weights_are_the_formula_and_the_ends_are_the_two_models(two_students):
    from sentence_transformers import SentenceTransformer

    base, tuned = (SentenceTransformer(str(path), device="cpu") for path in two_students)
    mixed = interpolate_state(base.state_dict(), tuned.state_dict(), 0.3)
    for name, tensor in tuned.state_dict().items():
        expected = 0.7 * base.state_dict()[name] + 0.3 * tensor if tensor.is_floating_point() else tensor
        assert torch.equal(mixed[name], expected), name
    texts = [p.full_text() for p in TINY_PASSAGES]
    for weight, model in ((0.0, base), (1.0, tuned)):
        assert np.array_equal(interpolated_model(base, tuned, weight).encode(texts), model.encode(texts))
    assert not np.allclose(interpolated_model(base, tuned, 0.5).encode(texts), base.encode(texts))
    changed = dict(tuned.state_dict())
    changed.pop(next(iter(changed)))
    with pytest.raises(Exception, match="different architectures"):
        interpolate_state(base.state_dict(), changed, 0.5)


def test_unanswerable_held_out_queries_are_dropped_and_counted():
    passages = {"p": Passage("p", "Microfilm preserves newspapers in libraries.", "Microfilming")}
    queries = [Query("ok", "how do libraries keep newspapers", "question", "p"),
               Query("none", "principle of non-refoulement", "question", "p"),
               Query("leak", "eiffel tower grows in summer libraries", "question", "p")]
    examples = {"leak": ["The Eiffel Tower grows by 15 cm in summer. how tall is the eiffel tower"]}
    report = AnswerableReport()
    assert answerable_queries(queries, passages, examples, 1, report) == {"ok"}
    assert (report.kept, report.no_overlap, report.example_leak) == (1, 1, 1)


def run_with_tuned(root: Path, base_path: Path, reverse_teacher: bool) -> tuple[Path, RunConfig]:
    """A run folder whose held-out set is the tiny queries and whose tuned student was trained on
    them, with the teacher's scores as given or reversed (the source passage scored lowest)."""
    run, data = root / "run", root / "corpus.jsonl"
    data.write_text("".join(json.dumps(p.to_json()) + "\n" for p in TINY_PASSAGES))
    layout = RunLayout(run)
    write_queries(layout.queries_file, [Query(q, text, "question", source) for q, text, source in QUERIES])
    write_qrels(layout.heldout_type_qrels("question"), {q: {source: 1} for q, _, source in QUERIES})
    ids = [p.id for p in TINY_PASSAGES]
    examples = []
    for q, text, source in QUERIES:
        passage_ids = (source, *[d for d in ids if d != source])
        scores = tuple(np.linspace(1.0, 0.0, len(passage_ids)))
        examples.append(Example(q, text, source, passage_ids, scores[::-1] if reverse_teacher else scores))
    train = TrainConfig(model=str(base_path), loss="listwise", list_size=6, queries_per_step=5, epochs=8,
                        learning_rate=3e-3, warmup_epochs=0, passage_max_tokens=32, query_max_tokens=16,
                        teacher_temperature=0.1)
    work, model_dir = layout.arm_dirs("listwise", main=True)
    Trainer(train, examples, [], {p.id: p for p in TINY_PASSAGES}, work, model_dir, show_progress=False).train()
    # BM25 is the teacher that grades the held-out queries (select.judge: teacher): no model to load
    config = RunConfig.model_validate({"data": {"path": str(data)}, "train": train.model_dump(),
                                       "generate": {"few_shot_count": 0}, "score": {"teachers": [{"kind": "bm25"}]}})
    return run, config


@pytest.fixture(scope="module")
def weak_student(tmp_path_factory):
    """A tiny student (seed 2) that ranks the source of 4 of the 10 tiny queries below first, so
    that tuning has room to help as well as to hurt."""
    return build_tiny_biencoder(tmp_path_factory.mktemp("weak"), _vocabulary_texts(), seed=2)


@pytest.mark.parametrize("judge", ["teacher", "source"])
@pytest.mark.parametrize("reverse_teacher", [True, False], ids=["made-worse", "made-better"])
def test_the_gate_publishes_the_base_when_tuning_hurt_and_the_tuning_when_it_helped(
        tmp_path, weak_student, reverse_teacher, judge):
    from sentence_transformers import SentenceTransformer

    base_path = weak_student
    run, config = run_with_tuned(tmp_path, base_path, reverse_teacher)
    curve = select_run(run, TINY_PASSAGES, with_select(config, judge=judge))
    tuned_vs_base = next(p for p in curve["selection"]["curve"] if p["weight"] == 1.0)["versus_base"]
    published = SentenceTransformer(str(RunLayout(run).model_dir), device="cpu")
    base = SentenceTransformer(str(base_path), device="cpu")
    texts = [p.full_text() for p in TINY_PASSAGES]
    card = (RunLayout(run).model_dir / "README.md").read_text()
    if reverse_teacher:
        assert tuned_vs_base["mean"] + tuned_vs_base["se"] < 0  # the tuning clearly hurt
        assert curve["published_weight"] == 0.0 and "published the base model unchanged" in curve["verdict"]
        assert np.array_equal(published.encode(texts), base.encode(texts))
        assert "base model, unchanged" in card
    else:
        assert tuned_vs_base["mean"] - tuned_vs_base["se"] > 0  # the tuning clearly helped
        assert curve["published_weight"] > 0.0 and "Published the interpolation" in curve["verdict"]
        assert not np.allclose(published.encode(texts), base.encode(texts))
    assert curve["decided_on"] == "held-out synthetic" and curve["answerable"]["kept"] == len(QUERIES)
    assert ("graded by the teacher" in curve["verdict"]) == (judge == "teacher")
    assert (curve["judge"] is None) == (judge == "source")


def test_teacher_grades_follow_the_teachers_ranking_of_a_pool_of_the_sources_and_every_top_10():
    from corpustune.evaluate.graded import pooled_passages, teacher_graded_qrels

    runs = [{"q": {f"a{i}": 20.0 - i for i in range(12)}}, {"q": {"b": 5.0, "a0": 4.0}}, {}]
    assert pooled_passages({"q": {"s": 1}}, runs) == {"q": sorted({"s", "b"} | {f"a{i}" for i in range(10)})}
    scores = {"q": {"x": 0.1, "y": 0.9, "z": 0.5, "w": 0.5, **{f"n{i}": -float(i) for i in range(10)}}}
    # y, then the tie w / z in id order, then x and n0 ... n5: ten graded, n6 ... n9 left out
    assert teacher_graded_qrels(scores) == {"q": {"y": 3, "w": 2, "z": 2, "x": 1, **{f"n{i}": 1 for i in range(6)}}}


def test_the_teacher_judge_scores_every_weight_against_the_grades_of_the_teachers_ranking(tmp_path, weak_student):
    from sentence_transformers import SentenceTransformer

    from corpustune.teach.lexical import BM25Teacher

    run, config = run_with_tuned(tmp_path, weak_student, reverse_teacher=False)
    curve = select_run(run, TINY_PASSAGES, config)
    source = select_run(run, TINY_PASSAGES, with_select(config, judge="source"))
    assert "graded by the teacher" in curve["verdict"] and [t["kind"] for t in curve["judge"]["teachers"]] == ["bm25"]
    # the reference: six passages, so every weight's top 10 pools the whole corpus; an in-memory
    # BM25 scores every pair by text, grades 3 / 2 / 1 by its ranking, nDCG@10 with linear gains
    texts = [p.full_text() for p in TINY_PASSAGES]
    bm25 = BM25Teacher(TINY_PASSAGES)
    tuned = SentenceTransformer(str(RunLayout(run).arm_dirs("listwise", main=True)[1]), device="cpu")
    base = SentenceTransformer(str(weak_student), device="cpu")
    normalize = base.similarity_fn_name == "cosine"
    for weight, judged in curve["judge"]["per_query"].items():
        a = float(weight)
        model = base if a == 0.0 else tuned if a == 1.0 else interpolated_model(base, tuned, a)
        passage_vectors = model.encode(texts, normalize_embeddings=normalize)
        for q, text, _ in QUERIES:
            teacher = bm25.score([(text, t) for t in texts])
            order = sorted(range(len(texts)), key=lambda j: (-teacher[j], TINY_PASSAGES[j].id))
            grade = {order[0]: 3, order[1]: 2, order[2]: 2} | {j: 1 for j in order[3:10]}
            student = passage_vectors @ model.encode([text], normalize_embeddings=normalize)[0]
            ranking = np.argsort(-student, kind="stable")[:10]
            dcg = sum(grade.get(j, 0) / np.log2(i + 2) for i, j in enumerate(ranking))
            ideal = sum(g / np.log2(i + 2) for i, g in enumerate(sorted(grade.values(), reverse=True)))
            assert judged[q] == pytest.approx(dcg / ideal, abs=1e-6), (weight, q)
    decided = {float(a): np.array(list(v.values())) for a, v in curve["judge"]["per_query"].items()}
    assert curve["selection"] == choose_weight(decided).to_json()
    # the source rule grades the same rankings by the source passage alone: other values, the same runs
    assert source["judge"] is None and source["per_query"] == curve["per_query"]
    assert any(curve["judge"]["per_query"][a] != source["per_query"][a]["held-out synthetic"]["nDCG@10"]
               for a in curve["judge"]["per_query"])


def test_with_nothing_to_decide_on_the_base_is_published_and_the_run_says_why(tmp_path, weak_student):
    run, config = run_with_tuned(tmp_path, weak_student, reverse_teacher=False)
    RunLayout(run).heldout_type_qrels("question").unlink()
    curve = select_run(run, TINY_PASSAGES, config)
    assert curve["published_weight"] == 0.0 and curve["selection"] is None
    assert "No held-out synthetic query" in curve["verdict"] and sorted(curve["per_query"]) == ["0.0", "1.0"]
    tuned = RunConfig.model_validate(config.model_dump() | {"select": {"publish": "tuned"}})
    assert select_run(run, TINY_PASSAGES, tuned)["published_weight"] == 1.0


# passages no query is about, made of the tiny vocabulary so that they score like real ones
FILLER = [Passage(f"f{i}", " ".join(_vocabulary_texts()[-1].split()[i % 5::3] + _vocabulary_texts()[i % 6].split()[:2]))
          for i in range(14)]


def with_select(config: RunConfig, **select) -> RunConfig:
    return RunConfig.model_validate(config.model_dump() | {"select": config.select.model_dump() | select})


def test_selection_on_a_subcorpus_that_holds_everything_equals_full_corpus_selection(tmp_path, weak_student):
    run, config = run_with_tuned(tmp_path, weak_student, reverse_teacher=False)
    passages = TINY_PASSAGES + FILLER
    full = select_run(run, passages, with_select(config, corpus="full"))
    sub = select_run(run, passages, with_select(config, corpus="sub", sub_top_k=1, sub_distractors=1000))
    assert full["corpus"] == {"kind": "full", "passages": 20, "corpus_passages": 20}
    built = sub["corpus"]["built"]
    assert (sub["corpus"]["kind"], sub["corpus"]["passages"], built["judged"]) == ("sub", 20, 6)
    assert built["judged"] + built["retrieved"] + built["distractors"] == 20 and built["distractors"] > 0
    assert json.loads(RunLayout(run).select_subcorpus.read_text())["ids"] == [p.id for p in passages]
    assert sub["per_query"] == full["per_query"]
    assert (sub["selection"], sub["published_weight"]) == (full["selection"], full["published_weight"])


def test_the_subcorpus_holds_judged_heldout_and_the_base_and_bm25_top_k_and_nothing_else(tmp_path, weak_student):
    from sentence_transformers import SentenceTransformer

    from corpustune.retrieve.bm25 import BM25Index

    run, config = run_with_tuned(tmp_path, weak_student, reverse_teacher=False)
    layout = RunLayout(run)
    # f3 is the source of a held-out query the answerable filter or a type file may lose: still held out
    write_qrels(layout.heldout_qrels, {q: {source: 1} for q, _, source in QUERIES} | {"gone": {"f3": 1}})
    passages = TINY_PASSAGES + FILLER
    curve = select_run(run, passages, with_select(config, corpus="sub", sub_top_k=2, sub_distractors=0))
    kept = json.loads(layout.select_subcorpus.read_text())["ids"]
    # the references: the base model's cosine top 2 by numpy, BM25's top 2 of the same index settings
    base = SentenceTransformer(str(weak_student), device="cpu")
    texts = [text for _, text, _ in QUERIES]
    normalize = base.similarity_fn_name == "cosine"
    scores = (base.encode(texts, normalize_embeddings=normalize)
              @ base.encode([p.full_text() for p in passages], normalize_embeddings=normalize).T)
    dense = {passages[j].id for row in scores for j in np.argsort(-row, kind="stable")[:2]}
    bm25 = {p for docs in BM25Index(passages).run([q for q, _, _ in QUERIES], texts, 2).values() for p in docs}
    expected = {source for _, _, source in QUERIES} | {"f3"} | dense | bm25
    assert set(kept) == expected and len(kept) < len(passages)
    assert kept == [p.id for p in passages if p.id in expected]  # corpus order
    assert curve["corpus"]["passages"] == len(expected) and curve["corpus"]["corpus_passages"] == len(passages)
    # the next selection on the whole corpus leaves no stale sub-corpus for the evaluate stage
    select_run(run, passages, with_select(config, corpus="full"))
    assert not layout.select_subcorpus.exists()


def test_evaluation_runs_the_arms_on_the_selection_subcorpus_and_the_report_says_so(tmp_path, weak_student):
    import shutil

    from corpustune.evaluate.compare import evaluate_run
    from corpustune.pipeline.runner import TIMINGS_FILE
    from corpustune.report.collect import collect_report_data

    run, config = run_with_tuned(tmp_path, weak_student, reverse_teacher=True)
    layout = RunLayout(run)
    # an ablation arm that is the tuned model itself: on the same passages its figures are the tuned ones
    shutil.copytree(layout.arm_dirs("listwise", main=True)[1], layout.arm_dirs("infonce", main=False)[1])
    config = with_select(config, corpus="sub", sub_top_k=1, sub_distractors=0)
    config = RunConfig.model_validate(config.model_dump() | {"ablation": ["infonce"]})
    passages = TINY_PASSAGES + FILLER
    curve = select_run(run, passages, config)
    results = evaluate_run(run, passages, config)
    assert results["corpus"] == curve["corpus"] and curve["corpus"]["passages"] < len(passages)
    for evaluated in results["sets"]:
        assert evaluated["results"]["infonce"] == evaluated["results"]["tuned"], evaluated["name"]
    (run / TIMINGS_FILE).write_text(json.dumps({"stages": [], "total_seconds": 0}))  # the pipeline's, not run here
    report = collect_report_data(run, config)
    assert any(f"sub-corpus of {curve['corpus']['passages']} of the corpus's 20 passages" in n for n in report.notes)
    # the curve that decided is the teacher-graded one, its points the means of curve.json's `judge`
    [deciding] = [c for c in report.publication.curves if c.deciding]
    assert deciding.name == "held-out synthetic, graded by the teacher"
    assert deciding.points == [(float(a), pytest.approx(np.mean(list(v.values()))))
                               for a, v in sorted(curve["judge"]["per_query"].items(), key=lambda i: float(i[0]))]
    assert report.settings["query types"] == "question, claim, title, keywords, web, web_fewshot"
    subset = RunConfig.model_validate(config.model_dump() | {"generate": {"few_shot_count": 0, "types_per_passage": 2}})
    assert collect_report_data(run, subset).settings["query types"].endswith("(2 a training passage, drawn per passage)")
    layout.select_subcorpus.unlink()
    with pytest.raises(InputError, match="subcorpus.json: missing.*run the select stage again"):
        evaluate_run(run, passages, config)


def test_slices_cover_the_corpus_once_and_merged_slice_runs_are_the_whole_corpus_top_k():
    from corpustune.evaluate.sharded import merge_runs
    from corpustune.parallel import Context, contiguous_share

    for size, world in ((20, 2), (7, 3), (2, 4)):
        shares = [contiguous_share(size, Context(rank=r, world_size=world)) for r in range(world)]
        assert [i for share in shares for i in share] == list(range(size)), (size, world)
    halves = [{"q": {"a": 0.9, "b": 0.1}}, {"q": {"c": 0.5, "d": 0.9}, "r": {}}]
    assert merge_runs(halves, 3) == {"q": {"a": 0.9, "d": 0.9, "c": 0.5}, "r": {}}


@pytest.mark.slow  # one two-rank launch: about 40 s on a shared 2-core machine
def test_selection_on_two_gloo_ranks_equals_one_process(tmp_path, two_students):
    import shutil
    import subprocess
    import sys

    base, other = two_students
    runs = {}
    for name in ("one", "two"):
        run, data = tmp_path / name / "run", tmp_path / name / "corpus.jsonl"
        data.parent.mkdir()
        data.write_text("".join(json.dumps(p.to_json()) + "\n" for p in TINY_PASSAGES + FILLER))
        layout = RunLayout(run)
        write_queries(layout.queries_file, [Query(q, text, "question", source) for q, text, source in QUERIES])
        write_qrels(layout.heldout_type_qrels("question"), {q: {source: 1} for q, _, source in QUERIES})
        shutil.copytree(other, layout.arm_dirs("listwise", main=True)[1])  # the "tuned" student
        config = RunConfig.model_validate({"data": {"path": str(data)}, "generate": {"few_shot_count": 0},
                                           "train": {"model": str(base), "loss": "listwise"},
                                           "select": {"corpus": "full"}, "score": {"teachers": [{"kind": "bm25"}]}})
        runs[name] = (run, config)
    select_run(*runs["one"][:1], TINY_PASSAGES + FILLER, runs["one"][1])
    settings = tmp_path / "config.json"
    settings.write_text(runs["two"][1].model_dump_json())
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(Path(__file__).with_name("select_worker.py")), str(runs["two"][0]), str(settings)],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    assert done.returncode == 0, done.stderr[-3000:]
    one, two = (json.loads(RunLayout(runs[n][0]).select_curve.read_text()) for n in ("one", "two"))
    assert one["per_query"] == two["per_query"] and one["published_weight"] == two["published_weight"]
    assert one["judge"] == two["judge"] and one["selection"] == two["selection"]  # rank 0's grades on every rank
    pooled = [by_set["held-out synthetic"]["nDCG@10"] for by_set in one["per_query"].values()]
    assert len({v for values in pooled for v in values.values()}) > 1  # rankings that differ were compared


def test_the_select_command_runs_select_and_evaluate_and_says_which_corpus(tmp_path, two_students, monkeypatch):
    import shutil

    from typer.testing import CliRunner

    from corpustune.cli import app

    monkeypatch.setenv("CORPUSTUNE_CACHE", str(tmp_path / "cache"))
    base, other = two_students
    run, data = tmp_path / "run", tmp_path / "corpus.jsonl"
    data.write_text("".join(json.dumps(p.to_json()) + "\n" for p in TINY_PASSAGES + FILLER))
    layout = RunLayout(run)
    write_queries(layout.queries_file, [Query(q, text, "question", source) for q, text, source in QUERIES])
    write_qrels(layout.heldout_type_qrels("question"), {q: {source: 1} for q, _, source in QUERIES})
    shutil.copytree(other, layout.arm_dirs("listwise", main=True)[1])
    settings = ["--set", f"train.model={base}", "--set", "train.loss=listwise", "--set", "generate.few_shot_count=0",
                "--set", "select.sub_top_k=1", "--set", "select.sub_distractors=0",
                "--set", "score.teachers=[{kind: bm25}]"]
    result = CliRunner().invoke(app, ["select", "--data", str(data), "--out", str(run), "--corpus", "sub", *settings])
    assert result.exit_code == 0, result.output
    curve, results = (json.loads(path.read_text()) for path in (layout.select_curve, layout.eval_results))
    assert curve["corpus"]["kind"] == "sub" and results["corpus"] == curve["corpus"]
    assert f"sub-corpus of {curve['corpus']['passages']} of the corpus's 20 passages" in result.output
    bad = CliRunner().invoke(app, ["select", "--data", str(data), "--out", str(run), "--corpus", "some"])
    assert bad.exit_code == 2 and "--corpus must be auto, sub or full" in bad.output
