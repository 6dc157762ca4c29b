"""Resumable checkpoints: weights, optimizer, scheduler, every RNG and the loop position.

The RNG states are kept per rank (`rng.json` holds `{"ranks": [rank 0's, rank 1's, ...]}`): under
data parallelism each rank draws its own dropout masks on its own device, and a rank whose stream
ran ahead of rank 0's (more gradient-caching chunks, another GPU's generator) resumes exactly only
with its own state.

A checkpoint is a folder `checkpoint-<step>` written under a temporary name and renamed when
complete; the file `latest` (replaced atomically) names the newest one. A run killed at any
moment therefore resumes from a complete checkpoint, and replays the same data order (which
depends only on seed and epoch) from the step after it. Each checkpoint is sealed
(`corpustune.data.sealed`: every file's sha256 and size in `SEAL.json`) and checked before it
is loaded; only the newest is kept, so a damaged one is moved aside and training starts over.

Nothing in a checkpoint can run code when it is loaded, so a run folder copied from elsewhere is
safe to resume: weights are safetensors, the loop position and every RNG state are JSON, and the
optimizer and scheduler states (tensors, numbers, lists and dicts only) are read with
`torch.load(weights_only=True)`, which refuses any other pickled object.
"""

from __future__ import annotations

import json
import logging
import pickle
import random
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpustune.data.atomic import write_json_atomic, write_text_atomic
from corpustune.data.sealed import CORRUPT_SUFFIX, folder_problem, quarantine, seal_folder
from corpustune.errors import InputError

logger = logging.getLogger(__name__)


def rng_state() -> dict[str, Any]:
    """Every RNG's state as plain JSON values (the torch states as lists of their bytes)."""
    version, internal, gauss = random.getstate()
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    return {
        "python": [version, list(internal), gauss],
        "numpy": [kind, keys.tolist(), position, has_gauss, cached_gaussian],
        "torch": torch.get_rng_state().tolist(),
        "cuda": [s.tolist() for s in torch.cuda.get_rng_state_all()] if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned (after a JSON round trip).

    The torch states are rebuilt as CPU byte tensors, the only kind `torch.set_rng_state` and
    `torch.cuda.set_rng_state_all` accept, whatever device the model is on.
    """
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, position, has_gauss, cached_gaussian = state["numpy"]
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), position, has_gauss, cached_gaussian))
    torch.set_rng_state(torch.tensor(state["torch"], dtype=torch.uint8))
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([torch.tensor(s, dtype=torch.uint8) for s in state["cuda"]])


def save_checkpoint(root: Path, model, optimizer, scheduler, loop_state: dict[str, Any],
                    rng_states: list[dict[str, Any]] | None = None) -> Path:
    """Write a complete checkpoint of the loop at `loop_state['global_step']`; keep only the newest.

    `rng_states`: every rank's `rng_state()` in rank order (default: this process's alone)."""
    from safetensors.torch import save_model

    step = int(loop_state["global_step"])
    final = root / f"checkpoint-{step}"
    partial = root / f".checkpoint-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_model(model, str(partial / "model.safetensors"))
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    torch.save(state, partial / "training_state.pt")
    write_json_atomic(partial / "rng.json", {"ranks": rng_states if rng_states is not None else [rng_state()]})
    write_json_atomic(partial / "loop.json", loop_state)
    seal_folder(partial)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    write_text_atomic(root / "latest", final.name + "\n")
    for old in root.glob("checkpoint-*"):
        if old != final and not old.name.endswith(CORRUPT_SUFFIX):  # a damaged one stays for inspection
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    """The newest checkpoint when every file matches the seal written with it; None when there is
    none. A damaged one (truncated weights, edited loop state, a file missing) is moved aside
    with a warning, and training starts again from step 0: never a resume from other weights."""
    pointer = root / "latest"
    if not pointer.exists():
        return None
    name = pointer.read_text(encoding="utf-8", errors="replace").strip()
    folder = root / name
    if not re.fullmatch(r"checkpoint-\d+", name) or not folder.is_dir():
        logger.warning("%s names %r, which is not a checkpoint folder there; training starts again from step 0",
                       pointer, name)
        return None
    problem = folder_problem(folder)
    if problem is not None:
        quarantine(folder, problem, "training starts again from step 0")
        pointer.unlink()
        return None
    return folder


def load_checkpoint(folder: Path, model, optimizer, scheduler, device: torch.device, rank: int = 0) -> dict[str, Any]:
    """Restore weights, optimizer and scheduler (on `device`) and rank `rank`'s RNG states; returns
    the loop state. `folder` is one that `latest_checkpoint` checked against its seal."""
    from safetensors.torch import load_model

    loop = json.loads((folder / "loop.json").read_text())
    rng = json.loads((folder / "rng.json").read_text())
    load_model(model, str(folder / "model.safetensors"), device=str(device))
    path = folder / "training_state.pt"
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except pickle.UnpicklingError as error:
        named = re.search(r"GLOBAL (\S+)", str(error))
        raise InputError(
            f"{path} holds objects other than tensors and plain values{f' ({named[1]})' if named else ''}, "
            f"which could run code when loaded, so it is not loaded; restart the run from scratch "
            f"(`corpustune train --restart`, or delete {path.parent.parent}) if an older corpustune wrote it"
        ) from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    states = rng["ranks"] if "ranks" in rng else [rng]  # older checkpoints: rank 0's state alone
    if rank >= len(states):
        logger.warning("%s holds the RNG states of %d ranks, none for rank %d: it takes rank 0's, so its "
                       "random draws (dropout) do not replay exactly", folder, len(states), rank)
    set_rng_state(states[rank] if rank < len(states) else states[0])
    return loop
