"""bf16 autocast training equals fp32 training up to bf16 rounding, on a tiny model.

bf16 keeps 8 significant bits, so each rounding of an operand or a result has relative error at
most u = 2**-8. autocast rounds the operands and the result of every matmul (accumulation is
fp32); LayerNorm, softmax and the loss stay fp32. The tiny BERT has 2 layers of 8 matmuls (Q, K,
V, Q K^T, attention x V, output, FFN in, FFN out), so an embedding passes through at most 16
rounded matmuls, each adding at most 3u (two operands, one result) to its relative error, and a
parameter gradient through as many again on the way back. The test runs on any CPU: without
native bf16 instructions PyTorch emulates them with the same rounding.
"""

from __future__ import annotations

import pytest
import torch

from corpustune.train.batching import make_batch
from corpustune.train.config import TrainConfig
from corpustune.train.gradcache import StepEncoder, TextSide, run_step
from corpustune.train.losses import CombinedLoss
from corpustune.train.trainer import Trainer, load_student
from tests.train_fixtures import (
    one_thread,  # noqa: F401  (fixture used by pytestmark)
    tiny_examples,
    tiny_passage_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")

UNIT_ROUNDOFF = 2.0**-8  # bf16: 8 significant bits
ROUNDED_MATMULS = 2 * 8  # tiny BERT: 2 layers x 8 matmuls on the forward path
EMBEDDING_TOLERANCE = ROUNDED_MATMULS * 3 * UNIT_ROUNDOFF  # relative, forward only
GRADIENT_TOLERANCE = 2 * EMBEDDING_TOLERANCE  # relative, forward and backward
QUERY, PASSAGE = TextSide("query ", 16), TextSide("passage ", 24)


def _step(model_path, autocast: torch.dtype | None):
    """One training step's loss, its embeddings (fp32), the embedding gradient and the parameter gradients."""
    config = TrainConfig(model=str(model_path), mask_fraction=0.3)
    model = load_student(config, torch.device("cpu"))
    model.train()
    encoder = StepEncoder(model, torch.device("cpu"), 10**6, autocast)
    batch = make_batch(tiny_examples())
    texts = {p.id: p.full_text() for p in tiny_passage_map().values()}
    loss_fn = CombinedLoss.from_config(config)
    result = run_step(encoder, loss_fn, batch, texts, QUERY, PASSAGE, train=True, grad_cache=False)
    grads = {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights stay fp32
    assert all(g.dtype == torch.float32 for g in grads.values())
    with torch.no_grad():
        passage_texts = [texts[p] for p in batch.passage_ids]
        queries, _ = encoder.embed(list(batch.query_texts), encoder.chunks(list(batch.query_texts), QUERY), QUERY)
        passages, _ = encoder.embed(passage_texts, encoder.chunks(passage_texts, PASSAGE), PASSAGE)
    assert queries.dtype == passages.dtype == torch.float32  # the loss runs on fp32 embeddings
    leaves = queries.clone().requires_grad_(), passages.clone().requires_grad_()
    loss_fn(*leaves, batch.list_index, batch.teacher_scores, batch.valid, batch.positive_index).total.backward()
    return result.loss, (queries, passages), (leaves[0].grad, leaves[1].grad), grads


def _relative(new: torch.Tensor, reference: torch.Tensor) -> float:
    return ((new - reference).norm() / reference.norm()).item()


def test_bf16_step_equals_fp32_step_up_to_bf16_rounding(tiny_biencoder_path):
    loss32, embeddings32, embedding_grads32, grads32 = _step(tiny_biencoder_path, None)
    loss16, embeddings16, _, grads16 = _step(tiny_biencoder_path, torch.bfloat16)
    assert grads32.keys() == grads16.keys() and len(grads32) > 10
    assert any(not torch.equal(grads16[name], grad) for name, grad in grads32.items())  # bf16 really computed
    for new, reference in zip(embeddings16, embeddings32):
        assert 0 < _relative(new, reference) <= EMBEDDING_TOLERANCE
    # the loss moves by at most its first-order change under the embedding error (x2 for higher orders)
    first_order = sum((g.abs() * (new - old).abs()).sum().item()
                      for g, new, old in zip(embedding_grads32, embeddings16, embeddings32))
    assert abs(loss16 - loss32) <= 2 * first_order
    flat16 = torch.cat([g.flatten() for g in grads16.values()])
    flat32 = torch.cat([g.flatten() for g in grads32.values()])
    assert _relative(flat16, flat32) <= GRADIENT_TOLERANCE
    for name, grad in grads32.items():
        if name.endswith("attention.self.key.bias"):  # exactly 0: softmax ignores a shift shared by all keys
            assert grad.norm() < 1e-6 * flat32.norm() and grads16[name].norm() < 1e-6 * flat32.norm()
        else:
            assert _relative(grads16[name], grad) <= GRADIENT_TOLERANCE, name


def _losses(model_path, out, precision: str, steps: int) -> list[float]:
    config = TrainConfig(model=str(model_path), precision=precision, queries_per_step=10, list_size=4,
                         query_max_tokens=16, passage_max_tokens=24, learning_rate=1e-3, warmup_epochs=0,
                         epochs=steps, teacher_temperature=0.1, mask_fraction=0.3)
    trainer = Trainer(config, tiny_examples(), [], tiny_passage_map(), out, show_progress=False)
    return [trainer.step(tiny_examples()).loss for _ in range(steps)]


def test_a_few_bf16_steps_train_as_far_as_fp32(tiny_biencoder_path, tmp_path):
    """Ten optimizer steps in each precision from the same weights: both lower the loss by the
    same amount, to within 5 % of the drop (each step's gradient differs by <= GRADIENT_TOLERANCE)."""
    fp32 = _losses(tiny_biencoder_path, tmp_path / "fp32", "fp32", 10)
    bf16 = _losses(tiny_biencoder_path, tmp_path / "bf16", "bf16", 10)
    drop = fp32[0] - fp32[-1]
    assert drop > 0.1 * fp32[0]  # the steps really train
    for new, reference in zip(bf16, fp32):
        assert abs(new - reference) <= 0.05 * drop


def test_a_student_saved_in_bf16_trains_fp32_master_weights(tiny_biencoder_path, tmp_path):
    """transformers loads a bf16 checkpoint as bf16 (dtype "auto"); the trainer must still keep fp32
    weights and optimizer state, so that its steps equal those from an fp32 copy of the same weights
    (in bf16, an update smaller than 2**-8 of a weight is rounded away)."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    model.to(torch.bfloat16).save(str(tmp_path / "bf16"))
    model.to(torch.float32).save(str(tmp_path / "fp32"))  # the same bf16-rounded values, stored in fp32
    weights = {}
    for name in ("bf16", "fp32"):
        config = TrainConfig(model=str(tmp_path / name), precision="fp32", queries_per_step=4, learning_rate=1e-4)
        trainer = Trainer(config, tiny_examples(), [], tiny_passage_map(), tmp_path / f"run-{name}", show_progress=False)
        assert {p.dtype for p in trainer.model.parameters()} == {torch.float32}
        trainer.step(tiny_examples()[:4])
        weights[name] = trainer.model.state_dict()
    for key, value in weights["fp32"].items():
        assert torch.equal(weights["bf16"][key], value), key
