"""What this machine can do: usable CPU cores and whether bf16 arithmetic is native."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

Precision = Literal["auto", "fp32", "bf16"]


def usable_cores() -> int:
    """Cores in this process's CPU affinity set (containers and taskset narrow it), at least 1.

    llama.cpp's own default is half of all logical cores, which leaves one of a small machine's
    two cores idle during token generation (measured here: 3 passages x 6 types of query
    generation took 35.0 s with 1 thread and 28.0 s with 2).
    """
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


SPEED_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_int8")
"""CPU flags that change how fast models run here (reported beside measured speeds)."""


@functools.cache
def cpu_info() -> tuple[str, frozenset[str]]:
    """(CPU model name, its flags) from /proc/cpuinfo; ("unknown", {}) where there is none."""
    name, flags = "unknown", frozenset()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name") and name == "unknown":
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = frozenset(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return name, flags


def cpu_description() -> str:
    """One line for reports of measured speed: model, usable cores and the `SPEED_FLAGS` it has."""
    name, flags = cpu_info()
    present = [flag for flag in SPEED_FLAGS if flag in flags]
    return f"{name}, {usable_cores()} cores, flags: {' '.join(present) or 'none of ' + ' '.join(SPEED_FLAGS)}"


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 dot-product instructions (x86 avx512_bf16 or amx_bf16).

    Without them PyTorch emulates bf16 and gains little or nothing over fp32.
    """
    return bool(cpu_info()[1] & {"avx512_bf16", "amx_bf16"})


def auto_is_bf16(device_type: str, *, cuda_bf16_supported: bool, cpu_native_bf16: bool) -> bool:
    """What precision `auto` means on a device of type `device_type`: True for bf16, False for fp32.

    Pure (the caller measures the hardware), so every case is testable on any machine. A CUDA GPU
    computes in bf16 when it supports it (`torch.cuda.is_bf16_supported()`: Ampere and newer;
    older GPUs lack bf16 kernels). A CPU computes in bf16 when it has native bf16 instructions
    (`cpu_has_native_bf16`); without them PyTorch emulates bf16 and gains nothing over fp32. The
    same holds for inference and for training, where bf16 means autocast: master weights, their
    gradients and the optimizer state stay fp32, and the loss runs on fp32 embeddings. Any other
    device: fp32.
    """
    if device_type == "cuda":
        return cuda_bf16_supported
    return device_type == "cpu" and cpu_native_bf16


def use_bf16(precision: Precision, device) -> bool:
    """Whether to compute in bf16 on `device` (a torch.device or string) of this machine."""
    import torch

    if precision != "auto":
        return precision == "bf16"
    kind = torch.device(device).type
    return auto_is_bf16(
        kind,
        cuda_bf16_supported=kind == "cuda" and torch.cuda.is_bf16_supported(),  # asked only where CUDA is used
        cpu_native_bf16=kind == "cpu" and cpu_has_native_bf16(),
    )


def inference_dtype(precision: Precision, device) -> torch.dtype:
    """The dtype to run a model in for inference on `device` (a torch.device or string).

    `auto` is bf16 where the hardware computes it natively (see `auto_is_bf16`) and fp32 elsewhere.
    """
    import torch

    return torch.bfloat16 if use_bf16(precision, device) else torch.float32


def default_tokens_per_batch(device) -> int:
    """Tokens (batch size x padded length) per inference batch: small on CPUs, where batches of
    a few pairs keep the activations in cache (MiniLM cross-encoder, 400 SciFact pairs, fp32,
    best of 2: 28.2 pairs/s at 2,048 against 23.4 at 8,192), large on GPUs."""
    import torch

    return 32768 if torch.device(device).type == "cuda" else 2048


def default_chunk_tokens(device) -> int:
    """Padded tokens per training encoder chunk for `chunk_tokens: auto` on `device` (a
    torch.device or string): 16,384 on GPUs; 32,768 on CPUs, whose memory is larger. One chunk of
    MiniLM holds about 124 KB of activations per token in bf16 autocast, 164 KB in fp32 (measured
    here: 42,240 tokens in one chunk peaked at 5.7 and 7.3 GB of resident memory), so 32,768
    tokens stay under about 4.5 and 5.8 GB. A laptop step on SciFact (32 lists of 8 at 256 tokens,
    about 250 distinct passages) takes 2 chunks; on a 2-core CPU that costs no time against one
    graph (28.0 s against 27.2-29.0 s a step, AMD EPYC with avx512_bf16, 2026-12-06): the
    re-encoding's forward pass is small beside the backward pass."""
    import torch

    return 16384 if torch.device(device).type == "cuda" else 32768


def chunk_tokens(setting: int | str, device) -> int:
    """The training chunk budget `TrainConfig.chunk_tokens` means on `device`: the number itself,
    or `default_chunk_tokens(device)` for `auto`."""
    return default_chunk_tokens(device) if setting == "auto" else int(setting)


def synchronize(device) -> None:
    """Wait until `device` (a torch.device or string) has finished the work queued on it, so that a
    host clock read next covers that work: CUDA kernels run asynchronously, a CPU's ops do not."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
