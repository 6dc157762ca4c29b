"""Resumable checkpoints: weights, optimizer, scheduler, every RNG and the loop position.

A checkpoint is a folder `checkpoint-<step>` written under a temporary name and renamed when
complete; the file `latest` (replaced atomically) names the newest one. A run killed at any
moment therefore resumes from a complete checkpoint, and replays the same data order (which
depends only on seed and epoch) from the step after it.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from corpustune.data.atomic import write_json_atomic, write_text_atomic


def rng_state() -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if state["cuda"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(root: Path, model, optimizer, scheduler, loop_state: dict[str, Any]) -> Path:
    """Write a complete checkpoint of the loop at `loop_state['global_step']`; keep only the newest."""
    from safetensors.torch import save_model

    step = int(loop_state["global_step"])
    final = root / f"checkpoint-{step}"
    partial = root / f".checkpoint-{step}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    save_model(model, str(partial / "model.safetensors"))
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()},
        partial / "training_state.pt",
    )
    write_json_atomic(partial / "loop.json", loop_state)
    shutil.rmtree(final, ignore_errors=True)
    partial.rename(final)
    write_text_atomic(root / "latest", final.name + "\n")
    for old in root.glob("checkpoint-*"):
        if old != final:
            shutil.rmtree(old, ignore_errors=True)
    return final


def latest_checkpoint(root: Path) -> Path | None:
    pointer = root / "latest"
    if not pointer.exists():
        return None
    folder = root / pointer.read_text().strip()
    return folder if (folder / "loop.json").exists() else None


def load_checkpoint(folder: Path, model, optimizer, scheduler, device: torch.device) -> dict[str, Any]:
    """Restore weights, optimizer, scheduler and RNG; returns the loop state."""
    from safetensors.torch import load_model

    load_model(model, str(folder / "model.safetensors"), device=str(device))
    state = torch.load(folder / "training_state.pt", map_location=device, weights_only=False)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    set_rng_state(state["rng"])
    return json.loads((folder / "loop.json").read_text())
