"""A second process that holds a run folder's lock, as a concurrent corpustune command would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HOLD = """
import sys, time
from corpustune.pipeline.runner import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    sys.stdin.read()
"""


@contextmanager
def lock_held_elsewhere(run_dir: Path) -> Iterator[None]:
    """Hold `run_dir`'s lock in another Python process (through `run_lock`) while the block runs."""
    root = Path(__file__).resolve().parents[1]
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert process.stdout.readline().strip() == "held"
        yield
    finally:
        process.stdin.close()
        process.wait(timeout=60)
