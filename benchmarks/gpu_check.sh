#!/usr/bin/env bash
# Run benchmarks/gpu_check.py on the GPU machine: install the carried wheels (.whl/) beside the
# image's packages, put the repository on the path, and keep the whole log under $OUT.
#   device run, carry [".gpucheck", ".whl"]:  bash benchmarks/gpu_check.sh [check options]
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export PYTHONPATH=$PWD
if compgen -G ".whl/*.whl" >/dev/null; then
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH=$PWD:/tmp/site
fi
export PYTHONUNBUFFERED=1
# cuBLAS is deterministic only with a fixed workspace; the resume check turns deterministic algorithms on
export CUBLAS_WORKSPACE_CONFIG=${CUBLAS_WORKSPACE_CONFIG:-:4096:8}
out=${OUT:-/tmp/gpu-check-out}
mkdir -p "$out"
"$python" benchmarks/gpu_check.py check --out "$out" "$@" 2>&1 | tee "$out/gpu_check.log"
