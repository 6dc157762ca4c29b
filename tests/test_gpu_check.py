"""The device check (benchmarks/gpu_check.py): its CPU rehearsal on a tiny model and tiny data, end to
end through `prepare` and `check`, and the arithmetic it reports (FLOPs, MFU, weight comparison)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from corpustune.data.atomic import write_jsonl_atomic
from corpustune.data.beir import write_qrels, write_queries
from corpustune.data.records import Query, ScoredList
from corpustune.errors import InputError
from corpustune.layout import RunLayout
from tests.conftest import TINY_PASSAGES
from tests.train_fixtures import QUERIES, one_thread, tiny_examples  # noqa: F401 (fixture)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import gpu_check  # noqa: E402
from _device_figures import (  # noqa: E402
    EncoderShape,
    bf16_peak_tflops,
    encoder_shape,
    forward_flops,
    step_flops,
    utilization,
    weight_difference,
)

TEST_QUERIES = {"t1": ("aspirin and heart attack risk", "d1"), "t2": ("sleep memory children", "d4"),
                "t3": ("flu antibiotics", "d6")}


def tiny_run_and_beir(root: Path) -> tuple[Path, Path]:
    """A run folder with the tiny training lists and a BEIR folder of the tiny corpus with 3 test queries."""
    beir = root / "beir"
    write_jsonl_atomic(beir / "corpus.jsonl", [p.to_json() for p in TINY_PASSAGES])
    write_queries(beir / "queries.jsonl", [Query(q, text) for q, (text, _) in TEST_QUERIES.items()])
    write_qrels(beir / "qrels" / "test.tsv", {q: {d: 1} for q, (_, d) in TEST_QUERIES.items()})
    layout = RunLayout(root / "run")
    write_queries(layout.queries_file, [Query(q, text, "question", source) for q, text, source in QUERIES])
    write_jsonl_atomic(layout.scores_file, [
        ScoredList(e.query_id, e.passage_ids[0], e.passage_ids, e.teacher_scores).to_json() for e in tiny_examples(4)
    ])
    return layout.root, beir


@pytest.fixture
def carry(tmp_path, tiny_biencoder_path) -> Path:
    run, beir = tiny_run_and_beir(tmp_path)
    gpu_check.main(["prepare", "--run", str(run), "--beir", str(beir), "--out", str(tmp_path / "carry"),
                    "--list-size", "4", "--model", str(tiny_biencoder_path)])
    return tmp_path / "carry"


def test_rehearsal_on_cpu_runs_every_part_and_resumes_exactly(carry, tmp_path, capsys, one_thread):  # noqa: F811
    figures = gpu_check.main([
        "check", "--carry", str(carry), "--device", "cpu", "--sizes", "4,16", "--steps", "1", "--list-size", "4",
        "--passage-max-tokens", "64", "--resume-queries", "2", "--resume-steps", "4", "--tune-queries", "4",
        "--teacher-lists", "5", "--work", str(tmp_path / "work"), "--out", str(tmp_path / "out"),
    ])
    printed = capsys.readouterr().out
    assert [row["queries_per_step"] for row in figures["throughput"]] == [4, 16]
    for row in figures["throughput"]:
        assert row["steps_per_second"] > 0 and row["tflops"] > 0 and row["tokens"] > 0
        assert row["mfu"] is None  # no bf16 peak for a CPU: printed as n/a, not invented
    # 16 queries from 10 lists: the lists repeat, every distinct passage of the tiny corpus is in the step
    assert figures["throughput"][1]["distinct_passages"] == len(TINY_PASSAGES)
    resume = figures["resume"]
    assert (resume["resumed_from"], resume["killed_after"]) == (2, 3)
    # dropout 0.1: equal only if the RNG states come back from the checkpoint; CPU kernels: bit for bit
    assert resume["equal"] and resume["relative_l2"] == 0.0
    assert [e["model"] for e in figures["evaluation"]] == ["base", "tuned"]
    assert all(0.0 <= e["ndcg_at_10"] <= 1.0 and e["passages_per_second"] > 0 for e in figures["evaluation"])
    assert figures["teacher"]["distinct_pairs"] == 5 * 4 and figures["teacher"]["pairs_per_second"] > 0
    for line in ("throughput (Trainer.step", "profile (", "resume: 4 steps", "EQUAL", "nDCG@10", "pairs/s",
                 "whole check"):
        assert line in printed
    assert json.loads((tmp_path / "out" / "gpu_check.json").read_text())["resume"]["equal"] is True
    assert "aten::" in (tmp_path / "out" / "profile.txt").read_text()


def test_prepare_carries_the_student_in_bf16_and_refuses_a_folder_over_the_limit(carry, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    weights = load_file(str(next((carry / "model").rglob("model.safetensors"))))
    assert {t.dtype for t in weights.values()} == {torch.bfloat16}
    run, beir = tmp_path / "run", tmp_path / "beir"
    monkeypatch.setattr(gpu_check, "CARRY_LIMIT", 1024)
    with pytest.raises(InputError, match="over the 0 MiB limit"):
        gpu_check.prepare(run, beir, tmp_path / "again", list_size=4, model=None)


def test_weight_difference_finds_one_perturbed_weight():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    same = {k: v.clone() for k, v in model.state_dict().items()}
    assert weight_difference(model.state_dict(), same).within(0.0)
    perturbed = {k: v.clone() for k, v in same.items()}
    perturbed["1.weight"][0, 0] += 1e-3
    difference = weight_difference(model.state_dict(), perturbed)
    norm = torch.cat([v.flatten() for v in same.values()]).double().norm().item()
    assert difference.max_abs == pytest.approx(1e-3, rel=1e-4)
    assert difference.relative_l2 == pytest.approx(1e-3 / norm, rel=1e-4)
    assert not difference.within(1e-6)
    with pytest.raises(ValueError, match="different tensors"):
        weight_difference(same, {k: v for k, v in same.items() if k != "0.bias"})


def test_step_flops_by_hand():
    shape = EncoderShape(matrix_parameters=10, layers=2, width=4)
    # texts of 3 and 5 tokens: 2*10*(3+5) weight FLOPs + 4*2*4*(9+25) attention FLOPs
    assert forward_flops([3, 5], shape) == 160 + 1088
    assert step_flops([3, 5], shape, grad_cache=False) == 3 * 1248
    assert step_flops([3, 5], shape, grad_cache=True) == 4 * 1248


def test_encoder_shape_leaves_the_embedding_tables_out():
    from transformers import BertConfig, BertModel

    model = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=20))
    tables = 50 * 8 + 20 * 8 + 2 * 8  # word, position and token-type embeddings
    assert encoder_shape(model, 1, 8).matrix_parameters == sum(p.numel() for p in model.parameters()) - tables


def test_bf16_peaks_and_utilization():
    assert bf16_peak_tflops("NVIDIA H100 80GB HBM3") == 989.4
    assert bf16_peak_tflops("NVIDIA H100 PCIe") == 756.0
    assert bf16_peak_tflops("NVIDIA H200") == 989.4
    assert bf16_peak_tflops("Tesla T4") is None
    assert utilization(989.4e12 / 2, 1.0, 989.4) == pytest.approx(0.5)
    assert utilization(1e12, 1.0, None) is None


def test_prepare_refuses_lists_all_shorter_than_the_list_size(tmp_path):
    run, beir = tiny_run_and_beir(tmp_path)  # lists of 4
    with pytest.raises(InputError, match=r"scores\.jsonl: every list is shorter than 20 passages .*mine\.list_size=20"):
        gpu_check.prepare(run, beir, tmp_path / "carry", list_size=20, model=None)
