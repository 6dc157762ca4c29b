"""Trainer settings that must reach every model it loads, and its precision and chunk budget on a CPU."""

from __future__ import annotations

import pytest
import sentence_transformers
import torch

from corpustune import hardware
from corpustune.parallel import Context
from corpustune.train.config import TrainConfig
from corpustune.train.trainer import Trainer
from tests.train_fixtures import (
    one_thread,  # noqa: F401  (fixture used by pytestmark)
    tiny_examples,
    tiny_passage_map,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_config(model, **settings) -> TrainConfig:
    return TrainConfig(model=str(model), epochs=1, queries_per_step=10, query_max_tokens=16, passage_max_tokens=24,
                       teacher_temperature=0.1, **settings)


def test_the_best_model_is_reloaded_with_trust_remote_code(tiny_biencoder_path, tmp_path, monkeypatch):
    real = sentence_transformers.SentenceTransformer
    loads = []

    def recording(path, *args, **options):
        loads.append((str(path), options.get("trust_remote_code", False)))
        return real(path, *args, **options)

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", recording)
    config = tiny_config(tiny_biencoder_path, trust_remote_code=True)
    Trainer(config, tiny_examples(), [], tiny_passage_map(), tmp_path / "train", tmp_path / "model",
            show_progress=False).train()
    assert loads[-1] == (str(tmp_path / "train" / "best"), True)  # the reload of the best model
    assert all(trusted for _, trusted in loads)


@pytest.mark.parametrize("native", [False, True])
def test_auto_precision_trains_in_bf16_only_on_a_cpu_with_native_bf16(tiny_biencoder_path, tmp_path, monkeypatch,
                                                                      native):
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: native)
    trainer = Trainer(tiny_config(tiny_biencoder_path), tiny_examples(), [], tiny_passage_map(), tmp_path / "train",
                      context=Context(), show_progress=False)
    assert trainer.encoder.autocast_dtype == (torch.bfloat16 if native else None)
    assert trainer.encoder.chunk_tokens == hardware.default_chunk_tokens("cpu")
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights stay fp32
