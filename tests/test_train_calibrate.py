"""`teacher_temperature: auto`: the teacher made as sharp as the untrained student."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.special import softmax
from scipy.stats import entropy
from sentence_transformers import SentenceTransformer

from corpustune.train.calibrate import matched_teacher_temperature, mean_softmax_entropy
from corpustune.train.config import TrainConfig
from corpustune.train.losses import CombinedLoss
from corpustune.train.trainer import Trainer
from tests.train_fixtures import (
    one_thread,  # noqa: F401  (fixture used by pytestmark)
    tiny_examples,
    tiny_passage_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _entropy_reference(logits: np.ndarray, lengths: list[int]) -> float:
    """Mean entropy with scipy, row by row over each row's first `length` slots."""
    return float(np.mean([entropy(softmax(row[:n])) for row, n in zip(logits, lengths)]))


def _lists(seed: int):
    rng = np.random.default_rng(seed)
    lengths = [int(n) for n in rng.integers(3, 9, size=40)]
    valid = np.arange(8)[None, :] < np.array(lengths)[:, None]  # (40, 8)
    cosines = rng.uniform(0.1, 0.8, size=(40, 8))
    teacher = rng.uniform(0.0, 1.0, size=(40, 8))
    # padding slots hold junk that must not count
    return np.where(valid, cosines, 5.0), np.where(valid, teacher, -7.0), valid, lengths


@pytest.mark.parametrize("seed", [0, 1])
def test_entropy_matches_scipy_and_ignores_padding(seed):
    cosines, _, valid, lengths = _lists(seed)
    expected = _entropy_reference(cosines / 0.05, lengths)
    assert mean_softmax_entropy(cosines / 0.05, valid) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matched_temperature_equals_a_grid_search(seed):
    cosines, teacher, valid, lengths = _lists(seed)
    found = matched_teacher_temperature(cosines, teacher, valid, 0.05)
    target = _entropy_reference(cosines / 0.05, lengths)
    grid = np.exp(np.linspace(np.log(0.01), np.log(10.0), 20001))
    gaps = [abs(_entropy_reference(teacher / t, lengths) - target) for t in grid[::20]]
    coarse = grid[::20][int(np.argmin(gaps))]
    fine = grid[(grid > coarse / 1.02) & (grid < coarse * 1.02)]
    reference = fine[int(np.argmin([abs(_entropy_reference(teacher / t, lengths) - target) for t in fine]))]
    assert found == pytest.approx(reference, rel=1e-3)
    assert _entropy_reference(teacher / found, lengths) == pytest.approx(target, abs=1e-6)


def test_a_sharper_student_gets_a_sharper_teacher():
    cosines, teacher, valid, _ = _lists(3)
    soft = matched_teacher_temperature(cosines, teacher, valid, 0.1)
    sharp = matched_teacher_temperature(cosines, teacher, valid, 0.02)
    assert sharp < soft / 2


def test_trainer_calibrates_on_the_untrained_student(tiny_biencoder_path, tmp_path):
    examples = tiny_examples()
    config = TrainConfig(model=str(tiny_biencoder_path), teacher_temperature="auto", epochs=1, queries_per_step=5,
                         query_max_tokens=16, passage_max_tokens=24, precision="fp32")  # as the fp32 reference
    trainer = Trainer(config, examples, [], tiny_passage_map(), tmp_path / "train", show_progress=False)
    loss = trainer.prepare_loss()
    # independent path: SentenceTransformer.encode of each list, one list at a time
    model = SentenceTransformer(str(tiny_biencoder_path), device="cpu")
    model.max_seq_length = 24
    texts = {p.id: p.full_text() for p in tiny_passage_map().values()}
    cosines = np.stack([
        model.encode([texts[p] for p in e.passage_ids], normalize_embeddings=True)
        @ model.encode(e.query_text, normalize_embeddings=True)
        for e in examples
    ])  # (10, 4): every tiny list has 4 passages
    teacher = np.array([e.teacher_scores for e in examples])
    valid = np.ones_like(teacher, dtype=bool)
    expected = matched_teacher_temperature(cosines, teacher, valid, config.student_temperature)
    assert trainer.state.teacher_temperature == pytest.approx(expected, rel=1e-4)
    assert loss.listwise.teacher_temperature == trainer.state.teacher_temperature
    assert trainer.model.training  # calibration leaves the student in training mode


def test_infonce_arm_and_fixed_temperature_do_not_calibrate(tiny_biencoder_path, tmp_path, monkeypatch):
    def refuse(self):
        raise AssertionError("calibrated although no listwise term uses it")

    monkeypatch.setattr(Trainer, "_calibrate_teacher_temperature", refuse)
    for settings in ({"teacher_temperature": "auto", "loss": "infonce"}, {"teacher_temperature": 0.2}):
        config = TrainConfig(model=str(tiny_biencoder_path), epochs=1, **settings)
        trainer = Trainer(config, tiny_examples(), [], tiny_passage_map(), tmp_path / "train", show_progress=False)
        loss = trainer.prepare_loss()
        assert trainer.state.teacher_temperature is None
        assert (loss.listwise is None) == (config.loss == "infonce")
    with pytest.raises(ValueError, match="teacher temperature"):
        CombinedLoss.from_config(TrainConfig(teacher_temperature="auto"))


def test_config_reads_auto_and_rejects_other_words():
    assert TrainConfig(teacher_temperature="auto").teacher_temperature == "auto"
    assert TrainConfig(teacher_temperature=0.25).teacher_temperature == 0.25
    for bad in ("warm", 0.0, -1.0):
        with pytest.raises(ValueError):
            TrainConfig(teacher_temperature=bad)


def test_calibration_encodes_without_gradients(tiny_biencoder_path, tmp_path):
    config = TrainConfig(model=str(tiny_biencoder_path), teacher_temperature="auto", epochs=1)
    trainer = Trainer(config, tiny_examples(), [], tiny_passage_map(), tmp_path / "train", show_progress=False)
    trainer.prepare_loss()
    assert all(p.grad is None for p in trainer.model.parameters())
    assert torch.is_grad_enabled()
