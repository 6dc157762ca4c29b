"""Open a GGUF model with llama-cpp-python (extra `llamacpp`), safely on every CPU this runs on."""

from __future__ import annotations

import contextlib

from corpustune.errors import require_extra
from corpustune.hardware import usable_cores


def amx_build(system_info: str) -> bool:
    """Whether a llama.cpp build whose `llama_print_system_info()` is `system_info` multiplies with
    its AMX kernels (it prints `AMX_INT8 = 1` when built for, and run on, a CPU with AMX)."""
    return "AMX_INT8 = 1" in system_info


@contextlib.contextmanager
def _without_extra_buffer_types(llama_cpp):
    """Make the `Llama` built inside this block load its weights without ggml's extra buffer types
    (weight repacking, the AMX buffer): `Llama` takes no argument for `use_extra_bufts`, so the
    default parameters it starts from are wrapped for the duration of the block."""
    module = llama_cpp.llama.llama_cpp  # the binding module that `Llama` reads its defaults from
    defaults = module.llama_model_default_params

    def without_extra():
        params = defaults()
        params.use_extra_bufts = False
        return params

    module.llama_model_default_params = without_extra
    try:
        yield
    finally:
        module.llama_model_default_params = defaults


def open_gguf(path: str, *, n_threads: int | None = None, **options):
    """A `llama_cpp.Llama` for the GGUF file at `path` on all usable cores (`options` go to `Llama`).

    A llama.cpp built with AMX kernels crashes with a segmentation fault in the first decode on
    some Sapphire Rapids machines (seen here with llama-cpp-python 0.3.36 and every packaged GGUF;
    llama.cpp issue 20824): such a build loads the weights without the AMX buffer. `setup.sh`
    builds llama.cpp without AMX, where repacked weights stay available.
    """
    llama_cpp = require_extra("llama_cpp", "llamacpp")
    guard = (_without_extra_buffer_types(llama_cpp) if amx_build(llama_cpp.llama_print_system_info().decode())
             else contextlib.nullcontext())
    with guard:
        return llama_cpp.Llama(model_path=path, n_threads=n_threads or usable_cores(), verbose=False, **options)
