"""Precision `auto`: one decision for teachers and training, testable without a GPU."""

from __future__ import annotations

import pytest
import torch

from corpustune import hardware
from corpustune.hardware import auto_is_bf16, use_bf16


@pytest.mark.parametrize(
    ("device_type", "cuda_bf16", "cpu_bf16", "expected"),
    [
        ("cuda", True, False, True),  # Ampere or newer: bf16
        ("cuda", False, True, False),  # a GPU without bf16 (V100, T4): fp32
        ("cpu", False, True, True),  # native bf16 instructions (avx512_bf16, AMX): bf16, training included
        ("cpu", True, False, False),  # AVX2-only CPUs emulate bf16: fp32
        ("mps", True, True, False),
    ],
)
def test_auto_means_bf16_only_where_the_device_computes_it(device_type, cuda_bf16, cpu_bf16, expected):
    decided = auto_is_bf16(device_type, cuda_bf16_supported=cuda_bf16, cpu_native_bf16=cpu_bf16)
    assert decided is expected


def test_training_on_a_gpu_asks_whether_it_supports_bf16(monkeypatch):
    for supported in (False, True):
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda supported=supported: supported)
        assert use_bf16("auto", torch.device("cuda:1")) is supported
        assert use_bf16("auto", "cuda") is supported


def test_explicit_precision_wins_and_cpus_never_ask_the_gpu(monkeypatch):
    def no_gpu_here():
        raise AssertionError("asked CUDA about a CPU device")

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", no_gpu_here)
    for native in (False, True):
        monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda native=native: native)
        assert use_bf16("auto", "cpu") is native
        assert use_bf16("bf16", "cpu") is True
        assert use_bf16("fp32", "cpu") is False
    assert use_bf16("fp32", "cuda") is False
    assert hardware.inference_dtype("auto", "cpu") == torch.bfloat16


def test_chunk_budget_auto_is_larger_on_cpus():
    assert hardware.default_chunk_tokens("cpu") == 32768
    assert hardware.default_chunk_tokens(torch.device("cuda:0")) == 16384
    assert hardware.chunk_tokens("auto", "cpu") == 32768 and hardware.chunk_tokens(1234, "cuda") == 1234
