"""Opening GGUF models: AMX builds load without the extra buffer types, and still generate."""

from __future__ import annotations

import pytest

from corpustune.models import resolve_model
from corpustune.models.gguf import _without_extra_buffer_types, amx_build, open_gguf
from corpustune.models.registry import PACKAGED_MODELS
from corpustune.models.resolve import is_available

llama_cpp = pytest.importorskip("llama_cpp")

AMX_INFO = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_BF16 = 1 | AMX_INT8 = 1 | OPENMP = 1 | REPACK = 1 | "
AVX2_INFO = "CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | OPENMP = 1 | REPACK = 1 | "


def test_only_a_build_with_amx_kernels_counts_as_one():
    assert amx_build(AMX_INFO)
    assert not amx_build(AVX2_INFO)
    assert not amx_build(AMX_INFO.replace("AMX_INT8 = 1", "AMX_INT8 = 0"))


def test_the_guard_turns_extra_buffer_types_off_only_inside_its_block():
    module = llama_cpp.llama.llama_cpp
    assert module.llama_model_default_params().use_extra_bufts
    with _without_extra_buffer_types(llama_cpp):
        assert not module.llama_model_default_params().use_extra_bufts
    assert module.llama_model_default_params().use_extra_bufts
    with pytest.raises(RuntimeError), _without_extra_buffer_types(llama_cpp):
        raise RuntimeError("a failed load")
    assert module.llama_model_default_params().use_extra_bufts


@pytest.mark.skipif(not is_available(PACKAGED_MODELS["smollm2-135m"]), reason="smollm2-135m is not installed")
def test_the_packaged_model_opens_and_decodes_on_this_cpu():
    """On an AMX machine with an AMX build this decode crashed the process before the guard."""
    llm = open_gguf(resolve_model("smollm2-135m"), n_ctx=256, seed=0)
    try:
        out = llm("The capital of France is", max_tokens=4, temperature=0.0)
        assert out["usage"]["completion_tokens"] >= 1
    finally:
        llm.close()
