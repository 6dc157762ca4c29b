"""Content hashes for the run folder: settings, inputs and output files -> sha256 hex strings.

A stage's fingerprint is `sha256(canonical JSON of {stage, version, settings, inputs})`, where
`inputs` maps names to hashes of what the stage reads (a corpus, an upstream stage's outputs).
Canonical JSON sorts keys and uses no whitespace, so equal settings always hash equally.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

_CHUNK = 1 << 20


def settings_dict(settings: BaseModel | Mapping[str, Any] | None) -> dict[str, Any]:
    """A pydantic model (or a mapping) as plain JSON-ready data; paths and enums become strings."""
    if settings is None:
        return {}
    if isinstance(settings, BaseModel):
        return settings.model_dump(mode="json")
    return json.loads(json.dumps(dict(settings), default=str))


def canonical_json(data: Any) -> str:
    """Deterministic JSON text: sorted keys, no spaces, no NaN (raises ValueError on NaN/inf)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stage_fingerprint(stage: str, version: str, settings: BaseModel | Mapping[str, Any] | None,
                      inputs: Mapping[str, str]) -> str:
    """sha256 of the stage name, its code version, its settings and its input hashes."""
    payload = {"stage": stage, "version": version, "settings": settings_dict(settings), "inputs": dict(inputs)}
    return sha256_text(canonical_json(payload))


def hash_file(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _is_temporary(name: str) -> bool:
    # Leftovers of `atomic_open` (".name.XXXX.tmp") are not content.
    return name.startswith(".") and name.endswith(".tmp")


def hash_path(path: str | os.PathLike, ignore_names: frozenset[str] = frozenset()) -> str:
    """sha256 of a file, or of a folder as the sorted list of (relative path, file hash) pairs.

    A folder's hash changes when any file is added, removed, renamed or edited; temporary files
    of interrupted atomic writes, and files named in `ignore_names` (at any depth), are left out.
    Raises FileNotFoundError for a missing path.
    """
    root = Path(path)
    if root.is_file():
        return hash_file(root)
    if not root.is_dir():
        raise FileNotFoundError(f"cannot hash {root}: no such file or folder")
    entries = []
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not _is_temporary(p.name)
                       and p.name not in ignore_names):
        entries.append([file.relative_to(root).as_posix(), hash_file(file)])
    return sha256_text(canonical_json(entries))
