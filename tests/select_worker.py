"""Subprocess for the sharded-selection test: under torchrun, every rank runs the select stage of
a run folder with the process group as its context (rank 0 writes); argv: run folder, config JSON."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from corpustune.config import RunConfig
from corpustune.evaluate.publish import select_run
from corpustune.parallel import init_distributed, shutdown_distributed
from tests.test_select import FILLER, TINY_PASSAGES


def main() -> None:
    torch.set_num_threads(1)
    run, config = Path(sys.argv[1]), RunConfig.model_validate_json(Path(sys.argv[2]).read_text())
    context = init_distributed("cpu")
    select_run(run, TINY_PASSAGES + FILLER, config, context)
    shutdown_distributed()


if __name__ == "__main__":
    main()
