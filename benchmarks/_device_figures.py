"""Pure arithmetic of the device check (benchmarks/gpu_check.py): bf16 peaks, model FLOPs of a
training step, model FLOP utilization, and the comparison of two sets of weights.

Model FLOPs of a training step (what MFU divides by the peak), for an encoder with `N` matrix
parameters (every parameter outside the embedding tables: a lookup does no multiply-adds),
`L` layers of width `d`, over texts of `n_t` real tokens each (padding excluded: it is not
useful work):

    forward(text)  = 2 N n_t + 4 L d n_t^2        (weights: one multiply-add per parameter and
                                                    token; attention: Q K^T and A V, n_t^2 d each)
    step           = (3 + g) * sum over the step's query texts and distinct passage texts of forward

Backward costs twice the forward (3 = forward + backward); gradient caching (g = 1) encodes every
text once more without a graph before the graphed pass. Token counts are those after the prompt and
truncation to the side's maximum length. Loss, optimizer and softmax FLOPs are left out (a
fraction of a percent for a 20-passage list).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

# Dense (no sparsity) bf16 tensor-core peaks from the vendor's datasheets, TFLOP/s, matched in order
# against `torch.cuda.get_device_name()` (e.g. "NVIDIA H100 80GB HBM3" is the SXM part).
BF16_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.4),  # SXM5
    ("H200", 989.4),  # the H100 SXM's compute with more, faster memory
    ("GH200", 989.4),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)


def bf16_peak_tflops(device_name: str) -> float | None:
    """Dense bf16 peak of the named GPU in TFLOP/s, or None when the table does not list it."""
    for key, peak in BF16_PEAK_TFLOPS:
        if key in device_name:
            return peak
    return None


@dataclass(frozen=True)
class EncoderShape:
    """What the FLOP count needs of an encoder."""

    matrix_parameters: int  # every parameter outside nn.Embedding tables
    layers: int
    width: int


def encoder_shape(transformer: torch.nn.Module, layers: int, width: int) -> EncoderShape:
    """The `EncoderShape` of `transformer` (e.g. a sentence-transformers model's backbone)."""
    embedded = {id(p) for m in transformer.modules() if isinstance(m, torch.nn.Embedding) for p in m.parameters()}
    matrix = sum(p.numel() for p in transformer.parameters() if id(p) not in embedded)
    return EncoderShape(matrix, layers, width)


def forward_flops(lengths: Sequence[int] | np.ndarray, shape: EncoderShape) -> float:
    """FLOPs of one forward pass over texts of `lengths` real tokens (formula in the module docstring)."""
    n = np.asarray(lengths, dtype=np.float64)  # (texts,)
    return float((2.0 * shape.matrix_parameters * n + 4.0 * shape.layers * shape.width * n * n).sum())


def step_flops(lengths: Sequence[int] | np.ndarray, shape: EncoderShape, *, grad_cache: bool) -> float:
    """Model FLOPs of one training step over the texts it encodes: (3 + grad_cache) forward passes."""
    return (3.0 + float(grad_cache)) * forward_flops(lengths, shape)


def utilization(flops: float, seconds: float, peak_tflops: float | None) -> float | None:
    """Model FLOP utilization: achieved FLOP/s over the peak (a fraction), None without a peak."""
    if peak_tflops is None or seconds <= 0:
        return None
    return flops / seconds / (peak_tflops * 1e12)


@dataclass(frozen=True)
class WeightDifference:
    """How far two sets of weights are apart, over every tensor both hold (compared in float64)."""

    max_abs: float
    relative_l2: float  # ||a - b|| / ||a|| over all tensors together
    tensors: int

    def within(self, tolerance: float) -> bool:
        """True when the relative L2 difference is at most `tolerance` (0: bit for bit)."""
        return self.relative_l2 <= tolerance


def weight_difference(a: Mapping[str, torch.Tensor], b: Mapping[str, torch.Tensor]) -> WeightDifference:
    """Compare two state dicts; a name or shape that only one of them has is an error."""
    if a.keys() != b.keys():
        raise ValueError(f"the weights name different tensors: {sorted(a.keys() ^ b.keys())[:5]}")
    max_abs, squared_difference, squared_norm = 0.0, 0.0, 0.0
    for name, left in a.items():
        right = b[name]
        if left.shape != right.shape:
            raise ValueError(f"tensor {name}: shape {tuple(left.shape)} against {tuple(right.shape)}")
        x, y = left.detach().double().cpu(), right.detach().double().cpu()
        difference = x - y
        if difference.numel():
            max_abs = max(max_abs, float(difference.abs().max()))
        squared_difference += float((difference * difference).sum())
        squared_norm += float((x * x).sum())
    relative = (squared_difference**0.5) / (squared_norm**0.5) if squared_norm else squared_difference**0.5
    return WeightDifference(max_abs, relative, len(a))
