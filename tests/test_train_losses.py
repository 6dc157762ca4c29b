"""Losses against an independent NumPy reference (float64): values, gradients and masking."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from corpustune.train.batching import Example, make_batch
from corpustune.train.losses import CombinedLoss, false_negative_mask, infonce, listwise_kl


def np_log_softmax(x: np.ndarray) -> np.ndarray:
    m = x.max()
    return x - m - np.log(np.exp(x - m).sum())


def np_listwise(scores, teacher, lengths, tau_s, tau_t):
    """Value and d value / d scores, looping over queries; padding beyond each length ignored."""
    total, grad = 0.0, np.zeros_like(scores)
    n = len(lengths)
    for q, length in enumerate(lengths):
        log_q = np_log_softmax(scores[q, :length] / tau_s)
        log_p = np_log_softmax(teacher[q, :length] / tau_t)
        p = np.exp(log_p)
        total += float((p * (log_p - log_q)).sum())
        grad[q, :length] = (np.exp(log_q) - p) / tau_s / n
    return total / n, grad


def np_mask(lists, teachers, positives, num_passages, fraction):
    """mask[q, p] by document id: p is in q's list with a score > fraction x q's top score."""
    mask = np.zeros((len(lists), num_passages), dtype=bool)
    for q, (ids, scores) in enumerate(zip(lists, teachers)):
        top = max(scores)
        for pid, score in zip(ids, scores):
            if score > fraction * top:
                mask[q, pid] = True
        mask[q, positives[q]] = False
    return mask


def np_infonce(scores, positives, mask, tau):
    n = scores.shape[0]
    total, grad = 0.0, np.zeros_like(scores)
    for q in range(n):
        keep = ~mask[q]
        logits = scores[q, keep] / tau
        log_z = np.log(np.exp(logits - logits.max()).sum()) + logits.max()
        total += log_z - scores[q, positives[q]] / tau
        soft = np.zeros(scores.shape[1])
        soft[keep] = np.exp(logits - log_z)
        soft[positives[q]] -= 1.0
        grad[q] = soft / tau / n
    return total / n, grad


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_listwise_value_and_gradient_match_numpy(seed):
    rng = np.random.default_rng(seed)
    q, width = 5, 7
    lengths = rng.integers(2, width + 1, size=q)
    scores = rng.uniform(-1, 1, size=(q, width))
    teacher = rng.uniform(0, 1, size=(q, width))
    valid = np.arange(width)[None, :] < lengths[:, None]
    expected, expected_grad = np_listwise(scores, teacher, lengths, 0.05, 0.3)
    s = torch.tensor(scores, requires_grad=True)
    value = listwise_kl(s, torch.tensor(teacher), torch.tensor(valid), student_temperature=0.05, teacher_temperature=0.3)
    value.backward()
    assert value.item() == pytest.approx(expected, rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(s.grad.numpy(), expected_grad, rtol=1e-10, atol=1e-12)


def test_listwise_is_zero_when_student_matches_teacher_and_positive_otherwise():
    teacher = torch.tensor([[1.0, 0.5, 0.0]], dtype=torch.float64)
    valid = torch.ones(1, 3, dtype=torch.bool)
    same = teacher * 0.05 / 0.3  # student logits equal teacher logits
    assert listwise_kl(same, teacher, valid).item() == pytest.approx(0.0, abs=1e-12)
    assert listwise_kl(same.flip(-1), teacher, valid).item() > 0.1


def test_mask_matches_numpy_by_document_id():
    rng = np.random.default_rng(5)
    num_passages = 9
    lists = [[0, 3, 4, 5], [1, 4, 0, 6], [2, 7, 8, 3], [0, 2, 5, 1]]  # shared ids and a shared positive (q0, q3)
    teachers = [list(rng.uniform(0, 1, 4)) for _ in lists]
    teachers[0][1] = 0.99 * max(teachers[0])  # d3 suspicious for q0, and listed by q2 too
    teachers[1][2] = 1.5  # q1's list holds q0's positive d0 with the top score: masked for q1
    teachers[2][0] = 0.1  # the positive of q2 is not its top: it still stays
    positives = [ids[0] for ids in lists]
    expected = np_mask(lists, teachers, positives, num_passages, 0.6)
    got = false_negative_mask(
        torch.tensor(lists), torch.tensor(teachers, dtype=torch.float64), torch.ones(4, 4, dtype=torch.bool),
        torch.tensor(positives), num_passages, 0.6,
    )
    np.testing.assert_array_equal(got.numpy(), expected)
    assert got[1, 0] and not got[0, 0] and not got[3, 0]
    assert got[0, 3] and not got[2, 2]


def test_padding_slots_never_mask():
    list_index = torch.tensor([[0, 1, 0, 0]])  # two padding slots pointing at the positive
    teacher = torch.tensor([[1.0, 0.9, 0.0, 0.0]])
    valid = torch.tensor([[True, True, False, False]])
    mask = false_negative_mask(list_index, teacher, valid, torch.tensor([0]), 3, 0.6)
    assert mask.tolist() == [[False, True, False]]


@pytest.mark.parametrize("seed", [0, 1])
def test_infonce_value_and_gradient_match_numpy(seed):
    rng = np.random.default_rng(seed)
    q, p = 4, 11
    scores = rng.uniform(-1, 1, size=(q, p))
    positives = rng.integers(0, p, size=q)
    mask = rng.uniform(size=(q, p)) < 0.3
    mask[np.arange(q), positives] = False
    expected, expected_grad = np_infonce(scores, positives, mask, 0.01)
    s = torch.tensor(scores, requires_grad=True)
    value = infonce(s, torch.tensor(positives), torch.tensor(mask), temperature=0.01)
    value.backward()
    assert value.item() == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(s.grad.numpy(), expected_grad, rtol=1e-9, atol=1e-12)
    assert np.all(s.grad.numpy()[mask] == 0)


def test_combined_module_matches_numpy_on_embeddings():
    """The whole loss from embeddings and a batch plan vs a NumPy computation of the same recipe."""
    rng = np.random.default_rng(3)
    examples = [
        Example("q0", "a", "d0", ("d0", "d1", "d2"), (1.0, 0.7, 0.1)),
        Example("q1", "b", "d3", ("d3", "d1", "d0", "d4"), (0.9, 0.2, 0.8, 0.0)),
        Example("q2", "c", "d0", ("d0", "d4"), (1.0, 0.3)),
    ]
    batch = make_batch(examples)
    assert batch.passage_ids == ["d0", "d1", "d2", "d3", "d4"]
    dim = 6
    queries = rng.normal(size=(3, dim))
    passages = rng.normal(size=(5, dim))
    qn = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    pn = passages / np.linalg.norm(passages, axis=1, keepdims=True)
    cos = qn @ pn.T
    column = {pid: i for i, pid in enumerate(batch.passage_ids)}
    lists = [[column[p] for p in e.passage_ids] for e in examples]
    width = max(map(len, lists))
    student = np.zeros((3, width))
    teacher = np.zeros((3, width))
    for q, ids in enumerate(lists):
        student[q, : len(ids)] = cos[q, ids]
        teacher[q, : len(ids)] = batch.teacher_scores[q, : len(ids)].double().numpy()
    listwise, _ = np_listwise(student, teacher, [len(ids) for ids in lists], 0.05, 0.3)
    positives = [ids[0] for ids in lists]
    mask = np_mask(lists, [t[: len(ids)] for t, ids in zip(teacher, lists)], positives, 5, 0.6)
    nce, _ = np_infonce(cos, positives, mask, 0.01)
    loss = CombinedLoss(1.0, 0.1)
    query_t = torch.tensor(queries, requires_grad=True)
    passage_t = torch.tensor(passages, requires_grad=True)
    args = (batch.list_index, batch.teacher_scores.double(), batch.valid, batch.positive_index)
    parts = loss(query_t, passage_t, *args)
    assert parts.listwise.item() == pytest.approx(listwise, rel=1e-10)
    assert parts.infonce.item() == pytest.approx(nce, rel=1e-10)
    assert parts.total.item() == pytest.approx(listwise + 0.1 * nce, rel=1e-10)
    # gradients through normalization, gather and masking, against finite differences
    assert torch.autograd.gradcheck(lambda a, b: loss(a, b, *args).total, (query_t, passage_t), eps=1e-6, atol=1e-5)


def test_arms_drop_the_other_term():
    from corpustune.train.config import TrainConfig

    assert TrainConfig(loss="listwise").loss_weights() == (1.0, 0.0)
    assert TrainConfig(loss="infonce").loss_weights() == (0.0, 1.0)
    assert TrainConfig().loss_weights() == (1.0, 0.1)
    parts = CombinedLoss.from_config(TrainConfig(loss="listwise"))(
        torch.randn(1, 4), torch.randn(2, 4), torch.tensor([[0, 1]]), torch.tensor([[1.0, 0.2]]),
        torch.ones(1, 2, dtype=torch.bool), torch.tensor([0]),
    )
    assert parts.infonce is None and parts.total.item() == pytest.approx(parts.listwise.item())
