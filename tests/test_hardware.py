"""Precision `auto`: one decision for teachers and training, testable without a GPU."""

from __future__ import annotations

import pytest
import torch

from corpustune import hardware
from corpustune.hardware import auto_is_bf16, use_bf16


@pytest.mark.parametrize(
    ("device_type", "cuda_bf16", "cpu_bf16", "training", "expected"),
    [
        ("cuda", True, False, True, True),  # Ampere or newer trains in bf16
        ("cuda", True, False, False, True),
        ("cuda", False, True, True, False),  # a GPU without bf16 (V100, T4) trains in fp32
        ("cuda", False, True, False, False),
        ("cpu", False, True, False, True),  # native bf16 instructions: inference in bf16
        ("cpu", False, True, True, False),  # but CPU training stays fp32
        ("cpu", True, False, False, False),
        ("mps", True, True, False, False),
    ],
)
def test_auto_means_bf16_only_where_the_device_computes_it(device_type, cuda_bf16, cpu_bf16, training, expected):
    decided = auto_is_bf16(device_type, cuda_bf16_supported=cuda_bf16, cpu_native_bf16=cpu_bf16, training=training)
    assert decided is expected


def test_training_on_a_gpu_asks_whether_it_supports_bf16(monkeypatch):
    for supported in (False, True):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda supported=supported: supported)
        assert use_bf16("auto", torch.device("cuda:1"), training=True) is supported
        assert use_bf16("auto", "cuda") is supported


def test_explicit_precision_wins_and_cpus_never_ask_the_gpu(monkeypatch):
    def no_gpu_here():
        raise AssertionError("asked CUDA about a CPU device")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", no_gpu_here)
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert use_bf16("auto", "cpu", training=True) is False
    assert use_bf16("auto", "cpu") is True
    assert use_bf16("bf16", "cpu", training=True) is True
    assert use_bf16("fp32", "cuda", training=True) is False
    assert hardware.inference_dtype("auto", "cpu") == torch.bfloat16
